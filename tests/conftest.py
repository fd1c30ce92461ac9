"""Shared test setup: fixtures live in plugin modules, one concept each."""

import logging
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fixtures_camera",
    "tests.fixtures_db",
    "tests.fixtures_mqtt",
    "tests.fixtures_onvif",
    "tests.fixtures_s3",
    "tests.fixtures_turn",
]


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """CLI tests run `pantau ...` in-process, which installs its own stderr handler on the root
    logger (gateway.logsetup); put the root logger back so later tests do not log into a
    captured stream that pytest has closed."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Files measuring real-time behaviour run one after another on one worker (tests/scheduling.py)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from tests.scheduling import RealtimeApart

    return RealtimeApart(config, log)  # type: ignore[arg-type]
