"""The floor plan of ARCHITECTURE.md: import contracts (import-linter) and what gateway/ may hold."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The composition root, the CLI and process set-up; HTTP lives in gateway/http/. A capability
# gets a package of its own beside the others (ARCHITECTURE.md, "Where a new capability goes").
# The composition root (app.py, onvifwiring.py, rtspwiring.py and clusterwiring.py: how it wires the ONVIF
# facade, the RTSP restream and a cluster node; supervisor.py and workerslot.py: several worker processes),
# the CLI, HTTP.
GATEWAY_MODULES = {"__init__.py", "__main__.py", "app.py", "onvifwiring.py", "rtspwiring.py", "clusterwiring.py", "dutywiring.py", "cli.py", "services.py", "logsetup.py",
                   "refusallog.py", "supervisor.py", "workerslot.py",
                   "migrations.py", "usercli.py", "userlog.py"}


def test_import_contracts_hold() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    result = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_gateway_holds_the_composition_root_cli_and_http_only() -> None:
    modules = {p.name for p in (ROOT / "gateway").glob("*.py")}
    assert modules <= GATEWAY_MODULES, f"not the composition root, the CLI or HTTP: {sorted(modules - GATEWAY_MODULES)}"
    packages = {p.name for p in (ROOT / "gateway").iterdir() if p.is_dir() and not p.name.startswith("__")}
    # alembic/: the migration chain, package data beside the code that runs it (migrations.py).
    assert packages <= {"http", "static", "alembic"}, sorted(packages)


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_migrations_find_their_tables_without_the_gateway() -> None:
    imported = _imported(ROOT / "gateway" / "alembic" / "env.py")
    assert not any(name == "gateway" or name.startswith("gateway.") for name in imported), sorted(imported)
