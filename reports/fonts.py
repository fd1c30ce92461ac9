"""Where the DejaVu fonts are: Debian's directory first, then whatever fontconfig knows."""

from __future__ import annotations

import functools
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reports.errors import ReportUnavailable

log = logging.getLogger(__name__)

#: Where Debian's fonts-dejavu-core puts them.
DEBIAN_DIR = Path("/usr/share/fonts/truetype/dejavu")
#: The package to install when they are missing (named in the error).
DEBIAN_PACKAGE = "fonts-dejavu-core"

# File name and fontconfig pattern of each face. DejaVu covers Latin with diacritics, the dashes,
# "≥" and "·" that Indonesian reports use; the core PDF fonts (Helvetica) cover Latin-1 only.
_FACES = {
    "regular": ("DejaVuSans.ttf", "DejaVu Sans:style=Book"),
    "bold": ("DejaVuSans-Bold.ttf", "DejaVu Sans:style=Bold"),
    "oblique": ("DejaVuSans-Oblique.ttf", "DejaVu Sans:style=Oblique"),
    "mono": ("DejaVuSansMono.ttf", "DejaVu Sans Mono:style=Book"),
}


@dataclass(frozen=True)
class FontSet:
    """The four font files a report embeds."""

    regular: Path
    bold: Path
    oblique: Path
    mono: Path


def find_fonts(directories: tuple[Path, ...] = (DEBIAN_DIR,), fc_match: str | None = "fc-match") -> FontSet:
    """Locate DejaVu Sans (regular, bold, oblique) and DejaVu Sans Mono, or raise ReportUnavailable."""
    found: dict[str, Path] = {}
    missing: list[str] = []
    for face, (filename, pattern) in _FACES.items():
        path = _in_directories(filename, directories)
        if path is None and fc_match is not None:
            path = _from_fontconfig(fc_match, pattern, filename)
        if path is None:
            missing.append(filename)
        else:
            found[face] = path
    if missing:
        raise ReportUnavailable(
            f"fonts missing for printed reports: {', '.join(missing)} "
            f"(install the Debian package {DEBIAN_PACKAGE})"
        )
    return FontSet(**found)


@functools.cache
def default_fonts() -> FontSet:
    """The fonts of this machine, looked up once per process."""
    return find_fonts()


def _in_directories(filename: str, directories: tuple[Path, ...]) -> Path | None:
    for directory in directories:
        path = directory / filename
        if path.is_file():
            return path
    return None


def _from_fontconfig(fc_match: str, pattern: str, filename: str) -> Path | None:
    try:
        result = subprocess.run(
            [fc_match, "-f", "%{file}", pattern], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("fc-match could not look up %s: %s", pattern, exc)
        return None
    path = Path(result.stdout.strip())
    # fc-match always answers with its best substitute; only the very file will do, since the
    # layout's widths and the glyph coverage are those of DejaVu.
    if result.returncode != 0 or path.name != filename or not path.is_file():
        return None
    return path
