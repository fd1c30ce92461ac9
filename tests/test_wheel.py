"""The built wheel, installed away from the checkout, migrates a database and serves."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.fixtures_camera import free_port

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from pyproject.toml and the packages it names, installed with pip --target."""
    work = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools builds in the source tree, and a stale build/lib there would
    # put files into the wheel that the checkout no longer has.
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = subprocess.run([*pip, "wheel", "-q", "--no-deps", "-w", str(work / "dist"), str(src)],
                           capture_output=True, text=True, timeout=150)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (work / "dist").glob("pantau-*.whl")
    target = work / "site"
    installed = subprocess.run([*pip, "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                               capture_output=True, text=True, timeout=60)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return target


def _env(site: Path) -> dict[str, str]:
    # No PANTAU_ overrides and no checkout on the path: the packages come from `site` only.
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site)}


def test_installed_wheel_migrates_and_serves(site: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [sys.executable, "-c", "import importlib, sys\n"
         "for name in sys.argv[1:]: print(importlib.import_module(name).__file__)", *PACKAGES],
        cwd=tmp_path, env=_env(site), capture_output=True, text=True, timeout=30,
    )
    assert where.returncode == 0, where.stderr
    assert all(Path(line).is_relative_to(site) for line in where.stdout.split()), where.stdout

    port = free_port()
    data = tmp_path / "data"
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(data), "server": {"host": "127.0.0.1", "port": port},
                                      "storage": {"path": str(tmp_path / "rec")}}))
    pantau = [str(site / "bin" / "pantau"), "--config", str(config)]

    migrated = subprocess.run([*pantau, "migrate"], cwd=tmp_path, env=_env(site),
                              capture_output=True, text=True, timeout=60)
    assert migrated.returncode == 0, migrated.stderr
    assert (data / "pantau.db").is_file()

    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen([*pantau, "serve"], cwd=tmp_path, env=_env(site),
                                stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "no answer on /livez: " + log_path.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=2) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                time.sleep(0.3)
        # The web UI is package data too.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
            assert resp.status == 200 and b"<html" in resp.read().lower()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
