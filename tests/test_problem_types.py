"""Every error kind has a stable problem type (`urn:pantau:problem:KIND`), each class names its own,
the README lists every one, and the answers carry them."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

from core.errors import PROBLEM_TYPE, PantauError
from gateway.http.problems import STATUS_KINDS
from tests.gatewayutil import make_settings, running_gateway

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "policy", "recorder", "streams", "webrtc", "gateway", "cases", "desk", "evidence", "fleet",
            "camera_events", "alerts", "reports", "restream", "onvif_server", "onvif_adapters", "cluster")


def _errors() -> list[type[PantauError]]:
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            if info.name.endswith("__main__"):
                continue  # runs the CLI
            try:
                importlib.import_module(info.name)
            except ImportError:  # a module needing what is not installed (gi without GStreamer)
                continue
    found, todo = [], [PantauError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return [c for c in found if c.__module__.split(".")[0] in PACKAGES]


def test_every_error_class_names_its_kind_and_the_readme_lists_it() -> None:
    errors = _errors()
    assert len(errors) > 25
    missing = [f"{c.__module__}.{c.__name__}" for c in errors if "kind" not in vars(c)]
    assert not missing, f"error classes without their own kind: {missing}"
    by_kind: dict[str, set[str]] = {}
    for cls in errors:
        by_kind.setdefault(cls.kind, set()).add(cls.title)
    assert all(len(titles) == 1 for titles in by_kind.values()), {k: t for k, t in by_kind.items() if len(t) > 1}
    readme = (ROOT / "README.md").read_text()
    undocumented = sorted(k for k in {*by_kind, *STATUS_KINDS.values()} if f"`{k}`" not in readme)
    assert not undocumented, f"README's problem types lack {undocumented}"
    assert f"`{PROBLEM_TYPE}KIND`" in readme


@pytest.mark.timeout(60)
async def test_answers_carry_their_problem_type(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with running_gateway(settings) as client:
        admin = await client.sign_in("admin", client.admin_password())
        for path, status, kind in (("/api/v1/cameras/nosuch", 404, "not-found"),
                                   ("/api/v1/cameras", 401, "unauthorized"),
                                   ("/api/v1/nowhere", 404, "not-found")):
            headers = {"Authorization": f"Bearer {admin}"} if path != "/api/v1/cameras" else {}
            async with client.http.get(client.url(path), headers=headers) as resp:
                body = await resp.json(content_type=None)
            assert resp.status == status and body["type"] == PROBLEM_TYPE + kind, body
        # Times far outside what anything can have recorded are 400, never a 500 from an overflow.
        for extreme in ("0001-01-01T00:00:00%2B14:00", "9999-12-31T23:59:59-14:00", "1969-12-31T23:59:59Z"):
            for path in (f"/api/v1/bookmarks?start={extreme}", f"/api/v1/events?since={extreme}"):
                async with client.http.get(client.url(path), headers={"Authorization": f"Bearer {admin}"}) as resp:
                    body = await resp.json(content_type=None)
                assert resp.status == 400 and body["type"] == PROBLEM_TYPE + "bad-request", (path, body)
        async with client.http.delete(client.url("/livez"), headers={"Authorization": f"Bearer {admin}"}) as resp:
            body = await resp.json(content_type=None)
        assert resp.status == 405 and body["type"] == PROBLEM_TYPE + "method-not-allowed", body
