"""Shape and colour features of each candidate region.

The paper's: the 7 Hu moments (log-scaled), mean and std of the distance from the convex
hull to the contour, roundness, mean hue in a ring around the region. Added because they
tell fat from its look-alikes: area, solidity, eccentricity, holes inside the region (red
cells in vessels, inclusions), texture inside, saturation/value of the ring (fat sits in
cytoplasm, glass sits at the edge), touching the image border.

Added to tell a vacuole from a vessel lumen or a channel (format 3): how much of the region its
largest inscribed disk covers and how much lies in disks at least half as large (a fat droplet is
round and thick everywhere; a lumen or a sinusoid is ragged or thin), what the concavities of its
white region hold (a lumen's are red cells and plasma, more saturated and darker than the cytoplasm
around it; a droplet's few are that cytoplasm), and the share of the white region the candidate
was split from (see candidates.py: 1 when it was not split; the concavities are those of that whole
region, so that the pieces of a lumen cut apart by its red cells still see them).
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from .candidates import Candidates

HU = [f"hu{i}" for i in range(1, 8)]
FEATURES = HU + [
    "hull_dist_mean", "hull_dist_std", "circularity", "log_area", "solidity", "eccentricity", "extent",
    "hole_fraction", "inside_val_std", "inside_sat_mean",
    "ring_hue_cos", "ring_hue_sin", "ring_sat_mean", "ring_val_mean", "ring_white_fraction", "touches_border",
]
# format 3 (a model of format 2 is given the columns of its own list, FEATURES_2)
FEATURES_2 = list(FEATURES)
FEATURES = FEATURES + ["inscribed_share", "thick_share", "gap_sat_excess", "gap_val_excess", "parent_share"]
RING = 4  # px
CHECK_EVERY = 64  # regions measured between two calls of region_features' ``check``


def log_hu(mask: np.ndarray) -> np.ndarray:
    hu = cv2.HuMoments(cv2.moments(mask.astype(np.uint8), binaryImage=True)).ravel()
    return -np.sign(hu) * np.log10(np.abs(hu) + 1e-30)


def shape_features(mask: np.ndarray) -> dict:
    """Features of one binary region (a crop with a margin of zeros around it)."""
    m = mask.astype(np.uint8)
    area = float(m.sum())
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = max(contours, key=cv2.contourArea)
    # perimeter of the contour smoothed to 1 px (a pixel staircase overstates it by ~10 %)
    perimeter = max(cv2.arcLength(cv2.approxPolyDP(contour, 1.0, True), True), 1e-6)
    polygon_area = max(cv2.contourArea(contour), 1e-6)
    hull = cv2.convexHull(contour)
    hull_area = max(cv2.contourArea(hull), 1e-6)
    pts = contour.reshape(-1, 2).astype(np.float32)
    if len(hull) >= 3:
        d = np.array([abs(cv2.pointPolygonTest(hull, (float(x), float(y)), True)) for x, y in pts])
    else:
        d = np.zeros(1)
    mu = cv2.moments(m, binaryImage=True)
    cov = np.array([[mu["mu20"], mu["mu11"]], [mu["mu11"], mu["mu02"]]]) / max(mu["m00"], 1e-6)
    ev = np.sort(np.linalg.eigvalsh(cov))[::-1]
    ecc = float(np.sqrt(1 - ev[1] / ev[0])) if ev[0] > 1e-9 else 0.0
    filled = np.zeros_like(m)
    cv2.drawContours(filled, [contour], -1, 1, -1)
    d_in = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    r_in = float(d_in.max())
    centres = (d_in >= 0.5 * r_in).astype(np.uint8)  # centres of inscribed disks at least half the largest
    thick = (cv2.distanceTransform(1 - centres, cv2.DIST_L2, 5) <= 0.5 * r_in) & (m > 0)
    x, y, w, h = cv2.boundingRect(contour)
    out = dict(zip(HU, log_hu(m)))
    out.update(
        hull_dist_mean=float(d.mean()), hull_dist_std=float(d.std()),
        circularity=float(min(4 * np.pi * polygon_area / perimeter**2, 1.5)), log_area=float(np.log(area)),
        solidity=float(min(area / hull_area, 1.0)), eccentricity=ecc, extent=float(area / max(w * h, 1)),
        hole_fraction=float(1 - area / max(filled.sum(), 1)),
        inscribed_share=float(min(np.pi * r_in**2 / area, 1.5)), thick_share=float(thick.sum() / area),
    )
    return out


def region_features(c: Candidates, check: Callable[[], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(features (n, len(FEATURES)) float32, bounding boxes (n, 4) as r0, c0, r1, c1)``; ``check()`` is called
    every CHECK_EVERY regions (it raises to stop: the measuring is most of a prediction's time)."""
    labels, hsv = c.labels, c.hsv
    H, W = labels.shape
    hue = hsv[..., 0].astype(np.float32) * (np.pi / 90.0)
    objs = _find_objects(labels, c.n)
    X = np.zeros((c.n, len(FEATURES)), np.float32)
    boxes = np.zeros((c.n, 4), np.int32)
    regions, parent = c.region_labels()
    region_area = np.bincount(regions.ravel())
    # the white regions' boxes: only where candidates were cut from them (else each is its own region)
    region_objs = None if c.parent is None else _find_objects(regions, int(parent.max()) if len(parent) else 0)
    gaps: dict[int, tuple[float, float]] = {}
    for i, (r0, r1, c0, c1) in enumerate(objs):
        if check is not None and i % CHECK_EVERY == 0:
            check()
        boxes[i] = (r0, c0, r1, c1)
        (R0, R1, C0, C1), region, ring = _with_ring(labels, i + 1, (r0, r1, c0, c1))
        p = int(parent[i])
        if c.parent is not None:  # around a piece: what surrounds its white region, not the other pieces
            ring &= regions[R0:R1, C0:C1] != p
        m = np.pad(region, 1).astype(np.uint8)  # a zero margin for contours
        f = shape_features(m)
        crop = hsv[R0:R1, C0:C1]
        white = c.white[R0:R1, C0:C1]
        inside = crop[region]
        if ring.any():
            hr = hue[R0:R1, C0:C1][ring & ~white]
            f["ring_hue_cos"] = float(np.cos(hr).mean()) if hr.size else 0.0
            f["ring_hue_sin"] = float(np.sin(hr).mean()) if hr.size else 0.0
            rc = crop[ring]
            f["ring_sat_mean"] = float(rc[:, 1].mean()) / 255
            f["ring_val_mean"] = float(rc[:, 2].mean()) / 255
            f["ring_white_fraction"] = float(white[ring].mean())
        else:
            f.update(ring_hue_cos=0.0, ring_hue_sin=0.0, ring_sat_mean=0.0, ring_val_mean=0.0, ring_white_fraction=1.0)
        f["inside_val_std"] = float(inside[:, 2].std()) / 255
        f["inside_sat_mean"] = float(inside[:, 1].mean()) / 255
        f["touches_border"] = float(r0 == 0 or c0 == 0 or r1 == H or c1 == W)
        if c.parent is None:
            gaps[p] = _gap_excess(region, ring, crop, white)
        elif p not in gaps:  # what fills the concavities of the whole white region the candidate was cut from
            (R0, R1, C0, C1), whole, whole_ring = _with_ring(regions, p, region_objs[p - 1])
            gaps[p] = _gap_excess(whole, whole_ring, hsv[R0:R1, C0:C1], c.white[R0:R1, C0:C1])
        f["gap_sat_excess"], f["gap_val_excess"] = gaps[p]
        f["parent_share"] = float(inside.shape[0] / region_area[p])
        X[i] = [f[k] for k in FEATURES]
    return X, boxes


_KERNEL_RING = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * RING + 1, 2 * RING + 1))
_KERNEL_1 = np.ones((3, 3), np.uint8)


def _with_ring(labels: np.ndarray, k: int, box) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray]:
    """``(crop box R0, R1, C0, C1, region k in it, its ring)``: the ring is RING px wide, 1 px off the region."""
    r0, r1, c0, c1 = box
    H, W = labels.shape
    pad = RING + 2
    R0, R1, C0, C1 = max(r0 - pad, 0), min(r1 + pad, H), max(c0 - pad, 0), min(c1 + pad, W)
    region = labels[R0:R1, C0:C1] == k
    u8 = region.astype(np.uint8)
    ring = (cv2.dilate(u8, _KERNEL_RING) > 0) & ~(cv2.dilate(u8, _KERNEL_1) > 0)
    return (R0, R1, C0, C1), region, ring


def _gap_excess(region: np.ndarray, ring: np.ndarray, crop: np.ndarray, white: np.ndarray) -> tuple[float, float]:
    """Mean saturation and value of what fills the region's concavities (the pixels of its convex hull
    that are neither the region nor white) minus those of the tissue in its ring, in 0..1; 0, 0 when
    either is empty."""
    pts = cv2.findNonZero(region.astype(np.uint8))
    hull = np.zeros(region.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(pts), 1)
    gap = (hull > 0) & ~region & ~white
    tissue = ring & ~white & ~gap
    if not gap.any() or not tissue.any():
        return 0.0, 0.0
    g, t = crop[gap].astype(np.float64), crop[tissue].astype(np.float64)
    return float(g[:, 1].mean() - t[:, 1].mean()) / 255, float(g[:, 2].mean() - t[:, 2].mean()) / 255


def select(X: np.ndarray, names: list) -> np.ndarray:
    """The columns of ``X`` (all of FEATURES) that a model was trained on, in its order."""
    if list(names) == FEATURES:
        return X
    return X[:, [FEATURES.index(k) for k in names]]


def _find_objects(labels: np.ndarray, n: int):
    """Bounding boxes (r0, r1, c0, c1) of labels 1..n."""
    from scipy import ndimage  # noqa: PLC0415

    out = []
    for sl in ndimage.find_objects(labels, max_label=n):
        if sl is None:
            out.append((0, 0, 0, 0))
        else:
            out.append((sl[0].start, sl[0].stop, sl[1].start, sl[1].stop))
    return out
