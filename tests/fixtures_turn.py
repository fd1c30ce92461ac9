"""A STUN/TURN server for the WebRTC networking tests: Debian's coturn (`turnserver`) on loopback
with one long-term-credential user, relaying on loopback too (scripts/test installs coturn)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.processes import stop

TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"
READY_TIMEOUT_S = 10.0
MAGIC_COOKIE = 0x2112A442


@dataclass(frozen=True)
class TurnServer:
    """A running coturn: one port for STUN and TURN (UDP), one user."""

    port: int
    username: str
    password: str

    @property
    def stun_url(self) -> str:
        return f"stun:127.0.0.1:{self.port}"

    @property
    def turn_url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def ice_servers(self) -> list[dict[str, Any]]:
        """The `webrtc.ice_servers` entries for it."""
        return [{"urls": [self.stun_url]},
                {"urls": [self.turn_url], "username": self.username, "credential": self.password}]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_stun(port: int) -> bool:
    """Whether a STUN Binding request to 127.0.0.1:port gets a success response (RFC 5389)."""
    transaction = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, MAGIC_COOKIE) + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        sock.sendto(request, ("127.0.0.1", port))
        try:
            reply = sock.recv(2048)
        except OSError:
            return False
    return len(reply) >= 20 and reply[:2] == b"\x01\x01" and reply[8:20] == transaction


@contextmanager
def running_turn(directory: Path) -> Iterator[TurnServer]:
    """coturn on a free loopback port with one user, its files in `directory`; stopped on exit."""
    server = TurnServer(_free_port(), "pantau", secrets.token_urlsafe(12) + '"\\')
    directory.mkdir(parents=True, exist_ok=True)
    log = (directory / "turnserver.log").open("w")
    proc = subprocess.Popen(
        [TURNSERVER, "-n", "--listening-ip=127.0.0.1", f"--listening-port={server.port}", "--relay-ip=127.0.0.1",
         # The gateway and the viewers are on this machine: their relayed peers are loopback.
         "--allow-loopback-peers", "--lt-cred-mech", "--realm=pantau.test",
         f"--user={server.username}:{server.password}", "--fingerprint", "--no-tls", "--no-dtls", "--no-cli",
         f"--userdb={directory / 'turndb'}", f"--pidfile={directory / 'turnserver.pid'}",
         "--log-file=stdout", "--simple-log"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not _answers_stun(server.port):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(f"coturn did not start: {(directory / 'turnserver.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield server
    finally:
        stop(proc, 5)
        log.close()


@pytest.fixture
def turn_server(tmp_path: Path) -> Iterator[TurnServer]:
    """coturn on a free loopback port (a password with a quote and a backslash, which Link
    headers must escape), stopped after the test."""
    if not Path(TURNSERVER).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's coturn is required in CI (scripts/test installs it)")
        pytest.skip("Debian's coturn is not installed (scripts/test installs it)")
    with running_turn(tmp_path / "coturn") as server:
        yield server
