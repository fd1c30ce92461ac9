"""Running the real `pantau` CLI as a user does on a terminal: stderr on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def on_terminal(config: Path, *args: str, cwd: Path | None = None) -> tuple[int, str]:
    """Run the real CLI with stderr on a pseudo-terminal: its exit code and what the terminal showed."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "gateway", "--config", str(config), *args],
            stderr=follower, stdout=subprocess.PIPE, timeout=60, cwd=cwd,
            env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "TERM": "xterm", "COLUMNS": "100"},
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    return proc.returncode, b"".join(chunks).decode(errors="replace")
