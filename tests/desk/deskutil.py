"""Talking to the shift desk of a running gateway: calls with a bearer, users, PDFs to text."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from tests.gatewayutil import Client

PASSWORD = "password-123"


async def call(client: Client, method: str, path: str, token: str | None, status: int, **kwargs: Any) -> Any:
    """One request; asserts the status (and problem+json for errors); the JSON body or the bytes."""
    headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
    async with client.http.request(method, client.url(path), headers=headers, **kwargs) as resp:
        if resp.content_type in ("application/json", "application/problem+json"):
            body = await resp.json(content_type=None)
        else:
            body = await resp.read()
        assert resp.status == status, (method, path, resp.status, body)
        if status >= 400:
            assert resp.content_type == "application/problem+json", resp.content_type
        return body


async def people(client: Client, **roles: str) -> dict[str, str]:
    """Create users name -> role and sign each in: name -> bearer token."""
    services = client.gateway.services
    assert services is not None
    for name, role in roles.items():
        await services.users.add(name, role, PASSWORD)
    return {name: await client.sign_in(name, PASSWORD) for name in roles}


async def log_entries(client: Client, token: str, action: str) -> list[dict[str, Any]]:
    """Every access-log entry of `action`, oldest first."""
    out: list[dict[str, Any]] = []
    after = -1
    while True:
        body = await client.get_json(f"/api/v1/access-log?after={after}&limit=1000&action={action}", token)
        out += body["entries"]
        if body["next_after"] is None:
            return out
        after = body["next_after"]


async def pdf_text(pdf: bytes, tmp_path: Path, name: str = "report") -> str:
    """The text of a PDF as poppler's pdftotext reads it (and page 1 rendered to PNG by pdftoppm)."""
    assert pdf.startswith(b"%PDF-"), pdf[:20]
    path = tmp_path / f"{name}.pdf"
    await asyncio.to_thread(path.write_bytes, pdf)
    for tool in ("pdftotext", "pdftoppm"):
        assert shutil.which(tool), f"{tool} missing (Debian package poppler-utils; scripts/test installs it)"
    render = await asyncio.create_subprocess_exec("pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", str(path),
                                                  str(tmp_path / name))
    assert await render.wait() == 0
    assert await asyncio.to_thread(lambda: list(tmp_path.glob(f"{name}*.png"))), "pdftoppm wrote no page"
    text = await asyncio.create_subprocess_exec("pdftotext", "-layout", str(path), "-",
                                                stdout=asyncio.subprocess.PIPE)
    out, _ = await text.communicate()
    assert text.returncode == 0
    return out.decode()
