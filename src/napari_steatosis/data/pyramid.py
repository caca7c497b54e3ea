"""Tiled pyramidal OME-TIFF, written tile by tile and atomically.

Level 0 comes from a function that returns one tile at a time; each lower level (2x smaller,
until it fits in one tile) is built from the halved tiles of the level above, kept in a compressed
temporary zarr next to the output, so memory holds a tile or two, never a level or a band.
QuPath, napari (through tifffile) and OpenSlide read the result.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import SteatosisError
from .atomic import atomic_write

TILE = 512
WORK_MARK = ".slidework"  # hidden folders of temporary levels, removed at the end (or by the next write)


def halve(band: np.ndarray, mode: str) -> np.ndarray:
    """2x smaller: the mean of each 2x2 block (``area``) or its top-left pixel (``nearest``)."""
    if mode == "nearest":
        return band[::2, ::2]
    h, w = band.shape[:2]
    if h % 2 or w % 2:
        band = np.pad(band, ((0, h % 2), (0, w % 2)) + ((0, 0),) * (band.ndim - 2), mode="edge")
    b = band.astype(np.uint16)
    s = b[0::2, 0::2] + b[1::2, 0::2] + b[0::2, 1::2] + b[1::2, 1::2]
    return ((s + 2) // 4).astype(np.uint8)


def level_shapes(shape: tuple[int, int], tile: int = TILE) -> list[tuple[int, int]]:
    """Level-0 shape and each 2x smaller level until the largest side fits in one tile."""
    shapes = [tuple(shape)]
    while max(shapes[-1]) > tile:
        h, w = shapes[-1]
        shapes.append(((h + 1) // 2, (w + 1) // 2))
    return shapes


def write_pyramid(
    path: str | os.PathLike,
    shape: tuple[int, int],
    read_tile: Callable[[int, int, int, int], np.ndarray],
    rgb: bool = False,
    mpp: float | None = None,
    compression: str = "zlib",
    quality: int = 90,
    downsample: str = "nearest",
    tile: int = TILE,
    name: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write ``path`` (.ome.tif): level 0 from ``read_tile(r0, r1, c0, c1)`` -> (r1 - r0, c1 - c0[, 3]) uint8.

    ``downsample`` makes the lower levels: ``nearest`` for masks (stays 0/255), ``area`` for
    pictures and probabilities. ``compression`` is ``zlib`` (lossless) or ``jpeg`` (RGB pictures).
    ``progress(done, total)`` counts tiles of all levels. Nothing is left at ``path`` on failure.
    """
    import tifffile  # noqa: PLC0415
    import zarr  # noqa: PLC0415

    path = Path(path)
    H, W = (int(v) for v in shape)
    if H < 1 or W < 1:
        raise SteatosisError(f"{path}: cannot write an empty {W}x{H} image")
    if tile % 16:
        raise SteatosisError(f"tile size {tile} must be a multiple of 16")
    shapes = level_shapes((H, W), tile)
    extra = (3,) if rgb else ()
    total = sum(-(-h // tile) * -(-w // tile) for h, w in shapes)
    done = [0]
    opts = dict(tile=(tile, tile), dtype=np.uint8, photometric="rgb" if rgb else "minisblack",
                compression=compression, maxworkers=1)
    if compression == "jpeg":
        opts["compressionargs"] = dict(level=quality)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*{WORK_MARK}"):  # a killed writer's levels
        shutil.rmtree(stale, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", suffix=WORK_MARK, dir=path.parent) as work, \
            atomic_write(path) as tmp:
        # chunks of half a tile: each halved tile fills one chunk whole (no chunk read back and rewritten)
        stores = [zarr.create_array(store=str(Path(work) / f"level{k}"), shape=s + extra,
                                    chunks=(tile // 2, tile // 2) + extra, dtype=np.uint8, fill_value=0)
                  for k, s in enumerate(shapes) if k > 0]

        def tiles(k: int):
            h, w = shapes[k]
            for r0 in range(0, h, tile):
                r1 = min(r0 + tile, h)
                for c0 in range(0, w, tile):
                    c1 = min(c0 + tile, w)
                    t = read_tile(r0, r1, c0, c1) if k == 0 else stores[k - 1][r0:r1, c0:c1]
                    t = np.asarray(t, dtype=np.uint8)
                    if t.shape[:2] != (r1 - r0, c1 - c0):
                        raise SteatosisError(f"{path}: tile [{r0}:{r1}, {c0}:{c1}] has shape {t.shape}")
                    if k + 1 < len(shapes):  # tiles start at even rows and columns: halves fall in place
                        small = halve(t, downsample)
                        stores[k][r0 // 2:r0 // 2 + small.shape[0], c0 // 2:c0 // 2 + small.shape[1]] = small
                    yield t
                    done[0] += 1
                    if progress is not None:
                        progress(done[0], total)

        meta = dict(axes="YXS" if rgb else "YX", Name=name or path.name)
        res = {}
        if mpp:
            meta.update(PhysicalSizeX=mpp, PhysicalSizeXUnit="µm", PhysicalSizeY=mpp, PhysicalSizeYUnit="µm")
            res = dict(resolution=(1e4 / mpp, 1e4 / mpp), resolutionunit="CENTIMETER")
        with tifffile.TiffWriter(tmp, bigtiff=True, ome=True) as tif:
            tif.write(tiles(0), shape=shapes[0] + extra, subifds=len(shapes) - 1, metadata=meta, **res, **opts)
            for k in range(1, len(shapes)):
                f = 2 ** k
                lres = dict(resolution=(1e4 / mpp / f, 1e4 / mpp / f), resolutionunit="CENTIMETER") if mpp else {}
                tif.write(tiles(k), shape=shapes[k] + extra, subfiletype=1, metadata=None, **lres, **opts)
    return path
