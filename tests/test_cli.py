"""The `pantau` command line: exit codes, config checking, user creation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pantau(*args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], cwd=cwd, input=stdin, capture_output=True, text=True,
        timeout=60, env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **(env or {})},
    )


def test_check_config_ok_and_errors(tmp_path: Path) -> None:
    good = pantau("check-config", str(ROOT / "config.example.yaml"), cwd=tmp_path, env={"CAMERA_PASSWORD": "x"})
    assert good.returncode == 0, good.stderr
    assert "ok (2 camera(s))" in good.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  port: 70000\ncameras:\n  - id: x\n    source: file:///etc/shadow\n")
    result = pantau("check-config", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert f"{bad}:2: server.port: Input should be less than or equal to 65535" in lines
    assert any(line.startswith(f"{bad}:5: cameras[0].source: scheme 'file' is not allowed") for line in lines)


def test_config_flag_and_default_file(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("server: {port: nope}\n")
    result = pantau("check-config", cwd=tmp_path)
    assert result.returncode == 1 and "config.yaml:1: server.port:" in result.stderr
    result = pantau("--config", str(tmp_path / "missing.yaml"), "migrate", cwd=tmp_path)
    assert result.returncode == 1 and "cannot read" in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert pantau("frobnicate", cwd=tmp_path).returncode == 2
    assert pantau("user", "add", "x", "--role", "king", cwd=tmp_path).returncode == 2
    assert pantau(cwd=tmp_path).returncode == 2


def test_user_add_then_password_is_hashed(tmp_path: Path) -> None:
    result = pantau("user", "add", "opal", "--role", "operator", "--password-stdin", cwd=tmp_path,
                    stdin="a-long-password-1\n")
    assert result.returncode == 0, result.stderr
    assert "created with role operator" in result.stdout
    again = pantau("user", "add", "opal", "--role", "viewer", "--password-stdin", cwd=tmp_path,
                   stdin="a-long-password-1\n")
    assert again.returncode == 1 and "exists already" in again.stderr
    short = pantau("user", "add", "ann", "--role", "viewer", "--password-stdin", cwd=tmp_path, stdin="short\n")
    assert short.returncode == 1 and "at least 10" in short.stderr
    db = (tmp_path / "data" / "pantau.db").read_bytes()
    assert b"a-long-password-1" not in db and b"scrypt$" in db
