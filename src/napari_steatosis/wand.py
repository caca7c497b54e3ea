"""The wand (as QuPath's): a click grows to the whole region of similar colour around it; and the
review edits built on it (reject a detected vacuole, add a missed one).

The wand works on a window around the click (``radius``): the image is smoothed a little, the
colour of the click (mean of a 5x5 neighbourhood, CIELAB) is the reference, every pixel within
``tolerance`` (Lab distance) of it is a candidate, and the region is the candidates connected
to the click, holes filled. On a vacuole this is the whole white region up to its rim.
"""

from __future__ import annotations

import numpy as np

from .errors import SteatosisError

TOLERANCE = 14.0  # ΔE (CIELAB distance) from the clicked colour: the docks' default


def _check_point(shape, point) -> tuple[int, int]:
    r, c = (int(round(float(v))) for v in point[-2:])
    if not (0 <= r < shape[0] and 0 <= c < shape[1]):
        raise SteatosisError(f"the click (x={c}, y={r}) is outside the {shape[1]}x{shape[0]} px image")
    return r, c


def wand(rgb: np.ndarray, point, tolerance: float = TOLERANCE, radius: int = 200, within: np.ndarray | None = None
         ) -> np.ndarray:
    """Bool mask (image size) of the region of similar colour connected to ``point`` ``(row, col)``.

    ``within`` (bool, image size), e.g. the tissue mask, bounds the growth: a vacuole open to the
    white background beyond the tissue edge stops at the edge instead of flooding the background.
    """
    import cv2  # noqa: PLC0415

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise SteatosisError(f"the wand needs an 8-bit RGB image, got {rgb.dtype} of shape {rgb.shape}")
    r, c = _check_point(rgb.shape, point)
    r0, r1 = max(0, r - radius), min(rgb.shape[0], r + radius + 1)
    c0, c1 = max(0, c - radius), min(rgb.shape[1], c + radius + 1)
    crop = cv2.GaussianBlur(np.ascontiguousarray(rgb[r0:r1, c0:c1]), (3, 3), 0)
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= 100 / 255  # L to 0..100, a and b in their own units
    lab[..., 1:] -= 128
    rr, cc = r - r0, c - c0
    ref = lab[max(0, rr - 2):rr + 3, max(0, cc - 2):cc + 3].reshape(-1, 3).mean(axis=0)
    similar = np.linalg.norm(lab - ref, axis=2) <= tolerance
    if within is not None:
        similar &= np.asarray(within, bool)[r0:r1, c0:c1]
    similar = similar.astype(np.uint8)
    similar[rr, cc] = 1
    _, labels = cv2.connectedComponents(similar, connectivity=4)
    region = labels == labels[rr, cc]
    # fill holes: what the outside cannot reach
    padded = np.pad(~region, 1, constant_values=True).astype(np.uint8)
    cv2.floodFill(padded, None, (0, 0), 2)
    region |= padded[1:-1, 1:-1] == 1
    out = np.zeros(rgb.shape[:2], bool)
    out[r0:r1, c0:c1] = region
    return out


def region_at(mask: np.ndarray, point) -> np.ndarray | None:
    """The connected region of ``mask`` under ``point`` (bool, image size), or None when the point is outside it."""
    import cv2  # noqa: PLC0415

    r, c = _check_point(mask.shape, point)
    if not mask[r, c]:
        return None
    _, labels = cv2.connectedComponents(np.asarray(mask, np.uint8), connectivity=8)
    return labels == labels[r, c]


def review_click(mask: np.ndarray, rgb: np.ndarray, point, tolerance: float = TOLERANCE,
                 within: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """One review click: on a detection, reject it (removed); elsewhere, add the wand's region.

    Returns the new mask (a copy) and what happened (``"rejected"`` or ``"added"``).
    """
    mask = np.asarray(mask, bool)
    hit = region_at(mask, point)
    if hit is not None:
        return mask & ~hit, "rejected"
    return mask | wand(rgb, point, tolerance, within=within), "added"
