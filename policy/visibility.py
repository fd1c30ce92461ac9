"""Which cameras a role may see, from the `access.visibility` config."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def may_see(role: str, camera_groups: Iterable[str], visibility: Mapping[Any, Sequence[str]]) -> bool:
    """True when `role` is granted '*' or one of the camera's groups."""
    granted = visibility.get(role, ())
    if "*" in granted:
        return True
    return any(group in granted for group in camera_groups)
