"""The `pantau` command line: exit codes, config checking, user creation."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from gateway.cli import main
from policy.audit.signingkey import load_or_create_key

ROOT = Path(__file__).resolve().parent.parent


def pantau(*args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], cwd=cwd, input=stdin, capture_output=True, text=True,
        timeout=60, env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **(env or {})},
    )


def test_check_config_ok_and_errors(tmp_path: Path) -> None:
    # The shipped example, in a clean environment (PATH and PYTHONPATH only).
    good = pantau("check-config", str(ROOT / "config.example.yaml"), cwd=tmp_path)
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



def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`pantau ARGS` in this process (a subprocess costs seconds of imports on a busy machine)."""
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's --version and usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_config_before_or_after_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad, other = tmp_path / "bad.yaml", tmp_path / "other.yaml"
    bad.write_text("server: {port: nope}\n")
    other.write_text("server: {host: 1}\n")
    for args in (("--config", str(bad), "migrate"), ("migrate", "--config", str(bad)),
                 ("serve", "--demo", "--config", str(bad)), ("log-key", "--config", str(bad)),
                 ("user", "add", "x", "--role", "viewer", "--config", str(bad)),
                 ("token", "verify", "t", "--config", str(bad))):
        code, _, err = run(capsys, *args)
        assert code == 1 and f"{bad}:1: server.port:" in err, (args, err)
    # One after the command wins over one before it.
    code, _, err = run(capsys, "--config", str(bad), "migrate", "--config", str(other))
    assert code == 1 and f"{other}:1: server.host:" in err and str(bad) not in err, err


def test_version_is_the_installed_packages(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"pantau {version('pantau')}"


def test_log_key_never_creates_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "pantau.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n")
    key = tmp_path / "data" / "keys" / "access-log.pem"
    code, out, err = run(capsys, "--config", str(config), "log-key")
    assert code == 1 and out == "" and f"no access-log key at {key}" in err, err
    assert not key.exists()
    # With the key the gateway made, it prints it (and changes nothing).
    load_or_create_key(key)
    before = key.read_bytes()
    code, out, err = run(capsys, "log-key", "--config", str(config))
    assert code == 0 and "BEGIN PUBLIC KEY" in out, err
    assert key.read_bytes() == before


def test_pantau_variables_that_are_no_config_key_do_not_break_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("PANTAU_TEST_WORKERS", "0")
    monkeypatch.chdir(tmp_path)
    with caplog.at_level("WARNING", logger="core.configfile"):
        code, out, err = run(capsys, "check-config")
    assert code == 0 and "<defaults>: ok" in out, err
    assert any("PANTAU_TEST_WORKERS" in r.getMessage() for r in caplog.records)
