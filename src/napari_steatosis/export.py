"""Masks as GeoJSON that QuPath imports, and back.

Coordinates are QuPath's: x to the right, y down, in pixels of the full image, with pixel
(row r, col c) covering [c, c+1) x [r, r+1); contour points sit on pixel centres (c + 0.5,
r + 0.5). Holes are polygon interior rings; objects inside holes are features of their own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from .data.atomic import atomic_write
from .errors import SteatosisError
from .plots import colour_of

# QuPath class colours: the predictions' colours of napari and the overlays (plots.COLOURS)
CLASS_COLOURS = {"Steatosis": list(colour_of("steatosis")), "Fibrosis": list(colour_of("fibrosis"))}


def _outer_polygons(mask: np.ndarray):
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2) for c in contours]


def _ring(points: np.ndarray) -> list:
    pts = [[float(x) + 0.5, float(y) + 0.5] for x, y in points]
    return pts + [pts[0]]


def mask_to_geojson(mask: np.ndarray, name: str = "Steatosis", properties: list[dict] | None = None,
                    max_depth: int = 8) -> dict:
    """A FeatureCollection of Polygon annotations covering exactly the mask's pixels."""
    remaining = np.asarray(mask, bool).copy()
    features = []
    colour = CLASS_COLOURS.get(name, [255, 0, 255])
    for _ in range(max_depth):
        if not remaining.any():
            break
        drawn = np.zeros(remaining.shape, np.uint8)
        for outer in _outer_polygons(remaining):
            x, y, w, h = cv2.boundingRect(outer)  # work in the object's box: linear in the mask, not quadratic
            box = (slice(y, y + h), slice(x, x + w))
            obj = np.zeros((h, w), np.uint8)
            cv2.fillPoly(obj, [(outer - (x, y)).reshape(-1, 1, 2).astype(np.int32)], 1)
            holes = [hole + (x, y) for hole in _outer_polygons(obj.astype(bool) & ~remaining[box])]
            for hole in holes:
                cv2.fillPoly(obj, [(hole - (x, y)).reshape(-1, 1, 2).astype(np.int32)], 0)
            drawn[box] |= obj
            features.append(dict(
                type="Feature",
                geometry=dict(type="Polygon", coordinates=[_ring(outer)] + [_ring(h) for h in holes]),
                properties=dict(objectType="annotation", classification=dict(name=name, color=colour)),
            ))
        remaining &= ~drawn.astype(bool)
    if properties:
        for f, p in zip(features, properties):
            f["properties"].update(p)
    return dict(type="FeatureCollection", features=features)


def geojson_to_mask(geo: dict, shape: tuple[int, int], name: str | None = None) -> np.ndarray:
    """Rasterise Polygon/MultiPolygon features (of class ``name`` if given) to a bool mask."""
    out = np.zeros(shape, np.uint8)
    feats = geo.get("features", [geo]) if isinstance(geo, dict) else []
    for f in feats:
        cls = ((f.get("properties") or {}).get("classification") or {}).get("name")
        if name is not None and cls != name:
            continue
        g = f.get("geometry") or {}
        polys = [g["coordinates"]] if g.get("type") == "Polygon" else g.get("coordinates", []) \
            if g.get("type") == "MultiPolygon" else []
        for poly in polys:
            obj = np.zeros(shape, np.uint8)
            for k, ring in enumerate(poly):
                pts = np.round(np.asarray(ring, float)[:-1] - 0.5).astype(np.int32).reshape(-1, 1, 2)
                cv2.fillPoly(obj, [pts], 0 if k else 1)  # ring 0 is the outline, the others are holes
            out |= obj
    return out.astype(bool)


def write_geojson(path: str | os.PathLike, geo: dict) -> Path:
    path = Path(path)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(geo))
    return path


def read_geojson(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        geo = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SteatosisError(f"{path}: not readable GeoJSON ({exc})") from exc
    if not isinstance(geo, dict) or geo.get("type") not in ("FeatureCollection", "Feature"):
        raise SteatosisError(f"{path}: not a GeoJSON FeatureCollection or Feature")
    return geo
