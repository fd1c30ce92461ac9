"""The letterhead's logo: read once, checked to be a PNG or JPEG Pillow can decode, fitted to a box."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from reports.errors import ReportUnavailable

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True)
class Logo:
    """A decodable PNG or JPEG and its size in pixels."""

    data: bytes
    width_px: int
    height_px: int

    def fit(self, box_width: float, box_height: float) -> tuple[float, float]:
        """Width and height that fill the box as far as the logo's shape allows."""
        scale = min(box_width / self.width_px, box_height / self.height_px)
        return self.width_px * scale, self.height_px * scale


def load_logo(path: Path) -> Logo:
    """Read and decode the logo at `path`, or raise ReportUnavailable naming it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReportUnavailable(f"letterhead logo {path} cannot be read: {exc.strerror or exc}") from exc
    # fpdf2 would embed other formats Pillow knows (GIF, TIFF, WebP ...) by converting them; the
    # letterhead promises PNG or JPEG, which every PDF viewer has seen.
    if not data.startswith((_PNG_MAGIC, _JPEG_MAGIC)):
        raise ReportUnavailable(f"letterhead logo {path} is not a PNG or JPEG image")
    try:
        with Image.open(BytesIO(data)) as image:
            # Decoding the pixels now, before the fonts are opened: a truncated file fails only here.
            image.load()
            width, height = image.size
    except UnidentifiedImageError as exc:
        raise ReportUnavailable(f"letterhead logo {path} is not a readable PNG or JPEG image") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow's errors for a damaged file: truncation is an OSError, a broken PNG chunk a
        # SyntaxError.
        raise ReportUnavailable(f"letterhead logo {path} is not a readable PNG or JPEG image: {exc}") from exc
    if width <= 0 or height <= 0:
        raise ReportUnavailable(f"letterhead logo {path} has no pixels")
    return Logo(data=data, width_px=width, height_px=height)
