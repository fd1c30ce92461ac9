"""Image checks on one decoded keyframe: black, blank, blurred, frozen and a moved or covered camera.

Everything works on a grayscale (full-range luma, uint8) picture shrunk to ANALYSIS_WIDTH
pixels: the checks look at the whole scene, not at detail, and a 160 px picture costs
microseconds where 1080p costs milliseconds. The numbers in comments were measured on the
GStreamer test camera (tests/camera_server.py, 640x360, x264 keyframes).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from core.config import HealthConfig

log = logging.getLogger(__name__)

#: Width every check works at; the height keeps the aspect ratio.
ANALYSIS_WIDTH = 160

#: The order problems are reported in, most specific first.
PROBLEMS = ("black", "blank", "frozen", "blurred", "scene_changed")

# FFmpeg's blackdetect calls a picture black when 98% of its pixels are dark. We ask for
# 99.5%: the healthy test picture (a white ball and a clock on black) is 98.2-98.5% dark at
# 160 px, a covered camera burning in a short clock ("12:00") 99.7%. A long OSD timestamp
# (1.1% of the small picture) makes a covered camera "not black"; the scene check then
# reports it as scene_changed, so the operator still hears of it.
BLACK_PIXEL_RATIO = 0.995

# Frozen detection compares pictures on a coarse grid (cells of 10x10 px at 160 px wide).
# Averaging over a cell removes what changes in a frozen picture anyway: sensor or encoder
# noise and the noise box of the SMPTE bars (0.09-0.25 mean difference on this grid against
# 1.2-1.5 at 160 px and 5 at full size), while a moving object still moves a cell
# (ball: 2.5, snow: 2.7-3.2).
DIFF_GRID_WIDTH = 16

# Scene change, structural part: a grid cell "moved" when its mean differs from the
# reference by more than 1/8 of full scale after the overall brightness shift is removed.
# The moving ball changes 2-3% of the cells; colour bars shifted by 100 px change 74%.
SCENE_GRID_WIDTH = 16
SCENE_CELL_CHANGE = 32.0
# Scene change, histogram part: 32 luma bins (8 levels each) are coarse enough that noise
# and compression do not move pixels between bins (snow vs snow: 0.08).
SCENE_HIST_BINS = 32


@dataclass(frozen=True, slots=True)
class LumaStats:
    """Mean and standard deviation of the luma of a picture (0-255)."""

    mean: float
    stddev: float


def _grid(gray: np.ndarray, width: int) -> np.ndarray:
    """Area-average `gray` down to `width` cells wide, as float32."""
    height = max(1, round(width * gray.shape[0] / gray.shape[1]))
    return cv2.resize(gray.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)


def downscale(gray: np.ndarray, width: int = ANALYSIS_WIDTH) -> np.ndarray:
    """`gray` shrunk to `width` pixels wide (area averaging); unchanged if already that small."""
    if gray.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {gray.shape}")
    if gray.shape[1] <= width:
        return gray
    height = max(1, round(width * gray.shape[0] / gray.shape[1]))
    return cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)


def luma_stats(gray: np.ndarray) -> LumaStats:
    """Mean and standard deviation of the luma."""
    mean, std = cv2.meanStdDev(gray)
    return LumaStats(float(mean[0, 0]), float(std[0, 0]))


def dark_fraction(gray: np.ndarray, max_luma: float) -> float:
    """Fraction of pixels darker than `max_luma`."""
    return float(np.count_nonzero(gray < max_luma)) / gray.size


def is_black(gray: np.ndarray, max_luma: float) -> bool:
    """Whether almost every pixel is darker than `max_luma` (lens covered, video lost, night)."""
    return dark_fraction(gray, max_luma) >= BLACK_PIXEL_RATIO


def is_blank(gray: np.ndarray, max_stddev: float) -> bool:
    """Whether the picture is one flat colour (blue "no signal" screen, saturated, fogged)."""
    return luma_stats(gray).stddev < max_stddev


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian: high for edges and texture, near zero when out of focus."""
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def is_blurred(gray: np.ndarray, min_laplacian: float) -> bool:
    """Whether the picture has less edge energy than `min_laplacian` (defocused, smeared lens)."""
    return sharpness(gray) < min_laplacian


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two pictures on a coarse grid, insensitive to noise (0-255)."""
    if a.shape != b.shape:
        raise ValueError(f"pictures differ in size: {a.shape} vs {b.shape}")
    return float(np.mean(np.abs(_grid(a, DIFF_GRID_WIDTH) - _grid(b, DIFF_GRID_WIDTH))))


def histogram_change(reference: np.ndarray, current: np.ndarray) -> float:
    """Total variation distance of the luma histograms, 0 (same) to 1 (disjoint)."""
    bins = [SCENE_HIST_BINS]
    ref = cv2.calcHist([reference], [0], None, bins, [0, 256]).ravel() / reference.size
    cur = cv2.calcHist([current], [0], None, bins, [0, 256]).ravel() / current.size
    return float(0.5 * np.abs(ref - cur).sum())


def structure_change(reference: np.ndarray, current: np.ndarray) -> float:
    """Fraction of grid cells whose brightness changed beyond the overall shift, 0 to 1."""
    ref = _grid(reference, SCENE_GRID_WIDTH)
    cur = _grid(current, SCENE_GRID_WIDTH)
    # Lights switched on or an iris opening shift every cell alike; that is not a new scene.
    cur -= float(cur.mean() - ref.mean())
    return float(np.count_nonzero(np.abs(ref - cur) > SCENE_CELL_CHANGE)) / ref.size


def scene_change(reference: np.ndarray, current: np.ndarray) -> float:
    """How different `current` is from the reference scene, 0 (same) to 1 (another scene).

    The larger of two measures: the histogram catches a covered or sprayed lens (the
    picture's brightness distribution changes although nothing "moves"), the grid
    catches a camera turned away (same kind of picture, but its content sits elsewhere).
    Both ignore a small object moving through the scene, which a global correlation does
    not: two pictures of the test ball score 0.76 there.
    """
    if reference.shape != current.shape:
        return 1.0
    return max(histogram_change(reference, current), structure_change(reference, current))


class ImageChecker:
    """Feeds successive samples of one camera through the checks and remembers what it needs."""

    def __init__(self, config: HealthConfig) -> None:
        self.config = config
        self.reference: np.ndarray | None = None
        self._previous: np.ndarray | None = None
        self._still = 0  # consecutive samples (counting the first) with no visible change
        self._healthy = 0  # healthy samples seen since the reference was reset

    def reset_frozen(self) -> None:
        """Forget the previous sample, e.g. after a reconnect (a new stream is not frozen yet)."""
        self._previous = None
        self._still = 0

    def reset_reference(self) -> None:
        """Forget the scene reference; a new one is taken from the coming healthy samples."""
        self.reference = None
        self._healthy = 0

    def check(self, gray: np.ndarray) -> tuple[str, ...]:
        """Problems visible in this sample, in PROBLEMS order; empty when the picture is fine."""
        cfg = self.config
        small = downscale(gray)
        if self._previous is not None and self._previous.shape != small.shape:
            log.info(
                "picture size changed from %s to %s: checks start over", self._previous.shape, small.shape
            )
            self.reset_frozen()
            self.reset_reference()

        if self._previous is not None and difference(self._previous, small) <= cfg.frozen_max_diff:
            self._still += 1
        else:
            self._still = 1
        self._previous = small

        black = is_black(small, cfg.black_max_luma)
        blank = is_blank(small, cfg.blank_max_stddev)
        found: set[str] = set()
        if black:
            found.add("black")
        elif blank:
            found.add("blank")
        else:
            # A flat picture is also "unchanged", "unsharp" and "another scene"; those would
            # only bury the one word that tells the operator what is on screen.
            if self._still >= cfg.frozen_samples:
                found.add("frozen")
            if is_blurred(small, cfg.blur_min_laplacian):
                found.add("blurred")
            if self.reference is not None:
                if scene_change(self.reference, small) > cfg.scene_change_min:
                    found.add("scene_changed")
            elif not found:
                self._healthy += 1
                if self._healthy >= cfg.reference_after_samples:
                    self.reference = small.copy()
                    log.debug("scene reference taken after %d healthy samples", self._healthy)
        return tuple(p for p in PROBLEMS if p in found)
