"""Candidate regions: white pixels after the percentile normalisation (a fixed low-saturation,
high-value rule, or with ``local_level`` each region against its surroundings: see white.py),
a small erosion to cut thin bridges between touching regions, then connected regions.

With ``split`` (percent, 0 = off) each region is cut into its round core(s) and what hangs off
them, so that each piece is judged alone: a vacuole with a sinusoid attached to it becomes the
vacuole and the channel, a small vacuole touching a big one becomes a piece of its own. The core
is the region's opening by a disk of ``split`` % of its largest inscribed radius (the pixels that
lie in an inscribed disk at least that large); what is left over, piece by piece, is a candidate
of its own when it holds at least ``min_area`` px, else it goes back to the core piece nearest it.
"""

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
    # percent of a region's largest inscribed radius: the disk that finds its round core (see above);
    # 0 = regions are not split (models saved before it existed load with 0)
    split: int = 0

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise SteatosisError(f"candidate parameter {f.name} must be a non-negative integer, got {v!r}")
        if self.sat_max > 255 or self.val_min > 255:
            raise SteatosisError("candidate sat_max and val_min must be within 0..255")
        if self.local_level > 100:
            raise SteatosisError("candidate local_level is a percentage: 0..100")
        if self.split > 100:
            raise SteatosisError("candidate split is a percentage: 0..100")

    def to_dict(self) -> dict:
        return asdict(self)


# what a new classical model is trained with (CandidateParams() stays the fixed rule that models
# saved before local_level existed, and the U-Net's completion, were made with)
TRAINING_DEFAULT = dict(local_level=60, split=50)
SPLIT_MIN_RADIUS = 2.0  # px: a region whose core disk would be smaller is not split (thin channels, small holes)


@dataclass
class Candidates:
    labels: np.ndarray  # int32 (H, W), 0 = background, 1..n regions (after erosion)
    n: int
    white: np.ndarray  # bool (H, W) before erosion
    hsv: np.ndarray  # uint8 (H, W, 3) of the normalised image
    params: CandidateParams
    # with ``split``: int32 (H, W) the regions before they were split (numbered as ``labels`` without
    # it), and (n,) the region (1..) each candidate was cut from; None when not split
    regions: np.ndarray | None = None
    parent: np.ndarray | None = None

    def region_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """``(regions, parent)`` as when split: without splitting each candidate is its own region."""
        if self.parent is None:
            return self.labels, np.arange(1, self.n + 1, dtype=np.int32)
        return self.regions, self.parent


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
    labels, n = remap[labels], int(keep.sum())
    if not p.split:
        return Candidates(labels, n, white > 0, hsv, p)
    pieces, k, parent = split_regions(labels, n, p.split / 100.0, max(p.min_area, 1))
    return Candidates(pieces, k, white > 0, hsv, p, labels, parent)


def split_regions(labels: np.ndarray, n: int, fraction: float, min_area: int) -> tuple[np.ndarray, int, np.ndarray]:
    """Cut each region into its core(s) and leftover pieces (see the module's docstring).
    Returns ``(labels of the pieces, number of pieces, the region 1..n of each piece)``."""
    from scipy import ndimage  # noqa: PLC0415

    out = np.zeros_like(labels)
    parent: list[int] = []
    for i, sl in enumerate(ndimage.find_objects(labels, max_label=n)):
        if sl is None:
            continue
        sl = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in sl)
        region = labels[sl] == i + 1
        pieces = _pieces(region, fraction, min_area)
        k = int(pieces.max())
        view = out[sl]
        view[region] = pieces[region] + len(parent)
        parent.extend([i + 1] * k)
    return out, len(parent), np.array(parent, np.int32)


def _pieces(region: np.ndarray, fraction: float, min_area: int) -> np.ndarray:
    """int32 labels 1..k of the pieces of one region (a crop with a margin of zeros)."""
    m = region.astype(np.uint8)
    d = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    radius = fraction * float(d.max())
    if radius < SPLIT_MIN_RADIUS:
        return m.astype(np.int32)
    # opening by a disk of ``radius``: the pixels within ``radius`` of a centre at least ``radius`` deep
    centres = (d > radius).astype(np.uint8)
    core = (cv2.distanceTransform(1 - centres, cv2.DIST_L2, 5) <= radius) & region
    n_core, pieces = cv2.connectedComponents(core.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    rest = region & ~core
    n_rest, rest_lab, stats, _ = cv2.connectedComponentsWithStats(rest.astype(np.uint8), connectivity=8,
                                                                   ltype=cv2.CV_32S)
    big = np.zeros(n_rest, np.int32)
    own = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= min_area) + 1
    big[own] = np.arange(n_core, n_core + len(own), dtype=np.int32)
    pieces = np.where(rest, big[rest_lab], pieces)
    small = region & (pieces == 0)
    if small.any():  # leftovers too small to stand alone: to the nearest piece
        from scipy import ndimage  # noqa: PLC0415

        if not (pieces > 0).any():
            return m.astype(np.int32)
        idx = ndimage.distance_transform_edt(pieces == 0, return_distances=False, return_indices=True)
        pieces = np.where(small, pieces[idx[0], idx[1]], pieces)
    return pieces


def grow_back(region_mask: np.ndarray, white: np.ndarray, erosion: int) -> np.ndarray:
    """Undo the erosion: dilate accepted regions by its radius, staying inside white pixels."""
    if erosion == 0:
        return region_mask.astype(bool)
    grown = cv2.dilate(region_mask.astype(np.uint8), _disk(erosion + 1)) > 0
    return (grown & white) | region_mask.astype(bool)
