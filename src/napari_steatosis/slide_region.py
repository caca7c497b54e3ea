"""The region of a slide on screen, and turning it into training data (Qt-free).

``visible_box`` gives the level-0 pixel box ``(r0, c0, r1, c1)`` that napari's camera shows
(its centre and zoom in world units, the canvas size in screen pixels, the layer's scale and
translate), clipped to the slide and capped to ``max_side`` pixels a side around the centre.
``add_region_to_dataset`` reads that box at full resolution and adds it to a dataset as
``images/<slide stem>_r<row>_c<col>.png``, with the source slide and offset in ``dataset.csv``, and the
labels drawn on the slide (level-0 points and masks) that fall in it as that image's labels.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.dataset import Dataset, ImageRecord, PointLabels
from .data.images import write_image
from .data.slides import image_stem, open_slide
from .errors import SteatosisError

MAX_REGION_SIDE = 4096  # px of level 0: a crop napari, the methods and a PNG handle at once


@dataclass(frozen=True)
class Region:
    """A level-0 box of a slide; ``capped`` says the visible region was larger and was cut to its centre."""

    r0: int
    c0: int
    r1: int
    c1: int
    capped: bool = False

    @property
    def shape(self) -> tuple[int, int]:
        return self.r1 - self.r0, self.c1 - self.c0

    def message(self, max_side: int = MAX_REGION_SIDE) -> str:
        h, w = self.shape
        text = f"region rows {self.r0}-{self.r1}, columns {self.c0}-{self.c1} ({w}x{h} px of level 0)"
        if self.capped:
            text += f"; the visible region is larger than {max_side}x{max_side} px, so its centre was taken: zoom in"
        return text


def visible_box(center, zoom: float, canvas_size, slide_shape, scale=(1.0, 1.0), translate=(0.0, 0.0),
                max_side: int = MAX_REGION_SIDE) -> Region:
    """The level-0 box shown by a camera at ``center`` (world, last two axes) and ``zoom`` (screen px per
    world unit) on a canvas of ``canvas_size`` (height, width) screen px, clipped to ``slide_shape``."""
    if not zoom or zoom <= 0:
        raise SteatosisError(f"camera zoom must be positive, got {zoom}")
    h, w = (int(s) for s in slide_shape[:2])
    scale = np.asarray(scale, float)[-2:]
    center_px = (np.asarray(center, float)[-2:] - np.asarray(translate, float)[-2:]) / scale
    half = np.asarray(canvas_size, float)[-2:] / zoom / scale / 2  # half the view in level-0 px
    capped = bool(np.any(2 * half > max_side))
    half = np.minimum(half, max_side / 2)
    lo = np.floor(center_px - half).astype(int)
    hi = np.ceil(center_px + half).astype(int)
    r0, c0 = max(lo[0], 0), max(lo[1], 0)
    r1, c1 = min(hi[0], h), min(hi[1], w)
    if r1 <= r0 or c1 <= c0:
        raise SteatosisError(f"the view shows no part of the {w}x{h} px slide: pan back onto it")
    return Region(int(r0), int(c0), int(r1), int(c1), capped)


def region_name(stem: str, region: Region) -> str:
    return f"{stem}_r{region.r0}_c{region.c0}"


def read_region(slide, region: Region) -> np.ndarray:
    """The (h, w, 3) uint8 pixels of ``region`` at level 0 of an open slide."""
    return slide.read(region.r0, region.c0, region.r1, region.c1)


def region_translate(region: Region, scale=(1.0, 1.0), translate=(0.0, 0.0)) -> tuple[float, float]:
    """napari ``translate`` that puts a layer of the region's pixels (with the slide's ``scale``) on the slide."""
    return (float(translate[-2] + region.r0 * scale[-2]), float(translate[-1] + region.c0 * scale[-1]))


def region_labels(region: Region, points: PointLabels | None = None, masks: dict | None = None):
    """Labels drawn on a slide's level-0 grid, as labels of ``region``: the points inside it, shifted by its
    offset, and each mask (an array-like over the whole slide, or None) cropped to it (None when it marks nothing)."""
    offset = np.array([region.r0, region.c0], float)
    h, w = region.shape

    def inside(pts):
        pts = np.asarray(pts, float).reshape(-1, 2) - offset
        return pts[(pts[:, 0] >= 0) & (pts[:, 0] < h) & (pts[:, 1] >= 0) & (pts[:, 1] < w)]

    points = points or PointLabels()
    cropped = PointLabels(inside(points.positive), inside(points.negative))
    crops = {}
    for kind, mask in (masks or {}).items():
        crop = None if mask is None else np.asarray(mask[region.r0:region.r1, region.c0:region.c1]) > 0
        crops[kind] = crop if crop is not None and crop.any() else None
    return cropped, crops


def add_region_to_dataset(dataset: Dataset, slide_path: str | os.PathLike, region: Region,
                          patient: str | None = None, points: PointLabels | None = None,
                          masks: dict | None = None) -> ImageRecord:
    """Read ``region`` of level 0 and add it to ``dataset`` as a PNG image; ``patient`` defaults to the slide
    stem. ``dataset.csv`` records ``source_slide`` (the slide's file name) and ``source_row``/``source_col``.
    ``points`` and ``masks`` drawn on the slide (level-0 coordinates) become the image's labels where they
    fall in the region (see :func:`region_labels`)."""
    slide_path = Path(slide_path)
    name = region_name(image_stem(slide_path), region)
    if any(r.stem == name for r in dataset.records):
        raise SteatosisError(f"{name}: this region of {slide_path.name} is already in {dataset.root}; pan to another")
    with open_slide(slide_path, warn_no_mpp=False) as slide:
        rgb = read_region(slide, region)
        extra = {"source_slide": slide_path.name, "source_row": region.r0, "source_col": region.c0}
        if slide.mpp:
            extra["pixel_size_um"] = f"{slide.mpp:g}"
    pts, crops = region_labels(region, points, masks)
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / f"{name}.png"
        write_image(png, rgb)
        rec = dataset.add_image(png, patient or image_stem(slide_path), **extra)
    if len(pts):
        dataset.write_points(rec, pts, region.shape)
    for kind, crop in crops.items():
        if crop is not None:
            dataset.write_mask(rec, kind, crop, region.shape)
    return rec
