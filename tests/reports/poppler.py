"""Reading rendered PDFs back with poppler's own tools (pdftoppm, pdftotext, pdffonts)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import cv2
import numpy as np


async def run_tool(*argv: str) -> str:
    """Run a poppler tool; its stdout, or the test fails with its stderr."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, f"{argv[0]} failed ({process.returncode}): {stderr.decode(errors='replace')}"
    return stdout.decode()


async def page_images(pdf: Path, dpi: int = 60) -> list[Path]:
    """Every page rasterised to PNG (pdftoppm), in page order."""
    prefix = pdf.with_suffix("")
    await run_tool("pdftoppm", "-png", "-r", str(dpi), str(pdf), str(prefix))
    # pdftoppm pads page numbers to the width of the page count (page-01.png ... page-12.png).
    return sorted(pdf.parent.glob(f"{prefix.name}-*.png"), key=lambda path: int(path.stem.rsplit("-", 1)[1]))


async def page_texts(pdf: Path) -> list[str]:
    """The text of each page (pdftotext, physical layout), in page order."""
    text = await run_tool("pdftotext", "-layout", str(pdf), "-")
    # pdftotext ends every page with a form feed.
    return text.split("\f")[:-1]


async def embedded_fonts(pdf: Path) -> list[str]:
    """pdffonts' rows: name, type, encoding, embedded, subset, unicode, object."""
    listing = await run_tool("pdffonts", str(pdf))
    return listing.splitlines()[2:]


def grey_pixels(png: Path, low: int = 212, high: int = 228) -> int:
    """Pixels in the watermark's light grey (pure greys between low and high)."""
    image = cv2.imread(str(png), cv2.IMREAD_COLOR)
    assert image is not None, png
    blue, green, red = (image[:, :, channel].astype(np.int16) for channel in range(3))
    grey = (abs(blue - green) <= 2) & (abs(green - red) <= 2) & (green >= low) & (green <= high)
    return int(grey.sum())


def mean_colour(png: Path, box: tuple[float, float, float, float]) -> tuple[float, float, float]:
    """Mean BGR colour of the part of the page in `box` (left, top, right, bottom, fractions)."""
    image = cv2.imread(str(png), cv2.IMREAD_COLOR)
    assert image is not None, png
    height, width = image.shape[:2]
    left, top, right, bottom = box
    part = image[int(top * height) : int(bottom * height), int(left * width) : int(right * width)]
    blue, green, red = (float(value) for value in part.reshape(-1, 3).mean(axis=0))
    return blue, green, red
