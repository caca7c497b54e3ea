"""Candidate regions: white pixels after the percentile normalisation (a fixed low-saturation,
high-value rule, or with ``local_level`` each region against its surroundings: see white.py),
a small erosion to cut thin bridges between touching regions, then connected regions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np

from ..errors import SteatosisError
from ..preprocess import _check_rgb, percentile_normalize
from .white import local_white


@dataclass
class CandidateParams:
    sat_max: int = 45  # HSV saturation (0..255) at most
    val_min: int = 190  # HSV value (0..255) at least, after normalisation
    erosion: int = 1  # radius (px) of the erosion; regions grow back by it at prediction
    min_area: int = 10  # px, after erosion
    # percent from a region's surroundings to its own level where its edge is cut (white.py);
    # 0 = the fixed rule alone (models saved before it existed load with 0)
    local_level: int = 0

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise SteatosisError(f"candidate parameter {f.name} must be a non-negative integer, got {v!r}")
        if self.sat_max > 255 or self.val_min > 255:
            raise SteatosisError("candidate sat_max and val_min must be within 0..255")
        if self.local_level > 100:
            raise SteatosisError("candidate local_level is a percentage: 0..100")

    def to_dict(self) -> dict:
        return asdict(self)


# what a new classical model is trained with (CandidateParams() stays the fixed rule that models
# saved before local_level existed, and the U-Net's completion, were made with)
TRAINING_DEFAULT = dict(local_level=60)


@dataclass
class Candidates:
    labels: np.ndarray  # int32 (H, W), 0 = background, 1..n regions (after erosion)
    n: int
    white: np.ndarray  # bool (H, W) before erosion
    hsv: np.ndarray  # uint8 (H, W, 3) of the normalised image
    params: CandidateParams


def _disk(r: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def find_candidates(rgb: np.ndarray, params: CandidateParams | None = None,
                    limits: tuple[int, int] | None = None, levels: tuple[float, float] | None = None) -> Candidates:
    """``limits``: the grey normalisation levels, ``levels`` the tissue and white levels of white.py,
    when they are the slide's, not the image's own."""
    p = params or CandidateParams()
    rgb = _check_rgb(rgb)
    norm = percentile_normalize(rgb, limits=limits)
    hsv = cv2.cvtColor(norm, cv2.COLOR_RGB2HSV)
    white = local_white(norm, hsv, p.sat_max, p.val_min, p.local_level, levels).astype(np.uint8) * 255
    core = cv2.erode(white, _disk(p.erosion)) if p.erosion else white
    n, labels, stats, _ = cv2.connectedComponentsWithStats(core, connectivity=8, ltype=cv2.CV_32S)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= max(p.min_area, 1)
    remap = np.zeros(n, np.int32)
    remap[keep] = np.arange(1, keep.sum() + 1, dtype=np.int32)
    return Candidates(remap[labels], int(keep.sum()), white > 0, hsv, p)


def grow_back(region_mask: np.ndarray, white: np.ndarray, erosion: int) -> np.ndarray:
    """Undo the erosion: dilate accepted regions by its radius, staying inside white pixels."""
    if erosion == 0:
        return region_mask.astype(bool)
    grown = cv2.dilate(region_mask.astype(np.uint8), _disk(erosion + 1)) > 0
    return (grown & white) | region_mask.astype(bool)
