"""The paper's percentile normalisation and a tissue (vs glass) mask.

Both are per-pixel colour work done with OpenCV look-up tables and histograms, so they run
at hundreds of Mpx/s and never make float copies of the whole image.
"""

from __future__ import annotations

import cv2
import numpy as np

from .errors import SteatosisError


def _check_rgb(rgb: np.ndarray, name: str = "image") -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise SteatosisError(f"{name}: expected an (H, W, 3) uint8 RGB image, got {rgb.dtype} {rgb.shape}")
    return rgb


def grey_percentiles(rgb: np.ndarray, low: float = 0.1, high: float = 99.9) -> tuple[int, int]:
    """Grey-level percentiles of an RGB uint8 image, exact, from a 256-bin histogram."""
    rgb = _check_rgb(rgb)
    if not (0.0 <= low < high <= 100.0):
        raise SteatosisError(f"percentiles must satisfy 0 <= low < high <= 100, got low={low}, high={high}")
    return histogram_percentiles(grey_histogram(rgb), low, high)


def grey_histogram(rgb: np.ndarray) -> np.ndarray:
    """256-bin histogram of the grey levels of an RGB uint8 image (sums over blocks of a slide)."""
    grey = cv2.cvtColor(_check_rgb(rgb), cv2.COLOR_RGB2GRAY)
    return cv2.calcHist([grey], [0], None, [256], [0, 256]).ravel()


def histogram_percentiles(hist: np.ndarray, low: float = 0.1, high: float = 99.9) -> tuple[int, int]:
    """Grey levels at the ``low`` and ``high`` percentiles of a 256-bin histogram; percentile 0 is
    the darkest grey present, 100 the brightest."""
    hist = np.asarray(hist, np.float64)
    present = np.flatnonzero(hist)
    if not len(present):
        return 0, 255
    cdf = np.cumsum(hist) / hist.sum()
    lo = int(np.searchsorted(cdf, low / 100.0, side="left"))
    hi = int(np.searchsorted(cdf, high / 100.0, side="left"))
    return int(np.clip(lo, present[0], present[-1])), int(np.clip(hi, present[0], present[-1]))


def percentile_normalize(rgb: np.ndarray, low: float = 0.1, high: float = 99.9,
                         limits: tuple[int, int] | None = None) -> np.ndarray:
    """Stretch all three channels so the grey ``low``/``high`` percentiles map to 0 and 255.

    Values beyond are clipped. A flat image (both percentiles equal) is returned unchanged.
    ``limits`` gives the two grey levels directly (a slide's, measured once for all its blocks).
    """
    lo, hi = limits if limits is not None else grey_percentiles(rgb, low, high)
    if hi <= lo:
        return np.array(rgb, copy=True)
    lut = np.clip((np.arange(256, dtype=np.float32) - lo) * (255.0 / (hi - lo)), 0, 255)
    return cv2.LUT(rgb, lut.round().astype(np.uint8))


def white_mask(hsv: np.ndarray, sat_max: int = 40, val_min: int = 200) -> np.ndarray:
    """Pixels that look white (low saturation, high value) in an OpenCV HSV image."""
    return cv2.inRange(hsv, (0, 0, val_min), (180, sat_max, 255)) > 0


def tissue_mask(
    rgb: np.ndarray,
    sat_max: int = 30,
    val_min: int = 215,
    min_background_fraction: float = 0.08,
    max_side: int = 1024,
) -> np.ndarray:
    """Tissue (True) versus glass background (False).

    Glass is bright and colourless like a fat vacuole, so colour alone cannot tell them apart;
    size does: white connected regions larger than ``min_background_fraction`` of the image
    (measured on a copy at most ``max_side`` px wide, for speed) are background, smaller ones
    (vacuoles, sinusoids, small tears) stay inside the tissue. An image with no large white
    region is all tissue.
    """
    rgb = _check_rgb(rgb)
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA) \
        if scale < 1.0 else rgb
    small = cv2.GaussianBlur(small, (5, 5), 0)
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    white = white_mask(hsv, sat_max, val_min).astype(np.uint8)
    white = cv2.morphologyEx(white, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(white, connectivity=8)
    min_area = min_background_fraction * small.shape[0] * small.shape[1]
    big = np.zeros(n, dtype=bool)
    big[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    background = big[labels]
    if scale < 1.0:
        background = cv2.resize(background.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    return ~background


def percent_of_tissue(mask: np.ndarray, tissue: np.ndarray) -> float:
    """Share of tissue pixels that are in ``mask``, in percent (0 when there is no tissue)."""
    n_tissue = int(np.count_nonzero(tissue))
    if n_tissue == 0:
        return 0.0
    return 100.0 * int(np.count_nonzero(mask & tissue)) / n_tissue
