"""Whole vacuoles: complete the network's detections to the white region each one sits in.

On real slides the U-Net often marks a large vacuole only at its centre or as a crescent. The
classical candidates (white, low-saturation regions, cut apart at thin bridges) are exactly the
regions a vacuole fills, so a candidate that the network covers enough of (``min_cover`` of
its pixels) is taken whole. Nothing is removed: pixels the network marks outside any
candidate stay as they are.
"""

from __future__ import annotations

import numpy as np

from ..classical.candidates import CandidateParams, find_candidates, grow_back


def complete_to_white(mask: np.ndarray, rgb: np.ndarray, min_cover: float = 0.5,
                      params: CandidateParams | None = None, limits: tuple[int, int] | None = None) -> np.ndarray:
    """``mask`` plus every white candidate region of ``rgb`` it covers at least ``min_cover`` of
    (``limits``: a slide's grey normalisation levels, for a block of it)."""
    mask = np.asarray(mask, bool)
    c = find_candidates(rgb, params, limits)
    if c.n == 0:
        return mask.copy()
    lab = c.labels.ravel()
    size = np.bincount(lab, minlength=c.n + 1)
    hit = np.bincount(lab, weights=mask.ravel(), minlength=c.n + 1)
    take = hit >= min_cover * np.maximum(size, 1)
    take[0] = False
    regions = take[c.labels]
    return mask | grow_back(regions, c.white, c.params.erosion)
