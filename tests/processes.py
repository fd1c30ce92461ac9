"""Stopping a child process the way a service manager does: SIGTERM, a grace period, then SIGKILL."""

from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str], within_s: float) -> bool:
    """SIGTERM `proc`, wait up to `within_s`, then SIGKILL it and reap it; whether it stopped in time."""
    proc.terminate()
    try:
        proc.wait(timeout=within_s)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False
