"""Headless Debian Chromium driven over the DevTools protocol (aiohttp WebSocket; no browser download)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    # Host candidates as IP addresses, not mDNS names: the test peer is on this machine.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--remote-debugging-port=0",
]


class Page:
    """One tab: evaluate JavaScript, navigate, take screenshots."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        #: JavaScript exceptions and console errors seen so far (after `Runtime.enable`).
        self.errors: list[str] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        await self._ws.send_json({"id": msg_id, "method": method, "params": params})
        while True:
            msg = await self._ws.receive_json(timeout=30)
            self._note_event(msg)
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})  # type: ignore[no-any-return]

    def _note_event(self, msg: dict[str, Any]) -> None:
        if msg.get("method") == "Runtime.exceptionThrown":
            details = msg["params"]["exceptionDetails"]
            self.errors.append(str(details.get("exception", {}).get("description") or details.get("text")))
        elif msg.get("method") == "Log.entryAdded" and msg["params"]["entry"].get("source") in ("security", "javascript"):
            # Content-Security-Policy refusals (a page reaching outside) and script errors; HTTP error
            # statuses (source "network") are expected where a test asks for a refusal.
            self.errors.append(str(msg["params"]["entry"].get("text")))
        elif msg.get("method") == "Runtime.consoleAPICalled" and msg["params"].get("type") == "error":
            self.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in msg["params"]["args"]))

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(json.dumps(result["exceptionDetails"])[:500])
        return result["result"].get("value")

    async def goto(self, url: str) -> None:
        await self.send("Page.enable")
        await self.send("Runtime.enable")
        await self.send("Log.enable")
        await self.send("Page.navigate", url=url)
        for _ in range(100):
            if await self.evaluate("document.readyState") == "complete":
                return
            await asyncio.sleep(0.1)

    async def wait_for(self, expression: str, within_s: float = 20.0) -> Any:
        """Evaluate `expression` until it is truthy and return that value; TimeoutError after `within_s`."""
        deadline = time.monotonic() + within_s
        for _ in itertools.count():
            if value := await self.evaluate(expression):
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"not true within {within_s} s: {expression[:300]}")
            await asyncio.sleep(0.25)
        raise AssertionError("unreachable")

    async def set_files(self, selector: str, *paths: Path) -> None:
        """Choose files for an <input type=file> (what a user does in the file dialog)."""
        root = await self.send("DOM.getDocument")
        node = await self.send("DOM.querySelector", nodeId=root["root"]["nodeId"], selector=selector)
        await self.send("DOM.setFileInputFiles", nodeId=node["nodeId"], files=[str(p) for p in paths])

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(_write, path, base64.b64decode(shot["data"]))


@contextlib.asynccontextmanager
async def chromium(width: int = 1280, height: int = 800, flags: tuple[str, ...] = ()) -> AsyncIterator[Page]:
    """A headless Chromium with one blank tab (and `flags` besides the usual); killed on the way out."""
    profile = tempfile.mkdtemp(prefix="pantau-chromium-")
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, *FLAGS, *flags, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank",
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        port = None
        async with asyncio.timeout(30):
            while port is None:
                line = (await proc.stderr.readline()).decode(errors="replace")
                if not line:
                    raise RuntimeError("chromium exited before listening")
                if match := re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line):
                    port = int(match.group(1))
        drain = asyncio.create_task(_drain(proc.stderr))
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                    targets = await resp.json()
                page = next(t for t in targets if t["type"] == "page")
                async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=64 * 1024 * 1024) as ws:
                    yield Page(ws)
        finally:
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def _drain(stream: asyncio.StreamReader) -> None:
    """Keep reading Chromium's stderr so a full pipe never blocks it."""
    while await stream.readline():
        pass
