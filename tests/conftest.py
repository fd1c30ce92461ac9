"""Shared test setup: fixtures live in plugin modules, one concept each."""

pytest_plugins = [
    "tests.fixtures_camera",
    "tests.fixtures_db",
    "tests.fixtures_onvif",
]
