"""Pantau's own version, as installed: evidence manifests and the User-Agent of outgoing requests."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def gateway_version() -> str:
    """The installed package's version; "unknown" when run from a tree that is not installed."""
    try:
        return version("pantau")
    except PackageNotFoundError:
        return "unknown"
