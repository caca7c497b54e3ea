"""One slide end to end: plan, blocks, pyramidal OME-TIFF results, vacuoles, numbers.

Outputs, next to each other in ``out`` (``<stem>`` is the slide's name, ``slide.ome.tif`` -> ``slide``):
``<stem>.steatosis.ome.tif`` / ``<stem>.fibrosis.ome.tif`` (uint8 0/255) and, when asked,
``<stem>.probability.ome.tif`` (U-Net probability x 255): tiled, pyramidal, same level-0 size and
pixel size as the slide. With vacuoles: ``<stem>.steatosis.geojson`` (outlines in level-0 pixels,
QuPath's convention) and ``<stem>.vacuoles.csv``. Every file is written atomically; the block
results live in a hidden temporary folder in ``out`` that is removed at the end.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import shutil
import tempfile
from array import array
from pathlib import Path
from typing import Callable

import numpy as np

from .data.atomic import atomic_write
from .data.pyramid import WORK_MARK, write_pyramid
from .data.slides import image_stem
from .errors import Cancelled
from .slide_blocks import MethodSpec, SlidePlan, chunk_side, count_vacuoles, default_block, plan_slide, run_blocks
from .stain import warn_unfit_fibrosis

VACUOLE_COLUMNS = ["vacuole", "area_px", "equivalent_diameter_px", "centroid_x", "centroid_y", "type",
                   "area_um2", "equivalent_diameter_um"]


def _check(cancelled):
    """A per-tile progress callback that stops a writer (between two tiles) once ``cancelled()``."""
    def check(done: int, total: int) -> None:
        if cancelled is not None and cancelled():
            raise Cancelled("slide analysis cancelled")

    return check


def write_outputs(plan: SlidePlan, out: Path, stem: str, cancelled=None) -> dict[str, Path]:
    """The plan's block results as pyramidal OME-TIFFs, ``{name: path}``; ``cancelled()`` stops it between tiles,
    leaving no new file."""
    written = {}
    for name in plan.outputs():
        arr = plan.array(name)
        path = out / f"{stem}.{name}.ome.tif"
        write_pyramid(path, plan.shape, lambda r0, r1, c0, c1, a=arr: a[r0:r1, c0:c1], mpp=plan.mpp,
                      downsample="area" if name == "probability" else "nearest", name=f"{stem} {name}",
                      progress=_check(cancelled),
                      tile=chunk_side(plan.block))  # TIFF tiles = the arrays' chunks: each read decodes one chunk
        written[name] = path
    return written


def _vacuole_outputs(plan: SlidePlan, out: Path, stem: str, pixel_size_um, macro_cutoff, cancelled=None) -> dict:
    """Pass 2 streamed to ``<stem>.vacuoles.csv`` and ``<stem>.steatosis.geojson``: memory holds one block."""
    cols = [c for c in VACUOLE_COLUMNS if pixel_size_um or not c.endswith("um2") and not c.endswith("_um")]
    n = macro_px = 0
    diam = array("d")
    with atomic_write(out / f"{stem}.vacuoles.csv") as tcsv, atomic_write(out / f"{stem}.steatosis.geojson") as tgeo, \
            open(tcsv, "w", newline="", encoding="utf-8") as fcsv, open(tgeo, "w", encoding="utf-8") as fgeo:
        writer = csv.DictWriter(fcsv, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        fgeo.write('{"type": "FeatureCollection", "features": [')
        first = True
        for i in range(len(plan.boxes)):
            _check(cancelled)(i, len(plan.boxes))
            ((rows, feats),) = count_vacuoles(plan, [i], pixel_size_um, macro_cutoff)
            for r in rows:
                n += 1
                r["vacuole"] = n
                diam.append(r["equivalent_diameter_px"])
                if r["type"] == "macrovesicular":
                    macro_px += r["area_px"]
                writer.writerow(r)
            for f in feats:
                fgeo.write(("" if first else ",\n") + json.dumps(f))
                first = False
        fgeo.write("]}\n")
    return dict(n_vacuoles=n, macro_px=macro_px, diameters=np.frombuffer(diam, dtype=np.float64) if n else np.zeros(0))


def _pass_1(plan: SlidePlan, progress=None, cancelled=None) -> list[dict]:
    """Every tissue block's masks: here, or, when this slide is a task on a dask worker, one task per
    block spread over the whole cluster (workers open the slide and write the plan's shared arrays)."""
    from .batch import fan_out, on_dask_worker, report_blocks  # noqa: PLC0415

    n = len(plan.boxes)
    report_blocks(total=n)
    if n < 2 or not on_dask_worker():
        def each_block(done: int, total: int) -> None:
            report_blocks(done=1)
            if progress is not None:
                progress(done, total)

        return run_blocks(plan, range(n), each_block, cancelled)
    parts = fan_out(run_blocks, plan, [[i] for i in range(n)], each=lambda part: report_blocks(done=len(part)))
    return [b for part in parts for b in part]


def analyse_slide(
    path: str | os.PathLike,
    out: str | os.PathLike,
    spec: MethodSpec,
    pixel_size_um: float | None = None,
    macro_cutoff: float | None = None,
    vacuoles: bool = False,
    block: int | None = None,
    stem: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    fibrosis_preset: str | None = None,
) -> dict:
    """Run ``spec`` over a slide; write its outputs to ``out``; return its numbers (the keys of
    :func:`napari_steatosis.measure.image_measurements`, per slide) and ``files``. With fibrosis,
    a stain the thresholds do not fit is said (``fibrosis_preset``: their preset, None when the
    user's own) and ``stain`` is in the numbers, as for an image."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = stem or image_stem(path)
    for stale in out.glob(f".{glob.escape(stem)}.blocks.*{WORK_MARK}"):  # left by a killed run of this slide
        shutil.rmtree(stale, ignore_errors=True)
    work = tempfile.mkdtemp(prefix=f".{stem}.blocks.", suffix=WORK_MARK, dir=out)
    try:
        plan = plan_slide(path, work, spec, block or default_block(spec), pixel_size_um)
        if spec.fibrosis is not None:  # said before the work, naming the slide
            warn_unfit_fibrosis(plan.stain, fibrosis_preset, path)
        blocks = _pass_1(plan, progress, cancelled)
        files = write_outputs(plan, out, stem, cancelled)
        tissue_px = sum(b["tissue_px"] for b in blocks)
        px = plan.mpp
        res: dict = dict(tissue_px=tissue_px)
        if spec.steatosis:
            fat_px = sum(b["steatosis_px"] for b in blocks)
            res.update(steatosis_px=fat_px, steatosis_pct=round(100.0 * fat_px / tissue_px, 4) if tissue_px else 0.0)
            if vacuoles:
                v = _vacuole_outputs(plan, out, stem, px, macro_cutoff, cancelled)
                d = v["diameters"]
                res.update(n_vacuoles=v["n_vacuoles"], median_diameter_px=round(float(np.median(d)), 2) if len(d) else 0.0,
                           macro_share_pct=round(100.0 * v["macro_px"] / fat_px, 2) if fat_px else 0.0)
                files.update(geojson=out / f"{stem}.steatosis.geojson", vacuoles=out / f"{stem}.vacuoles.csv")
                if px:
                    res["median_diameter_um"] = round(float(np.median(d)) * px, 2) if len(d) else 0.0
        if px:
            res.update(pixel_size_um=px, tissue_mm2=round(tissue_px * px**2 / 1e6, 5))
        if spec.fibrosis is not None:
            fib_px = sum(b["fibrosis_px"] for b in blocks)
            res.update(fibrosis_px=fib_px, fibrosis_pct=round(100.0 * fib_px / tissue_px, 4) if tissue_px else 0.0,
                       stain=plan.stain.stain)
        if plan.scale is not None:  # scale auto: the slide's factor, and why when it fell back (as an image's)
            res.update(scale=round(plan.scale, 4), scale_note=plan.scale_note)
        res.update(blocks=len(plan.boxes), glass_blocks=plan.n_grid - len(plan.boxes), files=files)
        return res
    finally:
        shutil.rmtree(work, ignore_errors=True)
