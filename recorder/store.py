"""Where recordings live on disk: final, partial and quarantine paths, and names that carry
the camera and UTC start so the index can be rebuilt from the files alone (cf. MediaMTX
internal/recordstore)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

PARTIAL_DIR = ".partial"
QUARANTINE_DIR = ".quarantine"
SUFFIX = ".mp4"
PARTIAL_SUFFIX = ".mp4.part"
_STAMP = "%Y%m%dT%H%M%S.%fZ"
# A sub-stream's segments end in "_sub" (the main stream's names are as they always were).
_NAME = re.compile(
    r"^(?P<camera>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)_(?P<stamp>\d{8}T\d{6}\.\d{6}Z)(?:_(?P<stream>sub))?$"
)


def stamp(start: datetime) -> str:
    """UTC start as it appears in file names (no colons, microseconds)."""
    return start.astimezone(UTC).strftime(_STAMP)


def _base(camera: str, start: datetime, stream: str) -> str:
    return f"{camera}_{stamp(start)}" + ("" if stream == "main" else f"_{stream}")


def parse_segment_name(name: str) -> tuple[str, datetime, str] | None:
    """(camera, start, stream) from a segment file name, final or partial; None if it is not one."""
    for suffix in (PARTIAL_SUFFIX, SUFFIX):
        if name.endswith(suffix):
            match = _NAME.fullmatch(name[: -len(suffix)])
            if match is None:
                return None
            start = datetime.strptime(match["stamp"], _STAMP).replace(tzinfo=UTC)
            return match["camera"], start, match["stream"] or "main"
    return None


def parse_name(name: str) -> tuple[str, datetime] | None:
    """(camera, start) from a segment file name, final or partial; None if it is not one."""
    parsed = parse_segment_name(name)
    return None if parsed is None else parsed[:2]


class SegmentStore:
    """Path arithmetic under storage.path; creates directories, never deletes."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def final_path(self, camera: str, start: datetime, stream: str = "main") -> Path:
        day = start.astimezone(UTC)
        return self.root / camera / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / f"{_base(camera, start, stream)}{SUFFIX}"

    def partial_path(self, camera: str, start: datetime, stream: str = "main") -> Path:
        return self.root / camera / PARTIAL_DIR / f"{_base(camera, start, stream)}{PARTIAL_SUFFIX}"

    def quarantine_path(self, partial: Path) -> Path:
        return self.root / QUARANTINE_DIR / partial.name

    def relative(self, path: Path) -> str:
        """Index form of a path: relative to the root, forward slashes."""
        return path.relative_to(self.root).as_posix()

    def absolute(self, relative: str) -> Path:
        return self.root / relative

    def partials(self) -> Iterator[Path]:
        """Unsealed temporary files left by a crash, any camera."""
        if not self.root.exists():
            return
        for cam_dir in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            part_dir = cam_dir / PARTIAL_DIR
            if part_dir.is_dir():
                yield from sorted(part_dir.glob(f"*{PARTIAL_SUFFIX}"))

    def partials_of(self, camera: str) -> list[Path]:
        """One camera's unsealed files (its streams' partials), in name order."""
        part_dir = self.root / camera / PARTIAL_DIR
        return sorted(part_dir.glob(f"*{PARTIAL_SUFFIX}")) if part_dir.is_dir() else []

    def finals_of(self, camera: str) -> list[Path]:
        """One camera's sealed segment files, in time order."""
        cam_dir = self.root / camera
        if not cam_dir.is_dir():
            return []
        return [path for path in sorted(cam_dir.glob(f"[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]/*{SUFFIX}"))
                if parse_name(path.name) is not None]

    def finals(self) -> Iterator[Path]:
        """Every sealed segment file on disk, in camera then time order."""
        if not self.root.exists():
            return
        for cam_dir in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for path in sorted(cam_dir.glob(f"[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]/*{SUFFIX}")):
                if parse_name(path.name) is not None:
                    yield path
