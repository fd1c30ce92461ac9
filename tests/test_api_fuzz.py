"""The API fuzzed from its own OpenAPI document (schemathesis): every operation, signed in as admin
and again as a viewer, against a real `pantau serve` (SQLite) in a subprocess. Each answer must be no
server error, have a status, a content type and a body the document declares for that operation. As
the viewer, an operation the policy refuses a viewer (policy.decide on the route's action in
tests/test_route_authorization.py ROUTES, for every camera, owner and window the gateway could name)
must never succeed: any 2xx there fails.

Bounded for CI: FUZZ_EXAMPLES examples per operation as admin (default 6) and FUZZ_VIEWER_EXAMPLES as
the viewer (default 3; most of its answers are quick refusals), drawn deterministically (the same
cases each run, so a failure is reproducible and CI is not flaky). For a deeper run on its own:

    FUZZ_EXAMPLES=200 FUZZ_VIEWER_EXAMPLES=200 FUZZ_RANDOM=1 .venv/bin/python -m pytest tests/test_api_fuzz.py -p no:randomly -x

Signed in as an admin of its own (`fuzzer`) and a viewer (`watcher`), both made by `pantau user add`: the
admin's cases change other accounts (the generated user names include `admin`, which it learns from GET
/api/v1/users), and a password reset ends the account's sessions, so neither of the two is ever the
account a case names. Left out: the SSE stream (it never ends), signing out, and ONVIF discovery (a multicast probe of
the network, up to 30 s a call). The gateway must stop within 15 s of SIGTERM afterwards.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
import subprocess
import sys
import time
import urllib.error
from dataclasses import dataclass
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.config import Settings
from core.configfile import load_settings
from policy.decision import Context, Resource, Subject, decide
from tests.fixtures_camera import free_port
from tests.processes import stop
from tests.test_route_authorization import ROUTES, Guarded

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
VIEWER_EXAMPLES = int(os.environ.get("FUZZ_VIEWER_EXAMPLES", "3"))
ADMIN, VIEWER = "fuzzer", "watcher"
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"


@schemathesis.check
def no_server_fault(ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """No 5xx but 503, the gateway's documented "not now" (a camera with no picture yet, a cap
    reached); whether the operation declares it is status_code_conformance's to say."""
    if response.status_code >= 500 and response.status_code != 503:
        raise AssertionError(f"server error {response.status_code}: {response.text[:500]}")


CHECKS = [no_server_fault, status_code_conformance, content_type_conformance, response_schema_conformance]


def viewer_may(config: Settings, method: str, path: str) -> bool:
    """Whether the policy lets a viewer do the action of this route for any camera, owner and window
    the gateway could name (its own or another's record, a recent window): if not, every call by a
    viewer must be refused."""
    route = ROUTES[(method, path)]  # every documented operation has its row (test_route_authorization)
    if not isinstance(route, Guarded):
        return True  # open, or any signed-in user
    now = datetime.now(UTC)
    subject = Subject(VIEWER, "viewer")
    cameras = [(None, frozenset[str]())] + [(c.id, frozenset(c.groups)) for c in config.cameras]
    return any(
        decide(config.access, subject, route.action,
               Resource(camera=camera, camera_groups=groups, start=now - timedelta(hours=1), end=now - timedelta(minutes=1),
                        owner=owner, approvers=frozenset({VIEWER})),
               Context(now)).allowed
        for camera, groups in cameras for owner in (None, VIEWER, ADMIN)
    )


# SDP offers and trickled ICE fragments are text: sent as text/plain is.
schemathesis.serializer.alias(["application/trickle-ice-sdpfrag", "application/sdp"], "text/plain")

schema = (
    schemathesis.openapi.from_path(str(ROOT / "gateway" / "http" / "openapi.yaml"))
    .exclude(path="/api/v1/events/stream")
    .exclude(method="DELETE", path="/api/v1/session")
    # Probes the network by multicast for up to 30 s a call: not on CI's network, and not this often.
    .exclude(path="/api/v1/onvif/discover")
)


@dataclass(frozen=True)
class Gateway:
    base: str
    tokens: dict[str, str]  # by user name: ADMIN's and VIEWER's
    refused_to_viewer: frozenset[tuple[str, str]]  # (method, path) of the operations a viewer may not use


def sign_in(base: str, username: str, password: str) -> str:
    request = urllib.request.Request(base + "/api/v1/session", method="POST",
                                     data=json.dumps({"username": username, "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return str(json.loads(resp.read())["token"])


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A `pantau serve` on SQLite with one (disabled) camera: its base URL, an admin's and a viewer's
    tokens, and the operations the policy refuses the viewer."""
    home = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    config = {
        "data_dir": str(home / "data"),
        "server": {"host": "127.0.0.1", "port": port},
        "database": {"url": f"sqlite+aiosqlite:///{home / 'pantau.db'}"},
        "storage": {"path": str(home / "rec")},
        "cameras": [{"id": "lobby", "source": "demo://pattern", "enabled": False}],
    }
    path = home / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    log_path = home / "gateway.log"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PANTAU_")}, "PYTHONPATH": str(ROOT)}
    password = "fuzzer-password-1"
    for username, role in ((ADMIN, "admin"), (VIEWER, "viewer")):
        subprocess.run([sys.executable, "-m", "gateway", "--config", str(path), "user", "add", username, "--role", role,
                        "--password-stdin"], input=password + "\n", text=True, check=True, cwd=home, env=env,
                       capture_output=True, timeout=60)
    served = load_settings(path, environ={})
    refused = frozenset(route for route in ROUTES if not viewer_may(served, *route))
    with log_path.open("w") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "--config", str(path), "serve"], cwd=home,
                                stdout=log_file, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen(base + "/readyz", timeout=2):
                    break
            except (OSError, urllib.error.HTTPError):
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
        yield Gateway(base, {user: sign_in(base, user, password) for user in (ADMIN, VIEWER)}, refused)
    finally:
        stopped = stop(proc, 15)
    output = log_path.read_text()
    assert stopped, "the gateway did not stop within 15 s of SIGTERM after the fuzzing"
    # (aiohttp's own parser logs a traceback for a request it cannot read: not ours)
    ours = [block for block in output.split("Traceback")[1:] if "aiohttp/_http_parser" not in block]
    assert not ours, output[-5000:]


@pytest.mark.timeout(300)
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
          suppress_health_check=list(HealthCheck), phases=[Phase.generate])
def test_api(case: schemathesis.Case, gateway: Gateway) -> None:
    if (case.path_parameters or {}).get("username") in (ADMIN, VIEWER):
        case.path_parameters["username"] = "admin"  # their passwords or roles would end their tokens
    case.call_and_validate(base_url=gateway.base, headers={"Authorization": f"Bearer {gateway.tokens[ADMIN]}"},
                           checks=CHECKS, timeout=15)


@pytest.mark.timeout(300)
@schema.parametrize()
@settings(max_examples=VIEWER_EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
          suppress_health_check=list(HealthCheck), phases=[Phase.generate])
def test_api_as_viewer(case: schemathesis.Case, gateway: Gateway) -> None:
    response = case.call_and_validate(base_url=gateway.base, headers={"Authorization": f"Bearer {gateway.tokens[VIEWER]}"},
                                      checks=CHECKS, timeout=15)
    operation = (case.operation.method.upper(), case.operation.path)
    assert operation in ROUTES, f"{operation} has no row in tests/test_route_authorization.py ROUTES"
    assert not (200 <= response.status_code < 300 and operation in gateway.refused_to_viewer), (
        f"a viewer got {response.status_code} from {operation}, which the policy refuses a viewer "
        f"({ROUTES[operation]}): {response.text[:300]}")


def test_the_viewer_is_refused_what_the_policy_refuses(gateway: Gateway) -> None:
    """The expectation is not empty (the policy refuses a viewer administration, the access log, ...),
    and not everything (a viewer may list the cameras it sees)."""
    assert ("GET", "/api/v1/users") in gateway.refused_to_viewer
    assert ("GET", "/api/v1/access-log") in gateway.refused_to_viewer
    assert ("GET", "/api/v1/cameras") not in gateway.refused_to_viewer
    assert ("GET", "/api/v1/cameras/{camera_id}") not in gateway.refused_to_viewer
