"""Whole slides block by block over level 0, in memory bounded by the blocks in flight.

A slide is planned once (:func:`plan_slide`): a thumbnail finds the tissue (glass blocks are
skipped), a grey histogram gives the slide's normalisation levels (the same for every block,
as one image has one), and the level-0 grid of ``block`` px squares that hold tissue is listed.
With the U-Net's ``scale="auto"`` the plan also decides the slide's resize factor, once, from the
nuclei of a few level-0 crops (slide_scale.py), and every block runs at it.

Two plain functions then run over a plan and a list of block indices, so the blocks can be
split between processes or dask workers (each opens the slide and loads the model itself):

* :func:`run_blocks` (pass 1) reads each block with the margin its methods need (the U-Net's
  76 px context and tile grid, the classical pipeline's :data:`HALO`), and writes its
  steatosis/fibrosis masks and U-Net probability into the plan's zarr arrays (whole chunks per
  block, so writers never share a chunk). It returns small per-block numbers.
* :func:`count_vacuoles` (pass 2, after pass 1 is complete) splits the vacuoles of each block
  with :data:`HALO` px of its neighbours' mask around it and keeps those whose first pixel (in
  raster order) lies in the block: a vacuole crossing a border is counted once, by one block.

Blocks start on the 16 px grid and, for the U-Net, hold whole numbers of its kept output
tiles, so a slide costs what the same pixels cost as one image and gives the same values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from .data.slides import Slide, open_slide
from .errors import Cancelled, SteatosisError
from .preprocess import grey_histogram, histogram_percentiles, percentile_normalize, tissue_mask
from .stain import StainGuess, require_colour

BLOCK = 1760  # 2 x 880, the kept output of the U-Net's default 1036 px tile; a multiple of 32 (grid at half scale)
HALO = 128  # px of neighbours around a block: whole vacuoles up to ~128 px for the classical pipeline and counts
CLASSICAL_BLOCK = 2 * BLOCK  # the classical pipeline reads HALO px around each block: 15 % extra work, not 31 %
THUMB_SIDE = 2048  # the thumbnail the tissue is found on (level 0 itself for smaller slides)
STATS_PIXELS = 1 << 24  # the grey histogram comes from the finest level with at most this many px


@dataclass(frozen=True)
class MethodSpec:
    """What runs on each block; plain values only, so it travels to worker processes."""

    steatosis: str | None = "unet"  # "unet", "classical" or None
    model: str | None = None  # U-Net .keras (default: shipped) or classical .skops
    threshold: float | None = None  # U-Net: default the model card's
    scale: float | str = 1.0  # U-Net; "auto": one factor for the slide from its nuclei (plan_slide)
    tile: int = 1036
    fibrosis: dict | None = None  # FibrosisThresholds.to_dict(), or None
    probability: bool = False  # keep the U-Net probability (uint8 0..255)


@dataclass
class SlidePlan:
    """Everything a worker needs to run blocks of one slide (picklable)."""

    slide: str
    work: str  # folder holding the zarr arrays steatosis / fibrosis / probability
    shape: tuple[int, int]
    block: int
    boxes: list  # (r0, c0, r1, c1) of the blocks that hold tissue
    n_grid: int  # blocks in the whole grid, glass included
    limits: tuple[int, int]
    tissue: np.ndarray = field(repr=False)  # bool thumbnail tissue mask
    spec: MethodSpec = field(default_factory=MethodSpec)
    mpp: float | None = None
    white_levels: tuple[float, float] | None = None  # the classical candidates' (slide_white_levels)
    scale: float | None = None  # U-Net with scale auto: the factor every block runs at (slide_scale.py)
    scale_note: str | None = None  # ... and why it fell back to the model's working scale, else None
    stain: "StainGuess | None" = None  # the stain of the slide's thumbnail (fibrosis by hue fits some)

    def outputs(self) -> list[str]:
        names = []
        if self.spec.steatosis:
            names.append("steatosis")
        if self.spec.fibrosis is not None:
            names.append("fibrosis")
        if self.spec.probability and self.spec.steatosis == "unet":
            names.append("probability")
        return names

    def array(self, name: str, mode: str = "r"):
        import zarr  # noqa: PLC0415

        return zarr.open_array(str(Path(self.work) / name), mode=mode)

    def tissue_block(self, r0: int, c0: int, r1: int, c1: int) -> np.ndarray:
        """Level-0 tissue mask of a region, by nearest neighbour from the thumbnail."""
        th, tw = self.tissue.shape
        H, W = self.shape
        rows = np.minimum((np.arange(r0, r1) * (th / H)).astype(np.int64), th - 1)
        cols = np.minimum((np.arange(c0, c1) * (tw / W)).astype(np.int64), tw - 1)
        if len(rows) == 0 or len(cols) == 0 or np.any(np.diff(rows) < 0) or np.any(np.diff(cols) < 0):
            return self.tissue[np.ix_(rows, cols)]
        # rows and cols ascend: repeat each thumbnail pixel as often as it is picked (a copy, not a gather)
        sub = self.tissue[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        return sub.repeat(np.bincount(rows - rows[0]), axis=0).repeat(np.bincount(cols - cols[0]), axis=1)

    def has_tissue(self, r0: int, c0: int, r1: int, c1: int) -> bool:
        """Whether :meth:`tissue_block` of the region has any tissue, from the thumbnail pixels it picks."""
        th, tw = self.tissue.shape
        H, W = self.shape
        a0, a1 = (min(int(r * (th / H)), th - 1) for r in (r0, r1 - 1))
        b0, b1 = (min(int(c * (tw / W)), tw - 1) for c in (c0, c1 - 1))
        return bool(self.tissue[a0:a1 + 1, b0:b1 + 1].any())


def _bands(slide: Slide, level: int, wanted: Callable[[int, int], bool] | None = None):
    """A level of the slide in bands of rows of ~4 Mpx: ``(first row, band)`` pairs (only the bands of rows
    ``r0:r1`` that ``wanted(r0, r1)``, when given; the others are not read)."""
    h, w = slide.level_shapes[level]
    step = max(1, (1 << 22) // max(w, 1))
    for r0 in range(0, h, step):
        r1 = min(h, r0 + step)
        if wanted is None or wanted(r0, r1):
            yield r0, slide.read(r0, 0, r1, w, level=level)


class StatsLevel:
    """The finest level with at most :data:`STATS_PIXELS` px (level 0 for slides up to 16 Mpx, so
    statistics over it equal the in-memory image's own), as ``(first row, band)`` pairs. That small, it is
    kept after the first pass (at most 50 MB, while the slide is planned), so the thumbnail (often the same
    level), the grey limits and the classical white levels read it once; a slide without such a level
    (no pyramid) is read again for each pass rather than held."""

    def __init__(self, slide: Slide):
        self.slide = slide
        shapes = slide.level_shapes
        self.level = next((i for i, (h, w) in enumerate(shapes) if h * w <= STATS_PIXELS), len(shapes) - 1)
        h, w = shapes[self.level]
        self._keep = h * w <= STATS_PIXELS
        self._kept: list | None = None

    def __iter__(self):
        if self._kept is not None:
            yield from self._kept
            return
        kept = []
        for r0, band in _bands(self.slide, self.level):
            if self._keep:
                kept.append((r0, band))
            yield r0, band
        if self._keep:  # only a whole pass is kept
            self._kept = kept


def thumbnail(slide: Slide, max_side: int = THUMB_SIDE, stats: StatsLevel | None = None) -> np.ndarray:
    """The slide at most ``max_side`` px wide (level 0 itself when it is no larger), read band by band
    from the coarsest level that is still at least that large (from ``stats`` when that is its level)."""
    H, W = slide.shape
    f = min(1.0, max_side / max(H, W))
    th, tw = max(1, round(H * f)), max(1, round(W * f))
    k = max(i for i, (h, w) in enumerate(slide.level_shapes) if (i == 0 or (h >= th and w >= tw)))
    h, w = slide.level_shapes[k]
    out = np.empty((th, tw, 3), np.uint8)

    def rows(r0: int, r1: int) -> tuple[int, int]:  # the thumbnail rows of level rows r0:r1
        return round(r0 * th / h), round(r1 * th / h)

    if stats is not None and stats.level == k:
        bands = stats
    else:  # bands that give no thumbnail row (a level far larger than the thumbnail) are not read
        bands = _bands(slide, k, lambda r0, r1: rows(r0, r1)[1] > rows(r0, r1)[0])
    for r0, band in bands:
        o0, o1 = rows(r0, r0 + len(band))
        if o1 > o0:
            out[o0:o1] = band if (h, w) == (th, tw) else cv2.resize(band, (tw, o1 - o0), interpolation=cv2.INTER_AREA)
    return out


def slide_limits(stats: StatsLevel) -> tuple[int, int]:
    """The grey 0.1/99.9 percentiles of the slide (over its :class:`StatsLevel`)."""
    hist = np.zeros(256)
    for _, band in stats:
        hist += grey_histogram(band)
    return histogram_percentiles(hist)


def slide_white_levels(stats: StatsLevel, limits: tuple[int, int], sat_max: int, val_min: int) -> tuple[float, float]:
    """The classical candidates' tissue and white levels (classical/white.py) of the whole slide (over its
    :class:`StatsLevel`), normalised by its ``limits``, so every block judges its white regions alike."""
    from .classical.white import level_histograms, levels_of  # noqa: PLC0415

    hist_all, hist_clear = np.zeros(256), np.zeros(256)
    for _, band in stats:
        a, c = level_histograms(percentile_normalize(band, limits=limits), sat_max, val_min)
        hist_all += a
        hist_clear += c
    return levels_of(hist_all, hist_clear)


def default_block(spec: MethodSpec) -> int:
    """The block side a method runs best at: :data:`BLOCK` (the U-Net's tiles), twice that for the
    classical pipeline, whose halo is then a smaller share of the pixels it reads."""
    return CLASSICAL_BLOCK if spec.steatosis == "classical" else BLOCK


def chunk_side(block: int) -> int:
    """Side of the result arrays' chunks: the largest divisor of ``block`` up to 1024 px on the 16 px grid
    (880 for 1760 or 2640), so a block is whole chunks (no two writers share one) and a tile read decodes little."""
    return next((d for d in range(min(block, 1024), 15, -1) if block % d == 0 and d % 16 == 0), block)


def plan_slide(path: str | os.PathLike, work: str | os.PathLike, spec: MethodSpec, block: int = BLOCK,
               mpp: float | None = None) -> SlidePlan:
    """Open the slide, find its tissue and normalisation, list the tissue blocks, create the outputs' arrays."""
    import zarr  # noqa: PLC0415

    if block < 64 or block % 16:
        raise SteatosisError(f"block size {block} must be a multiple of 16, at least 64")
    with open_slide(path, warn_no_mpp=not mpp) as slide:  # said once per slide, here
        H, W = slide.shape
        stats = StatsLevel(slide)
        thumb = thumbnail(slide, stats=stats)
        stain = require_colour(thumb, path)  # a grey slide is refused by name, as a grey image is
        tissue = tissue_mask(thumb)
        limits = slide_limits(stats)
        mpp = mpp or slide.mpp
        levels = scale = note = None
        if spec.steatosis == "unet" and spec.scale == "auto":  # decided once, so that all blocks agree
            from .slide_scale import slide_scale  # noqa: PLC0415

            scale, note = slide_scale(slide, tissue, steatosis_model(spec))
        if spec.steatosis == "classical":
            p = steatosis_model(spec).candidate_params
            if p.local_level:
                levels = slide_white_levels(stats, limits, p.sat_max, p.val_min)
    plan = SlidePlan(str(path), str(work), (H, W), block, [], 0, limits, tissue, spec, mpp, levels, scale, note, stain)
    grid = [(r0, c0, min(r0 + block, H), min(c0 + block, W)) for r0 in range(0, H, block) for c0 in range(0, W, block)]
    plan.n_grid = len(grid)
    plan.boxes = [b for b in grid if plan.has_tissue(*b)]
    Path(work).mkdir(parents=True, exist_ok=True)
    for name in plan.outputs():
        zarr.create_array(store=str(Path(work) / name), shape=(H, W), chunks=(chunk_side(block),) * 2,
                          dtype=np.uint8, fill_value=0, overwrite=True)
    return plan


# ----------------------------------------------------------------------------- pass 1

def steatosis_model(spec: MethodSpec):
    """The spec's loaded model, once per process: a U-Net ``Detector`` or a classical model."""
    from .quantify import classical_model, unet_detector  # noqa: PLC0415 (the per-process model cache)

    if spec.steatosis == "unet":
        return unet_detector(spec.model, spec.scale, spec.threshold, spec.tile)
    if spec.steatosis == "classical":
        if not spec.model:
            raise SteatosisError("--method classical needs --model (made by steatosis train-classical)")
        return classical_model(spec.model)
    raise SteatosisError(f"unknown method {spec.steatosis!r}; use unet or classical")


def net_scales(plan: SlidePlan, model) -> list[float]:
    """The factors the U-Net runs at on every block: the model's, or with scale auto the plan's factor
    for the slide, times the card's fused scales (as :meth:`~.unet.detector.Detector.scales`)."""
    return model.scales if plan.scale is None else model.fused(plan.scale)


def _margins(plan: SlidePlan, model, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) px of neighbours a block of ``shape`` needs."""
    spec = plan.spec
    if spec.steatosis == "classical":
        return (HALO,) * 4
    if spec.steatosis != "unet":
        return 0, 0, 0, 0
    from .unet import IN_MARGIN  # noqa: PLC0415
    from .unet.predict import CONTEXT, padded_extent  # noqa: PLC0415

    m = IN_MARGIN + CONTEXT
    rows, cols = padded_extent(shape, model.tile)
    need = [m, m, rows - shape[0] - m, cols - shape[1] - m]
    for s in net_scales(plan, model):  # resized per block: ~96 px of context at the net's scale
        if s != 1.0:
            need = [max(n, HALO, 16 * int(np.ceil(96 / (16 * min(s, 1.0))))) for n in need]
    if model.complete_min_cover is not None:  # white regions decided whole
        need = [max(n, HALO) for n in need]
    return tuple(need)


def _window_tissue(plan: SlidePlan, box, margins) -> np.ndarray:
    """The plan's tissue over a block and its margins (False where they lie outside the slide)."""
    (r0, c0, r1, c1), (top, left, bottom, right) = box, margins
    H, W = plan.shape
    out = np.zeros((r1 - r0 + top + bottom, c1 - c0 + left + right), bool)
    a0, b0, a1, b1 = max(r0 - top, 0), max(c0 - left, 0), min(r1 + bottom, H), min(c1 + right, W)
    out[a0 - (r0 - top):a1 - (r0 - top), b0 - (c0 - left):b1 - (c0 - left)] = plan.tissue_block(a0, b0, a1, b1)
    return out


def block_masks(plan: SlidePlan, slide: Slide, box, cancelled=None) -> dict[str, np.ndarray]:
    """The uint8 outputs (0/255 masks, 0..255 probability) of one block, within tissue."""
    spec = plan.spec
    r0, c0, r1, c1 = box
    h, w = r1 - r0, c1 - c0
    model = steatosis_model(spec) if spec.steatosis else None
    top, left, bottom, right = _margins(plan, model, (h, w))
    window = slide.read(r0 - top, c0 - left, r1 + bottom, c1 + right)
    core = window[top:top + h, left:left + w]
    tissue = plan.tissue_block(r0, c0, r1, c1)
    out = {}
    if spec.steatosis == "unet":
        from .unet.patches import prepare_image  # noqa: PLC0415
        from .quantify import NET_LOCK  # noqa: PLC0415 (threads of a dask worker take turns on the network)
        from .unet import IN_MARGIN  # noqa: PLC0415
        from .unet.predict import CONTEXT, padded_extent, predict_core_resized, predict_padded  # noqa: PLC0415

        prepared = prepare_image(window, plan.limits)
        prob = None
        with NET_LOCK:
            for s in net_scales(plan, model):  # fused by maximum, as Detector.probability does
                if s == 1.0:  # the 16 px grid and context of one big image, no work on the margins
                    m = IN_MARGIN + CONTEXT
                    rows, cols = padded_extent((h, w), model.tile)
                    p = predict_padded(model.model, prepared[top - m:top - m + rows, left - m:left - m + cols],
                                       (h, w), model.tile, cancelled=cancelled, needed=tissue)
                else:  # the core alone at the net's scale, the margins as its context
                    p = predict_core_resized(model.model, prepared, (top, left, h, w), s, model.tile,
                                             cancelled=cancelled)
                prob = p if prob is None else np.maximum(prob, p)
        fat = prob >= model.threshold
        if model.complete_min_cover is not None:
            from .unet.complete import complete_to_white  # noqa: PLC0415

            whole = np.zeros(window.shape[:2], bool)
            whole[top:top + h, left:left + w] = fat  # the margins' own detections are unknown here
            fat = complete_to_white(whole, window, model.complete_min_cover, limits=plan.limits)[top:top + h,
                                                                                               left:left + w]
        out["steatosis"] = np.where(fat & tissue, 255, 0).astype(np.uint8)
        if spec.probability:
            out["probability"] = np.where(tissue, np.clip(prob * 255 + 0.5, 0, 255), 0).astype(np.uint8)
    elif spec.steatosis == "classical":
        from .classical.pipeline import predict_steatosis  # noqa: PLC0415

        # the slide's levels and tissue: a block alone would judge its white regions by itself
        pred = predict_steatosis(model, window, limits=plan.limits, levels=plan.white_levels,
                                 tissue=_window_tissue(plan, box, (top, left, bottom, right)))
        out["steatosis"] = np.where(pred.mask[top:top + h, left:left + w] & tissue, 255, 0).astype(np.uint8)
    if spec.fibrosis is not None:
        from .fibrosis import FibrosisThresholds, fibrosis_mask  # noqa: PLC0415

        fib = fibrosis_mask(np.ascontiguousarray(core), FibrosisThresholds.from_dict(spec.fibrosis), tissue,
                            plan.limits)
        out["fibrosis"] = np.where(fib, 255, 0).astype(np.uint8)
    out["tissue"] = tissue
    return out


def run_blocks(plan: SlidePlan, indices: Sequence[int], progress: Callable[[int, int], None] | None = None,
               cancelled: Callable[[], bool] | None = None) -> list[dict]:
    """Pass 1 over the blocks ``indices`` of ``plan.boxes``: write their masks into the plan's
    arrays and return ``{index, tissue_px, steatosis_px, fibrosis_px}`` per block.

    Safe to call from several processes at once on disjoint index lists: each block is one chunk.
    """
    arrays = {name: plan.array(name, "r+") for name in plan.outputs()}
    results = []
    with open_slide(plan.slide, warn_no_mpp=False) as slide:
        for k, i in enumerate(indices):
            if cancelled is not None and cancelled():
                raise Cancelled("slide analysis cancelled")
            r0, c0, r1, c1 = plan.boxes[i]
            masks = block_masks(plan, slide, plan.boxes[i], cancelled)
            for name, arr in arrays.items():
                arr[r0:r1, c0:c1] = masks[name]
            res = dict(index=int(i), tissue_px=int(np.count_nonzero(masks["tissue"])))
            for name in ("steatosis", "fibrosis"):
                if name in masks:
                    res[f"{name}_px"] = int(np.count_nonzero(masks[name]))
            results.append(res)
            if progress is not None:
                progress(k + 1, len(indices))
    return results


# ----------------------------------------------------------------------------- pass 2
def count_vacuoles(plan: SlidePlan, indices: Sequence[int], pixel_size_um: float | None = None,
                   macro_cutoff: float | None = None, outlines: bool = True) -> list[tuple[list[dict], list[dict]]]:
    """Pass 2: per block, ``(vacuole rows, GeoJSON outline features)`` in level-0 coordinates,
    each vacuole and each outline given by exactly one block (the one holding its first pixel)."""
    from .export import mask_to_geojson  # noqa: PLC0415
    from .measure import split_vacuoles, vacuole_table  # noqa: PLC0415

    fat = plan.array("steatosis")
    H, W = plan.shape
    out = []
    for i in indices:
        r0, c0, r1, c1 = plan.boxes[i]
        a0, b0 = max(0, r0 - HALO), max(0, c0 - HALO)
        window = np.asarray(fat[a0:min(H, r1 + HALO), b0:min(W, c1 + HALO)]) > 0
        labels, n = split_vacuoles(window)
        rows, feats = [], []
        if n:
            first = np.unique(labels.ravel(), return_index=True)[1][1:]  # first pixel of labels 1..n
            fr, fc = np.divmod(first, window.shape[1])
            inside = (fr + a0 >= r0) & (fr + a0 < r1) & (fc + b0 >= c0) & (fc + b0 < c1)
            for row, keep in zip(vacuole_table(window, pixel_size_um, macro_cutoff, labels=labels), inside):
                if keep:
                    row["centroid_x"] = round(row["centroid_x"] + b0, 1)
                    row["centroid_y"] = round(row["centroid_y"] + a0, 1)
                    rows.append(row)
        if outlines and window.any():
            for f in mask_to_geojson(window, "Steatosis")["features"]:
                rings = f["geometry"]["coordinates"]
                y, x = min((p[1], p[0]) for p in rings[0])
                if r0 <= y - 0.5 + a0 < r1 and c0 <= x - 0.5 + b0 < c1:
                    f["geometry"]["coordinates"] = [[[p[0] + b0, p[1] + a0] for p in ring] for ring in rings]
                    feats.append(f)
        out.append((rows, feats))
    return out

