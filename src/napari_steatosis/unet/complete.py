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
    return WhiteRegions(rgb, params, limits).complete(mask, min_cover)


class WhiteRegions:
    """The white candidate regions of one image, found once, to complete many masks of it (the
    thresholds a validation tries)."""

    def __init__(self, rgb: np.ndarray, params: CandidateParams | None = None, limits: tuple[int, int] | None = None):
        self.c = find_candidates(rgb, params, limits)
        self.size = np.bincount(self.c.labels.ravel(), minlength=self.c.n + 1) if self.c.n else None

    def complete(self, mask: np.ndarray, min_cover: float = 0.5) -> np.ndarray:
        mask = np.asarray(mask, bool)
        c = self.c
        if c.n == 0:
            return mask.copy()
        hit = np.bincount(c.labels.ravel(), weights=mask.ravel(), minlength=c.n + 1)
        take = hit >= min_cover * np.maximum(self.size, 1)
        take[0] = False
        return mask | grow_back(take[c.labels], c.white, c.params.erosion)
