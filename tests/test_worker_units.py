"""`server.workers` and `--workers`: how many workers run, and the refusals that name the key; a
worker's log lines (and a log line that is no error dropped)."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
from pathlib import Path

import pytest

from core.config import Settings
from core.configfile import load_settings
from core.errors import ConfigError
from gateway.cli import main
from gateway.logsetup import make_handler

PG = "postgresql+asyncpg://pantau@127.0.0.1/pantau"


@pytest.mark.parametrize(("database", "cluster", "workers", "cpus", "expected"), [
    (PG, None, "auto", 4, 4),
    (PG, None, "auto", 1, 1),
    (PG, False, "auto", 4, 1),  # no leases to share the cameras by: one process
    (None, None, "auto", 4, 1),  # SQLite serves one process
    (PG, None, 3, 8, 3),
    (None, None, 1, 8, 1),
])
def test_worker_count(database: str | None, cluster: bool | None, workers: int | str, cpus: int, expected: int) -> None:
    settings = Settings(database={"url": database}, cluster={"enabled": cluster}, server={"workers": workers})
    assert settings.worker_count(cpus) == expected
    assert settings.workers_problem() is None


def test_several_workers_on_sqlite_or_without_cluster_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("server:\n  port: 8080\n  workers: 2\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert caught.value.problems == [
        f"{path}:3: server.workers: 2 workers need PostgreSQL (database.url: postgresql+asyncpg://...): SQLite "
        "serves one process; set server.workers to 1 or \"auto\""]
    path.write_text(f"server:\n  workers: 2\ndatabase:\n  url: {PG}\ncluster:\n  enabled: false\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "server.workers: 2 workers share cameras through camera leases, but cluster.enabled is false" \
        in caught.value.problems[0]
    path.write_text("server:\n  workers: 0\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "server.workers" in caught.value.problems[0]


def test_serve_with_workers_on_sqlite_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"data_dir: {tmp_path / 'data'}\n")
    assert main(["--config", str(path), "serve", "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pantau: server.workers (--workers): 2 workers need PostgreSQL"), err
    assert not (tmp_path / "data" / "pantau.db").exists()


@pytest.mark.parametrize(("fmt", "expected"), [("text", " w1 WARNING pantau.test: hello"), ("json", '"worker": "w1"')])
def test_a_workers_log_lines_name_it(fmt: str, expected: str) -> None:
    stream = io.StringIO()
    logger = logging.getLogger("pantau.test")
    handler = make_handler(fmt, stream, worker="w1")
    logger.addHandler(handler)
    try:
        logger.warning("hello")
    finally:
        logger.removeHandler(handler)
    assert expected in stream.getvalue()


def test_a_pool_reset_cut_short_by_a_stop_is_no_error_but_other_reset_failures_are() -> None:
    stream = io.StringIO()
    handler = make_handler("text", stream)
    pool = logging.getLogger("sqlalchemy.pool.impl.AsyncAdaptedQueuePool")
    for exc in (asyncio.CancelledError(), OSError("disk I/O error")):
        try:
            raise exc
        except BaseException:
            handler.handle(pool.makeRecord(pool.name, logging.ERROR, __file__, 1,
                                           "Exception during reset or similar", (), sys.exc_info()))
    out = stream.getvalue()
    assert out.count("Exception during reset") == 1 and "disk I/O error" in out and "CancelledError" not in out
