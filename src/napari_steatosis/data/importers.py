"""Import labels made elsewhere: masks from other tools, points from QuPath or napari CSVs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .dataset import POINT_CLASSES, PointLabels, read_points
from .images import read_mask
from .tables import read_table

CLASS_ALIASES = {
    "steatosis": "steatosis", "positive": "steatosis", "fat": "steatosis", "1": "steatosis",
    "not_steatosis": "not_steatosis", "not steatosis": "not_steatosis", "negative": "not_steatosis",
    "other": "not_steatosis", "0": "not_steatosis",
}


def import_points(path: str | os.PathLike, shape: tuple[int, int], default_class: str | None = None) -> PointLabels:
    """Points from a CSV: ``x,y,class`` (QuPath's convention and ours) or napari's own points CSV
    (``axis-0`` = row, ``axis-1`` = column, no class: ``default_class`` says which)."""
    path = Path(path)
    header, rows = read_table(path, ())
    if {"x", "y", "class"} <= set(header):
        return read_points(path, shape)
    if {"axis-0", "axis-1"} <= set(header):
        if default_class not in POINT_CLASSES:
            raise DatasetError(f"{path}: a napari points file has no class column; say whether its points are "
                               "'steatosis' or 'not_steatosis'")
        pts = []
        for line_no, row in rows:
            try:
                pts.append((float(row["axis-0"]), float(row["axis-1"])))
            except ValueError:
                raise DatasetError(f"{path}, line {line_no}: non-numeric coordinates") from None
        labels = PointLabels(pts, []) if default_class == "steatosis" else PointLabels([], pts)
        labels.check_inside(shape, str(path))
        return labels
    if {"x", "y"} <= set(header) and "class" not in header:
        lowered = {h.lower(): h for h in header}
        cls_col = lowered.get("classification") or lowered.get("name") or lowered.get("label")
        if cls_col is None and default_class is None:
            raise DatasetError(f"{path}: no class column (class, classification or name); choose the class")
        pos, neg = [], []
        for line_no, row in rows:
            raw = (row.get(cls_col, "") if cls_col else default_class or "").strip().lower()
            cls = CLASS_ALIASES.get(raw, default_class if not raw else None)
            if cls is None:
                raise DatasetError(f"{path}, line {line_no}: unknown class {raw!r}")
            try:
                rc = (float(row["y"]), float(row["x"]))
            except ValueError:
                raise DatasetError(f"{path}, line {line_no}: non-numeric coordinates") from None
            (pos if cls == "steatosis" else neg).append(rc)
        labels = PointLabels(pos, neg)
        labels.check_inside(shape, str(path))
        return labels
    raise DatasetError(f"{path}: not a points file (need x,y,class or napari's axis-0,axis-1 columns)")


def import_mask(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """A mask from another tool (PNG/TIFF, any nonzero value is foreground), checked against the image size."""
    return read_mask(path, shape)
