"""The letterhead's logo: a PNG or JPEG is embedded top left; anything else is a clear error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from reports import Letterhead, ReportUnavailable, render
from tests.reports.poppler import mean_colour, page_images
from tests.reports.samples import LETTERHEAD, handover
from tests.reports.test_pdf import write_pdf

# A saturated orange (BGR), a colour nothing else on the page has.
ORANGE = (0, 110, 240)


def logo_file(tmp_path: Path, extension: str) -> Path:
    """A 120x100 px orange logo with a white disc, encoded by OpenCV."""
    image = np.zeros((120, 100, 3), np.uint8)
    image[:] = ORANGE
    cv2.circle(image, (50, 60), 30, (255, 255, 255), -1)
    ok, encoded = cv2.imencode(extension, image)
    assert ok
    path = tmp_path / f"logo{extension}"
    path.write_bytes(encoded.tobytes())
    return path


@pytest.mark.parametrize("extension", [".png", ".jpg"])
async def test_logo_is_embedded_top_left(tmp_path: Path, extension: str) -> None:
    letterhead = replace(LETTERHEAD, logo=logo_file(tmp_path, extension))
    pdf = await write_pdf(tmp_path, handover(), letterhead)
    assert b"/Subtype /Image" in pdf.read_bytes()
    first = (await page_images(pdf))[0]
    # The logo's box: 20 mm from the left edge of the 210 mm page, 15 mm from the top of 297 mm;
    # its orange border ring (the disc's left of it) in a strip down its left side.
    blue, green, red = mean_colour(first, (21 / 210, 17 / 297, 23 / 210, 30 / 297))
    assert red > 200 and 80 < green < 140 and blue < 40, (blue, green, red)


def test_no_logo_no_image() -> None:
    assert b"/Subtype /Image" not in render(handover(), LETTERHEAD)


def _text_file(tmp_path: Path) -> Path:
    path = tmp_path / "logo.png"
    path.write_text("not an image")
    return path


def _truncated_png(tmp_path: Path) -> Path:
    path = tmp_path / "logo.png"
    path.write_bytes(logo_file(tmp_path, ".png").read_bytes()[:80])
    return path


def _gif(tmp_path: Path) -> Path:
    path = tmp_path / "logo.gif"
    path.write_bytes(b"GIF89a" + bytes(40))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.png", "cannot be read"),
        (lambda tmp: tmp, "cannot be read"),
        (_text_file, "is not a PNG or JPEG image"),
        (_gif, "is not a PNG or JPEG image"),
        (_truncated_png, "is not a readable PNG or JPEG image"),
    ],
)
def test_bad_logo_is_a_clear_error_naming_the_path(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(ReportUnavailable, match=message) as caught:
        render(handover(), Letterhead(room_name="Ruang Kendali", logo=path))
    assert str(path) in caught.value.detail
    assert caught.value.status == 500
