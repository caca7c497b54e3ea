"""Whole-slide images, opened lazily: no pixel is read until a region of it is asked for.

Scanner files (Aperio ``.svs``, Hamamatsu ``.ndpi``, Leica ``.scn``, Ventana ``.bif``),
pyramidal OME-TIFF and any tiled or pyramidal TIFF are read through tifffile's zarr store
(``imagecodecs`` decodes their JPEG / JPEG 2000 tiles); with the optional ``[openslide]``
extra, OpenSlide opens the formats tifffile cannot (MIRAX ``.mrxs``, ``.vms``, ``.svslide``, DICOM).
A slide is a list of pyramid levels, level 0 the full resolution, and a pixel size in µm
(mpp) when its metadata states one.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DatasetError, ImageConversionWarning
from ..words import count
from .images import ome_pixel_size_um, resolution_pixel_size_um

TIFF_SLIDE_SUFFIXES = (".svs", ".ndpi", ".scn", ".bif", ".ome.tif", ".ome.tiff")
OPENSLIDE_SUFFIXES = (".mrxs", ".vms", ".vmu", ".svslide", ".dcm")
SLIDE_SUFFIXES = TIFF_SLIDE_SUFFIXES + OPENSLIDE_SUFFIXES
PLAIN_TIFF = (".tif", ".tiff")
MPP_RANGE = (0.01, 100.0)  # µm per pixel that a microscope image can plausibly have


class PixelSizeWarning(ImageConversionWarning):
    """A slide states no (plausible) pixel size: its numbers are in pixels."""


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for s in SLIDE_SUFFIXES:
        if name.endswith(s):
            return s
    return path.suffix.lower()


def image_stem(path: str | os.PathLike) -> str:
    """The name used for outputs: ``slide.ome.tif`` -> ``slide`` (not ``slide.ome``)."""
    path = Path(path)
    name = path.name
    if name.lower().endswith((".ome.tif", ".ome.tiff")):
        return name[: name.lower().rindex(".ome.")]
    return path.stem


def is_slide(path: str | os.PathLike) -> bool:
    """A slide format, or a TIFF that is tiled or pyramidal (read lazily, processed by blocks).

    Only the TIFF header and first page are read. A plain strip TIFF, PNG or JPG is an image.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix in SLIDE_SUFFIXES:
        return True
    if suffix not in PLAIN_TIFF or not path.is_file():
        return False
    import tifffile  # noqa: PLC0415

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            return bool(page.is_tiled or len(tif.series[0].levels) > 1 or page.subifds)
    except Exception:  # noqa: BLE001 (not a TIFF tifffile can read: let the image reader say why)
        return False


@dataclass
class Slide:
    """An open slide. ``levels`` are array-likes (H, W, 3) uint8, read lazily by region."""

    path: Path
    levels: list = field(repr=False)
    mpp: float | None
    vendor: str
    _closer: object = field(default=None, repr=False)

    @property
    def stem(self) -> str:
        return image_stem(self.path)

    @property
    def shape(self) -> tuple[int, int]:
        """Level-0 (height, width) in pixels."""
        return tuple(self.levels[0].shape[:2])

    @property
    def level_shapes(self) -> list[tuple[int, int]]:
        return [tuple(lv.shape[:2]) for lv in self.levels]

    def read(self, r0: int, c0: int, r1: int, c1: int, level: int = 0) -> np.ndarray:
        """Pixels [r0:r1, c0:c1] of a level as (h, w, 3) uint8; the parts outside are mirrored in."""
        lv = self.levels[level]
        h, w = lv.shape[:2]
        if r1 <= r0 or c1 <= c0:
            raise DatasetError(f"{self.path}: empty region [{r0}:{r1}, {c0}:{c1}]")
        a0, a1, b0, b1 = max(r0, 0), min(r1, h), max(c0, 0), min(c1, w)
        if a1 <= a0 or b1 <= b0:
            raise DatasetError(f"{self.path}: region [{r0}:{r1}, {c0}:{c1}] lies outside the {w}x{h} px slide")
        try:
            rgb = np.asarray(lv[a0:a1, b0:b1])
        except Exception as exc:  # a decoder failure is the file's fault
            raise DatasetError(f"{self.path}: cannot read region [{a0}:{a1}, {b0}:{b1}] ({exc})") from exc
        pad = ((a0 - r0, r1 - a1), (b0 - c0, c1 - b1), (0, 0))
        if any(p for pair in pad for p in pair):
            rgb = np.pad(rgb, pad, mode="symmetric" if min(a1 - a0, b1 - b0) < 2 else "reflect")
        return rgb

    def dask_levels(self) -> list:
        """Every level as a lazy dask array (for napari's multiscale layers)."""
        import dask.array as da  # noqa: PLC0415

        return [da.from_array(lv, chunks=lv.chunks, fancy=False) if hasattr(lv, "chunks") else lv
                for lv in self.levels]

    def close(self) -> None:
        if self._closer is not None:
            self._closer.close()
            self._closer = None

    def __enter__(self) -> "Slide":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_SAID: set = set()  # (slide, "planes" or "images"): what was already said of a slide


class _RGBView:
    """A lazy (H, W, 3) uint8 view of a zarr level whose axes are e.g. YXS, CYX or IYXS."""

    def __init__(self, arr, axes: str, path: Path):
        self.arr, self.axes = arr, axes
        dims = dict(zip(axes, arr.shape))
        self.channel_axis = next((a for a in "SC" if a in dims and dims[a] > 1), None)
        n = dims.get(self.channel_axis, 1) if self.channel_axis else 1
        if n not in (1, 3, 4):
            raise DatasetError(f"{path}: a slide must be RGB, got {count(n, 'channel')} (axes {axes})")
        if arr.dtype != np.uint8:
            raise DatasetError(f"{path}: only 8-bit RGB slides are supported, got {arr.dtype}; save it as 8-bit RGB")
        planes = [f"{a}={k}" for a, k in dims.items() if a not in ("Y", "X", self.channel_axis) and k > 1]
        if planes and (str(path), "planes") not in _SAID:  # a z-stack or time series: one plane is measured, said once
            _SAID.add((str(path), "planes"))
            warnings.warn(f"{path}: the slide holds several planes ({', '.join(planes)}; axes {axes}); reading the "
                          "first", ImageConversionWarning, stacklevel=4)
        self.n_channels = n
        self.shape = (dims["Y"], dims["X"], 3)
        self.dtype = np.dtype(np.uint8)
        ch = dict(zip(axes, getattr(arr, "chunks", arr.shape)))
        self.chunks = (ch["Y"], ch["X"], 3)
        self.ndim = 3

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (3 - len(key))
        ys, xs = key[0], key[1]
        index, kept = [], []
        for a in self.axes:
            if a == "Y":
                index.append(ys)
                kept.append("Y")
            elif a == "X":
                index.append(xs)
                kept.append("X")
            elif a == self.channel_axis:
                index.append(slice(None))
                kept.append("C")
            else:
                index.append(0)
        out = np.asarray(self.arr[tuple(index)])
        if isinstance(ys, (int, np.integer)):
            kept.remove("Y")
        if isinstance(xs, (int, np.integer)):
            kept.remove("X")
        if "C" not in kept:
            out = out[..., None]
            kept.append("C")
        out = np.moveaxis(out, kept.index("C"), -1)
        if self.n_channels == 1:
            out = np.repeat(out, 3, axis=-1)
        elif self.n_channels == 4:
            out = out[..., :3]
        return out[(Ellipsis, key[2])] if key[2] != slice(None) else out


def _largest_series(tif, path: Path):
    def area(s):
        d = dict(zip(s.axes, s.shape))
        return d.get("Y", 0) * d.get("X", 0)

    series = [s for s in tif.series if not _is_side_image(s)] or list(tif.series)
    chosen = max(series, key=area)
    others = [s for s in series if s is not chosen]
    if tif.is_ome and others and (str(path), "images") not in _SAID:  # several scenes in one OME-TIFF: one is measured
        _SAID.add((str(path), "images"))  # once per slide, not at every block's opening
        h, w = (dict(zip(chosen.axes, chosen.shape))[a] for a in "YX")
        warnings.warn(f"{path}: the OME-TIFF holds {len(series)} images; reading the largest, "
                      f"{chosen.name or 'series ' + str(chosen.index)} ({w}x{h} px); save each image to measure "
                      "as its own file", ImageConversionWarning, stacklevel=4)
    return chosen


def _is_side_image(series) -> bool:
    """A scanner's label, macro or thumbnail picture beside the slide (``Label``, ``macro image``...)."""
    name = (series.name or "").lower()
    return any(k in name for k in ("label", "macro", "thumbnail", "overview"))


def _plausible(mpp: float | None) -> float | None:
    if mpp is None or not np.isfinite(mpp) or not MPP_RANGE[0] <= mpp <= MPP_RANGE[1]:
        return None
    return float(mpp)


def tiff_slide_mpp(tif, page=None) -> float | None:
    """µm per pixel from Aperio ``MPP``, OME ``PhysicalSizeX``, Ventana ``ScanRes`` or the
    resolution tags (Hamamatsu, Leica and most others), in that order; None when none is stated."""
    page = page or tif.pages.first
    desc = page.description or ""
    m = re.search(r"\|\s*MPP\s*=\s*([0-9.eE+-]+)", desc)
    if m:
        return _plausible(float(m.group(1)))
    um = ome_pixel_size_um(tif)
    if um is not None:
        return _plausible(um)
    xmp = page.tags.get("XMP")
    if xmp is not None:
        text = xmp.value.decode("utf-8", "replace") if isinstance(xmp.value, bytes) else str(xmp.value)
        m = re.search(r'ScanRes="([0-9.eE+-]+)"', text)
        if m:
            return _plausible(float(m.group(1)))
    return _plausible(resolution_pixel_size_um(tif, page))


def _open_tiff(path: Path) -> Slide:
    import tifffile  # noqa: PLC0415
    import zarr  # noqa: PLC0415

    try:
        tif = tifffile.TiffFile(path)
    except Exception as exc:  # noqa: BLE001
        raise DatasetError(f"{path}: not a readable TIFF slide ({exc})") from exc
    try:
        series = _largest_series(tif, path)
        if "Y" not in series.axes or "X" not in series.axes:
            raise DatasetError(f"{path}: no 2-D image in this file (axes {series.axes})")
        levels = []
        for k, lv in enumerate(series.levels):
            z = zarr.open_array(series.aszarr(level=k), mode="r")
            levels.append(_RGBView(z, lv.axes, path))
        vendor = next((k for k in ("svs", "ndpi", "scn", "bif", "ome") if getattr(tif, f"is_{k}", False)), "tiff")
        mpp = tiff_slide_mpp(tif, series.levels[0].keyframe)
    except DatasetError:
        tif.close()
        raise
    except Exception as exc:  # noqa: BLE001 (codec or structure the reader does not know)
        tif.close()
        raise DatasetError(f"{path}: cannot open as a slide ({exc})") from exc
    return Slide(path, levels, mpp, vendor, tif)


class _OpenSlideLevel:
    def __init__(self, osr, level: int):
        self.osr, self.level = osr, level
        w, h = osr.level_dimensions[level]
        self.down = osr.level_downsamples[level]
        self.shape, self.dtype, self.chunks, self.ndim = (h, w, 3), np.dtype(np.uint8), (512, 512, 3), 3

    def __getitem__(self, key):
        ys, xs = key[0], key[1]
        r0, r1, _ = ys.indices(self.shape[0])
        c0, c1, _ = xs.indices(self.shape[1])
        img = self.osr.read_region((round(c0 * self.down), round(r0 * self.down)), self.level, (c1 - c0, r1 - r0))
        rgba = np.asarray(img)
        alpha = rgba[..., 3:4].astype(np.float32) / 255.0
        return (rgba[..., :3] * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)


def _open_openslide(path: Path) -> Slide:
    try:
        import openslide  # noqa: PLC0415
    except ImportError:
        raise DatasetError(f"{path}: {_suffix(path)} slides need OpenSlide: pip install 'napari-steatosis[openslide]'") \
            from None
    try:
        osr = openslide.OpenSlide(str(path))
    except Exception as exc:  # noqa: BLE001
        raise DatasetError(f"{path}: OpenSlide cannot open it ({exc})") from exc
    mpp = osr.properties.get(openslide.PROPERTY_NAME_MPP_X)
    return Slide(path, [_OpenSlideLevel(osr, k) for k in range(osr.level_count)],
                 _plausible(float(mpp)) if mpp else None, osr.properties.get(openslide.PROPERTY_NAME_VENDOR, "openslide"),
                 osr)


def open_slide(path: str | os.PathLike, warn_no_mpp: bool = True) -> Slide:
    """Open a slide lazily (metadata only). Says once, as a warning, when it states no pixel size."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: file not found")
    if not path.is_file() or path.stat().st_size == 0:
        raise DatasetError(f"{path}: not a file or empty")
    slide = _open_openslide(path) if _suffix(path) in OPENSLIDE_SUFFIXES else _open_tiff(path)
    if warn_no_mpp and slide.mpp is None:
        warnings.warn(f"{path}: the slide states no pixel size; sizes are in pixels (give --pixel-size to set one)",
                      PixelSizeWarning, stacklevel=2)
    return slide
