"""Overlap metrics between predicted and true masks."""

from __future__ import annotations

from typing import Iterable

import numpy as np


def overlap_counts(pred: np.ndarray, truth: np.ndarray, within: np.ndarray | None = None) -> tuple[int, int, int]:
    """True positives, false positives and false negatives, optionally only ``within`` a mask."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
    if within is not None:
        pred, truth = pred & within, truth & within
    tp = int(np.count_nonzero(pred & truth))
    return tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(truth)) - tp


def jaccard(pred: np.ndarray, truth: np.ndarray, within: np.ndarray | None = None) -> float:
    """Intersection over union; 1.0 when both masks are empty."""
    tp, fp, fn = overlap_counts(pred, truth, within)
    return 1.0 if tp + fp + fn == 0 else tp / (tp + fp + fn)


def pooled_jaccard(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    """Jaccard over all pixels of all images together (the paper's definition)."""
    tp = fp = fn = 0
    for pred, truth in pairs:
        a, b, c = overlap_counts(pred, truth)
        tp, fp, fn = tp + a, fp + b, fn + c
    return 1.0 if tp + fp + fn == 0 else tp / (tp + fp + fn)


def dice(pred: np.ndarray, truth: np.ndarray, within: np.ndarray | None = None) -> float:
    """2|A∩B| / (|A| + |B|); 1.0 when both masks are empty."""
    tp, fp, fn = overlap_counts(pred, truth, within)
    return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


def r_squared(x, y) -> float:
    """Squared Pearson correlation; NaN when fewer than 3 pairs or no variation."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1] ** 2)


# ----------------------------------------------------------------------------- grades
GRADE_NAMES = {0: "S0, none (<5 %)", 1: "S1, mild (5-33 %)", 2: "S2, moderate (>33-66 %)", 3: "S3, severe (>66 %)"}
GRADE_BANDS = (5.0, 33.0, 66.0)  # the steatosis % where the grade changes


def steatosis_grade(pct: float) -> int:
    """NAFLD activity score steatosis grade of a steatosis percentage (NASH CRN / Kleiner)."""
    if not np.isfinite(pct) or pct < 0 or pct > 100:
        raise ValueError(f"steatosis % must be within 0..100, got {pct}")
    if pct < 5:
        return 0
    if pct <= 33:
        return 1
    if pct <= 66:
        return 2
    return 3


def grade_name(pct: float) -> str:
    """The grade of a steatosis % as a pathologist reads it: ``"S1, mild (5-33 %)"``."""
    return GRADE_NAMES[steatosis_grade(min(max(pct, 0.0), 100.0))]


# ----------------------------------------------------------------------------- vacuoles
def split_vacuoles(mask: np.ndarray, min_distance: int = 4, min_area: int = 8) -> tuple[np.ndarray, int]:
    """Label vacuoles, splitting merged ones by a distance-transform watershed.

    ``min_distance`` (px) is the smallest distance between two vacuole centres; regions
    smaller than ``min_area`` px are dropped. Returns ``(labels int32, count)``.
    """
    import cv2  # noqa: PLC0415
    from scipy import ndimage as ndi  # noqa: PLC0415
    from skimage.feature import peak_local_max  # noqa: PLC0415
    from skimage.segmentation import watershed  # noqa: PLC0415

    m = np.asarray(mask, bool)
    if not m.any():
        return np.zeros(m.shape, np.int32), 0
    dist = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 5)
    dist = cv2.GaussianBlur(dist, (0, 0), 1.0)
    comps, n_comp = ndi.label(m)
    peaks = peak_local_max(dist, min_distance=min_distance, labels=comps, exclude_border=False)
    markers = np.zeros(m.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # every component gets a marker, even one with a flat distance map
    missing = np.setdiff1d(np.arange(1, n_comp + 1), np.unique(comps[markers > 0]))
    if len(missing):
        centres = ndi.maximum_position(dist, comps, missing)
        for k, (r, c) in enumerate(centres):
            markers[r, c] = len(peaks) + k + 1
    labels = watershed(-dist, markers, mask=m).astype(np.int32)
    area = np.bincount(labels.ravel())
    small = np.nonzero(area < min_area)[0]
    small = small[small > 0]
    if len(small):
        labels[np.isin(labels, small)] = 0
    uniq = np.unique(labels)
    uniq = uniq[uniq > 0]
    remap = np.zeros(labels.max() + 1, np.int32)
    remap[uniq] = np.arange(1, len(uniq) + 1)
    return remap[labels], int(len(uniq))


def vacuole_table(mask: np.ndarray, pixel_size_um: float | None = None, macro_cutoff: float | None = None,
                  labels: np.ndarray | None = None) -> list[dict]:
    """One row per vacuole: area, equivalent diameter, centroid, macro- or microvesicular.

    ``macro_cutoff`` is an equivalent diameter: in µm when ``pixel_size_um`` is known
    (default 15 µm), in px otherwise (default 30 px).
    """
    if labels is None:
        labels, _ = split_vacuoles(mask)
    n = int(labels.max())
    if n == 0:
        return []
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    rr, cc = np.nonzero(labels)
    lab = labels[rr, cc]
    cy = np.bincount(lab, weights=rr, minlength=n + 1)[1:] / np.maximum(area, 1)
    cx = np.bincount(lab, weights=cc, minlength=n + 1)[1:] / np.maximum(area, 1)
    diam_px = np.sqrt(4 * area / np.pi)
    if pixel_size_um:
        cutoff = 15.0 if macro_cutoff is None else macro_cutoff
        diam = diam_px * pixel_size_um
    else:
        cutoff = 30.0 if macro_cutoff is None else macro_cutoff
        diam = diam_px
    rows = []
    for i in range(n):
        row = dict(vacuole=i + 1, area_px=int(area[i]), equivalent_diameter_px=round(float(diam_px[i]), 2),
                   centroid_x=round(float(cx[i]), 1), centroid_y=round(float(cy[i]), 1),
                   type="macrovesicular" if diam[i] >= cutoff else "microvesicular")
        if pixel_size_um:
            row["area_um2"] = round(float(area[i]) * pixel_size_um**2, 2)
            row["equivalent_diameter_um"] = round(float(diam[i]), 2)
        rows.append(row)
    return rows


def image_measurements(steatosis: np.ndarray, tissue: np.ndarray, fibrosis: np.ndarray | None = None,
                       pixel_size_um: float | None = None, macro_cutoff: float | None = None):
    """Per-image numbers and the vacuole table: ``(dict, rows)``."""
    steatosis = np.asarray(steatosis, bool) & tissue
    rows = vacuole_table(steatosis, pixel_size_um, macro_cutoff)
    fat_px = int(steatosis.sum())
    tissue_px = int(np.count_nonzero(tissue))
    macro_px = sum(r["area_px"] for r in rows if r["type"] == "macrovesicular")
    d = np.array([r["equivalent_diameter_px"] for r in rows]) if rows else np.zeros(0)
    out = dict(
        tissue_px=tissue_px, steatosis_px=fat_px,
        steatosis_pct=round(100.0 * fat_px / tissue_px, 4) if tissue_px else 0.0,
        n_vacuoles=len(rows),
        median_diameter_px=round(float(np.median(d)), 2) if len(d) else 0.0,
        macro_share_pct=round(100.0 * macro_px / fat_px, 2) if fat_px else 0.0,
    )
    if pixel_size_um:
        out["pixel_size_um"] = pixel_size_um
        out["tissue_mm2"] = round(tissue_px * pixel_size_um**2 / 1e6, 5)
        out["median_diameter_um"] = round(float(np.median(d)) * pixel_size_um, 2) if len(d) else 0.0
    if fibrosis is not None:
        fib_px = int(np.count_nonzero(np.asarray(fibrosis, bool) & tissue))
        out["fibrosis_px"] = fib_px
        out["fibrosis_pct"] = round(100.0 * fib_px / tissue_px, 4) if tissue_px else 0.0
    return out, rows


def patient_summary(image_rows: list[dict], physician: dict | None = None) -> list[dict]:
    """Area-weighted per-patient numbers and the steatosis grade."""
    by: dict[str, list[dict]] = {}
    for r in image_rows:
        by.setdefault(r["patient"], []).append(r)
    out = []
    for patient in sorted(by):
        rows = by[patient]
        tissue = sum(r["tissue_px"] for r in rows)
        fat = sum(r["steatosis_px"] for r in rows)
        pct = 100.0 * fat / tissue if tissue else 0.0
        row = dict(patient=patient, n_images=len(rows), tissue_px=tissue, steatosis_px=fat,
                   steatosis_pct=round(pct, 4), steatosis_grade=steatosis_grade(min(pct, 100.0)),
                   n_vacuoles=sum(r["n_vacuoles"] for r in rows))
        if all("fibrosis_px" in r for r in rows):
            row["fibrosis_pct"] = round(100.0 * sum(r["fibrosis_px"] for r in rows) / tissue, 4) if tissue else 0.0
        if physician and patient in physician:
            row["physician_steatosis_pct"] = physician[patient]
            row["physician_grade"] = steatosis_grade(physician[patient])
        out.append(row)
    return out
