"""Which pixels are white enough to be part of a vacuole.

Fixed thresholds (saturation at most ``sat_max``, value at least ``val_min``) find clear white
holes but miss vacuoles under a veil of stain (thick sections, blur: pale pink, not white). With
``local_level`` (percent, 0 = off) a region counts by its contrast with what surrounds it:

1. loose: pixels whose darkest channel is above the midpoint between the image's tissue
   (median of the pixels that are not clearly white) and its white (median of those that are);
2. per loose region, its own threshold at ``local_level`` % of the way from the level of the ring
   around it to its own mean level; the region keeps the pixels above it, so a hazy vacuole is cut
   at its own edge, and a pale halo around a white hole is not taken;
3. clearly white pixels (the fixed rule) always count.
"""

from __future__ import annotations

import cv2
import numpy as np

RING = 3  # px: width of the ring around a region that gives its surrounding level
CLEAR_WHITE_MIN = 50  # px of clearly white pixels needed to measure the image's white level


def fixed_white(hsv: np.ndarray, sat_max: int, val_min: int) -> np.ndarray:
    return cv2.inRange(hsv, (0, 0, val_min), (180, sat_max, 255)) > 0


def darkest_channel(rgb: np.ndarray) -> np.ndarray:
    return cv2.min(cv2.min(rgb[..., 0], rgb[..., 1]), rgb[..., 2])  # 30x numpy's min(axis=2)


def level_histograms(rgb: np.ndarray, sat_max: int, val_min: int) -> tuple[np.ndarray, np.ndarray]:
    """Histograms of the darkest channel of a normalised RGB image: all its pixels, and the clearly
    white ones. Summed over the parts of a slide they give the slide's :func:`levels_of`."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    return _histograms(darkest_channel(rgb), fixed_white(hsv, sat_max, val_min))


def _histograms(darkest: np.ndarray, clear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hist_all = cv2.calcHist([darkest], [0], None, [256], [0, 256]).ravel()  # 10x np.bincount on uint8
    hist_clear = cv2.calcHist([darkest], [0], clear.view(np.uint8), [256], [0, 256]).ravel()
    return hist_all, hist_clear


def image_levels(darkest: np.ndarray, clear: np.ndarray) -> tuple[float, float]:
    """(tissue level, white level) of the darkest channel: medians of the not clearly white and the
    clearly white pixels (255 when fewer than CLEAR_WHITE_MIN are clearly white)."""
    return levels_of(*_histograms(darkest, clear))


def levels_of(hist_all: np.ndarray, hist_clear: np.ndarray) -> tuple[float, float]:
    """:func:`image_levels` from the two histograms of :func:`level_histograms`."""
    hist_rest = hist_all - hist_clear
    white = _median(hist_clear) if hist_clear.sum() >= CLEAR_WHITE_MIN else 255.0
    tissue = _median(hist_rest) if hist_rest.sum() else white
    return tissue, white


def _median(hist: np.ndarray) -> float:
    """Median of uint8 values from their histogram (as np.median: the mean of the two middle ones)."""
    c = np.cumsum(hist)
    n = int(c[-1])
    lo, hi = np.searchsorted(c, (n - 1) // 2 + 1), np.searchsorted(c, n // 2 + 1)
    return (float(lo) + float(hi)) / 2


def local_white(rgb: np.ndarray, hsv: np.ndarray, sat_max: int, val_min: int, local_level: int,
                levels: tuple[float, float] | None = None) -> np.ndarray:
    """Bool (H, W): white pixels of a normalised RGB image (see the module's docstring).

    ``levels``: (tissue, white) of a whole slide, so that its blocks are judged alike; else the image's own.
    """
    clear = fixed_white(hsv, sat_max, val_min)
    if not local_level:
        return clear
    darkest = darkest_channel(rgb)
    tissue, white = levels if levels is not None else image_levels(darkest, clear)
    if white <= tissue:
        return clear
    loose = darkest >= (tissue + white) / 2
    n, lab = cv2.connectedComponents(loose.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    if n <= 1:
        return clear
    # only the loose pixels and the ring around them are looked at (a small share of the image)
    flat, dark = lab.ravel(), darkest.ravel()
    inside = np.flatnonzero(flat)
    in_lab, in_dark = flat[inside], dark[inside]
    inner = np.bincount(in_lab, weights=in_dark, minlength=n) / np.maximum(np.bincount(in_lab, minlength=n), 1)
    # the ring: pixels just outside the loose regions, each given to the region it touches
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * RING + 1, 2 * RING + 1))
    near = cv2.dilate(lab.astype(np.float32), k).ravel()
    ring = np.flatnonzero((near > 0) & (flat == 0))
    ring_lab = near[ring].astype(np.int64)
    outer_n = np.bincount(ring_lab, minlength=n)
    outer = np.bincount(ring_lab, weights=dark[ring], minlength=n) / np.maximum(outer_n, 1)
    outer[outer_n == 0] = tissue  # a region filling the image: compare with the tissue
    cut = outer + (local_level / 100.0) * (inner - outer)
    out = clear.copy()
    out.ravel()[inside[in_dark >= cut[in_lab]]] = True
    return out
