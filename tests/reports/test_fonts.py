"""Locating DejaVu: Debian's directory, fontconfig, and the error that names the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import PantauError
from reports import ReportUnavailable
from reports.fonts import DEBIAN_DIR, _from_fontconfig, find_fonts


def test_fonts_found_in_debian_directory() -> None:
    fonts = find_fonts()
    assert fonts.regular == DEBIAN_DIR / "DejaVuSans.ttf"
    assert fonts.bold.name == "DejaVuSans-Bold.ttf"
    assert fonts.oblique.name == "DejaVuSans-Oblique.ttf"
    assert fonts.mono.name == "DejaVuSansMono.ttf"


def test_fonts_found_through_fontconfig(tmp_path: Path) -> None:
    # An empty directory first: only the real fc-match can find them.
    fonts = find_fonts(directories=(tmp_path,))
    assert [path.name for path in (fonts.regular, fonts.bold, fonts.oblique, fonts.mono)] == [
        "DejaVuSans.ttf",
        "DejaVuSans-Bold.ttf",
        "DejaVuSans-Oblique.ttf",
        "DejaVuSansMono.ttf",
    ]
    assert all(path.is_file() for path in (fonts.regular, fonts.bold, fonts.oblique, fonts.mono))


@pytest.mark.parametrize("fc_match", [None, "fc-match-not-installed"])
def test_missing_fonts_name_the_debian_package(tmp_path: Path, fc_match: str | None) -> None:
    with pytest.raises(ReportUnavailable) as caught:
        find_fonts(directories=(tmp_path,), fc_match=fc_match)
    error = caught.value
    assert "fonts-dejavu-core" in str(error)
    assert "DejaVuSans-Bold.ttf" in error.detail
    # A server misconfiguration: the gateway answers 500, and asking again will not help.
    assert isinstance(error, PantauError)
    assert error.status == 500
    assert not error.retriable


def test_the_directory_comes_before_fontconfig(tmp_path: Path) -> None:
    only_bold = tmp_path / "DejaVuSans-Bold.ttf"
    only_bold.write_bytes((DEBIAN_DIR / "DejaVuSans-Bold.ttf").read_bytes())
    fonts = find_fonts(directories=(tmp_path,))
    assert fonts.bold == only_bold
    assert fonts.regular.parent != tmp_path


def test_a_substitute_from_fontconfig_is_not_taken() -> None:
    # fc-match answers every pattern with its best substitute (here, most likely DejaVu Sans
    # itself); only the very file asked for will do.
    assert _from_fontconfig("fc-match", "No Such Family:style=Bold", "NoSuchFamily-Bold.ttf") is None
