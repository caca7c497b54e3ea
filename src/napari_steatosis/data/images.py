"""Reading and writing images and masks with checks and clear messages.

Every image comes back as an ``(H, W, 3) uint8`` RGB array; every mask as an ``(H, W) bool``
array. Anything else is converted with a warning, or refused with an error naming the file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import tifffile

from ..errors import DatasetError, ImageConversionWarning
from .atomic import atomic_write

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
MASK_SUFFIXES = (".png", ".tif", ".tiff")
# micrometres per unit, as OME and ImageJ (Fiji) spell the units of a pixel size
UNIT_UM = {"µm": 1.0, "μm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0, "nm": 1e-3, "mm": 1e3, "cm": 1e4}
RESOLUTION_UNIT_UM = {2: 25400.0, 3: 10000.0}  # TIFF ResolutionUnit: inch, centimetre
RGBA_NOTE = "RGBA image converted to RGB (transparent pixels shown as white glass)"
BIT_DEPTHS = (8, 10, 12, 14, 16)  # what cameras write into 16-bit files, smallest first


def _load_raw(path: Path) -> tuple[np.ndarray, int | None]:
    """The file's pixels, and the bits per sample its header states (TIFF only, else None)."""
    if not path.exists():
        raise DatasetError(f"{path}: file not found")
    if not path.is_file():
        raise DatasetError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: file is empty")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise DatasetError(f"{path}: unsupported image type {suffix!r} (use one of {', '.join(IMAGE_SUFFIXES)})")
    bits = None
    try:
        if suffix in (".tif", ".tiff"):
            arr, bits = _read_tiff(path)
        else:
            # JPEG: turned upright by its EXIF Orientation, as every photo viewer shows it (cv2 applies the
            # tag unless told IMREAD_UNCHANGED); PNG: as stored, 16 bits and alpha kept
            flags = cv2.IMREAD_ANYCOLOR if suffix in (".jpg", ".jpeg") else cv2.IMREAD_UNCHANGED
            arr = cv2.imread(str(path), flags)
            if arr is None:
                raise ValueError("OpenCV could not decode it")
            if arr.ndim == 3 and arr.shape[2] == 3:
                arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
            elif arr.ndim == 3 and arr.shape[2] == 4:
                arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    except DatasetError:
        raise
    except Exception as exc:  # any decoder failure is the file's fault
        raise DatasetError(f"{path}: cannot read image ({exc})") from exc
    arr = np.asarray(arr)
    if arr.size == 0:
        raise DatasetError(f"{path}: image has no pixels")
    return arr, bits


def _read_tiff(path: Path) -> tuple[np.ndarray, int | None]:
    """One RGB (or grey) image out of a TIFF, decoded by what its tags say; a stack is refused by name."""
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]  # a second series is another image (or a thumbnail): said, not read
        if len(tif.series) > 1:
            warnings.warn(f"{path}: the TIFF holds {len(tif.series)} images; reading the first "
                          f"({'x'.join(map(str, series.shape))}, axes {series.axes})", ImageConversionWarning,
                          stacklevel=4)
        page = series.keyframe
        dims = dict(zip(series.axes, series.shape))
        planes = [f"{a}={n}" for a, n in dims.items() if a not in "YXS" and n > 1
                  and not (a == "C" and n in (3, 4) and "S" not in dims)]  # (3, H, W): planar RGB, one image
        if planes:
            kind = "an ImageJ hyperstack" if tif.is_imagej else "a stack"
            raise DatasetError(f"{path}: {kind} of several images ({', '.join(planes)}; axes {series.axes}); "
                               "save the one image to measure as its own RGB TIFF (Fiji: Image > Duplicate)")
        photometric = int(page.photometric)
        if photometric == 5:
            raise DatasetError(f"{path}: a CMYK (print) TIFF; save it as RGB to measure it")
        if photometric == 6 and int(page.compression) not in (6, 7):  # tifffile decodes YCbCr only inside JPEG
            raise DatasetError(f"{path}: an uncompressed YCbCr TIFF, which is not decoded here; save it as RGB")
        if photometric not in (0, 1, 2, 3, 6):
            raise DatasetError(f"{path}: a TIFF of photometric {page.photometric.name}, not RGB or grey; "
                               "save it as RGB")
        arr = np.squeeze(series.asarray())
        bits = int(page.bitspersample)
        if photometric == 0 and arr.dtype == bool:  # MINISWHITE: 0 is white
            arr = ~arr
        elif photometric == 0:
            arr = (np.iinfo(arr.dtype).max if bits >= 8 * arr.itemsize else 2**bits - 1) - arr
        elif photometric == 3:  # palette: indices into a 16-bit colour map
            arr = (np.moveaxis(page.colormap, 0, -1)[arr] // 257).astype(np.uint8)
        extras = tuple(int(e) for e in page.extrasamples)
        if extras and arr.ndim == 3 and arr.shape[-1] > 3:
            arr = _drop_extra_samples(arr, extras, path)
        orientation = int(page.tags.valueof("Orientation", 1))
    if orientation != 1:  # upright as viewers show it, as for a JPEG's EXIF tag
        arr = _upright(_channels_last(arr), orientation)  # planar RGB: rows and columns first
    return arr, bits


def _channels_last(arr: np.ndarray) -> np.ndarray:
    """A channels-first (3 or 4, H, W) array, as planar TIFFs hold it, as (H, W, 3 or 4); others as they are."""
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (3, 4):
        return np.moveaxis(arr, 0, -1)
    return arr


def _upright(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Rows and columns turned as the TIFF/EXIF Orientation (2-8) says (PIL's ``exif_transpose``)."""
    turns = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
             5: lambda a: np.swapaxes(a, 0, 1), 6: lambda a: np.rot90(a, -1),
             7: lambda a: np.swapaxes(a[::-1, ::-1], 0, 1), 8: lambda a: np.rot90(a, 1)}
    return np.ascontiguousarray(turns[orientation](arr)) if orientation in turns else arr


def _drop_extra_samples(arr: np.ndarray, extras: tuple, path: Path) -> np.ndarray:
    """RGB + ExtraSamples: alpha stays (composited later); an unspecified channel is not alpha and is dropped."""
    colour = arr.shape[-1] - len(extras)
    if extras[0] == 1:  # associated alpha: colours premultiplied, shown over white glass here
        top = float(np.iinfo(arr.dtype).max) if np.issubdtype(arr.dtype, np.integer) else 1.0
        alpha = arr[..., colour:colour + 1].astype(np.float32) / top
        warnings.warn(f"{path}: {RGBA_NOTE}", ImageConversionWarning, stacklevel=5)
        return np.clip(arr[..., :colour] + top * (1 - alpha) + (0.5 if top > 1 else 0), 0, top).astype(arr.dtype)
    if extras[0] == 2:
        return arr[..., :colour + 1]
    warnings.warn(f"{path}: {len(extras)} extra channel(s) beside RGB (not alpha) ignored", ImageConversionWarning,
                  stacklevel=5)
    return arr[..., :colour]


def _uint16_to_uint8(arr: np.ndarray, path: Path, bits: int | None) -> np.ndarray:
    """A 16-bit file often holds 10-, 12- or 14-bit camera data: scaled by 65535 it turns near-black
    and every colour threshold measures the wrong thing. The range is the bits the TIFF states when under
    16, else the smallest of ``BIT_DEPTHS`` that holds the brightest value (brightfield glass is near the
    top of the camera's range, so a brightfield image that never passes 4095 is 12-bit data, not a
    very dark 16-bit one). Said once, naming the file and the rule."""
    top = int(arr.max())
    if bits is not None and bits < 16:
        why = f"the TIFF states {bits} bits per sample"
    else:
        bits = next(b for b in BIT_DEPTHS if top < 2**b)
        why = (f"its brightest value is {top}, so it is read as {bits}-bit camera data (a 16-bit scale would "
               "make it near-black)" if bits < 16 else "")
    full = 2**bits - 1
    warnings.warn(f"{path}: 16-bit image scaled to 8 bits from 0..{full}" + (f": {why}" if why else ""),
                  ImageConversionWarning, stacklevel=4)
    return ((np.minimum(arr, full).astype(np.uint32) * 255 + full // 2) // full).astype(np.uint8)


def _to_uint8(arr: np.ndarray, path: Path, bits: int | None = None) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if arr.dtype == np.uint16:
        return _uint16_to_uint8(arr, path, bits)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise DatasetError(f"{path}: image contains NaN or infinite values")
        scale = 255.0 if arr.max() <= 1.0 else 1.0
        warnings.warn(f"{path}: floating-point image converted to 8 bits", ImageConversionWarning, stacklevel=3)
        return np.clip(arr * scale, 0, 255).round().astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.min() < 0 or arr.max() > 255:
            raise DatasetError(f"{path}: integer image of type {arr.dtype} with values outside 0..255")
        return arr.astype(np.uint8)
    raise DatasetError(f"{path}: unsupported pixel type {arr.dtype}")


def to_rgb(arr: np.ndarray, name: str | os.PathLike = "image", bits: int | None = None) -> np.ndarray:
    """Bring an array to ``(H, W, 3) uint8`` RGB, warning about each conversion made.

    ``bits``: the bits per sample the file states, for 16-bit arrays holding fewer (see ``_uint16_to_uint8``)."""
    path = Path(name)
    arr = np.asarray(arr)
    arr = _to_uint8(_channels_last(arr), path, bits)
    if arr.ndim == 2:
        warnings.warn(f"{path}: grey-scale image converted to RGB", ImageConversionWarning, stacklevel=2)
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise DatasetError(f"{path}: expected an RGB image, got an array of shape {arr.shape}")
    if arr.shape[2] == 1:
        warnings.warn(f"{path}: grey-scale image converted to RGB", ImageConversionWarning, stacklevel=2)
        return np.repeat(arr, 3, axis=2)
    if arr.shape[2] == 4:
        warnings.warn(f"{path}: {RGBA_NOTE}", ImageConversionWarning, stacklevel=2)
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        rgb = arr[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        raise DatasetError(f"{path}: image of size {arr.shape[1]}x{arr.shape[0]} is too small")
    return np.ascontiguousarray(arr)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as ``(H, W, 3) uint8`` RGB."""
    path = Path(path)
    arr, bits = _load_raw(path)
    return to_rgb(arr, path, bits)


def read_mask(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask file (8-bit, nonzero = foreground) as ``(H, W) bool``.

    ``shape`` is the image's ``(H, W)``; a mask of another size is an error naming the file.
    """
    path = Path(path)
    if path.suffix.lower() not in MASK_SUFFIXES:
        raise DatasetError(f"{path}: masks must be .png or .tif, not {path.suffix!r}")
    arr, _ = _load_raw(path)
    if arr.ndim == 3:
        if arr.shape[2] in (3, 4) and all(np.array_equal(arr[:, :, 0], arr[:, :, c]) for c in (1, 2)):
            arr = arr[:, :, 0]
        elif arr.shape[2] == 1:
            arr = arr[:, :, 0]
        else:
            raise DatasetError(f"{path}: a mask must be a single-channel image, got shape {arr.shape}")
    if arr.ndim != 2:
        raise DatasetError(f"{path}: a mask must be a 2-D image, got shape {arr.shape}")
    if shape is not None and tuple(arr.shape) != tuple(shape[:2]):
        raise DatasetError(
            f"{path}: mask is {arr.shape[1]}x{arr.shape[0]} px but its image is {shape[1]}x{shape[0]} px"
        )
    return arr != 0


def _encode_and_write(path: Path, arr: np.ndarray) -> None:
    with atomic_write(path) as tmp:
        if path.suffix.lower() in (".tif", ".tiff"):
            tifffile.imwrite(tmp, arr, compression="zlib")
        else:
            out = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR) if arr.ndim == 3 else arr
            params = [cv2.IMWRITE_JPEG_QUALITY, 92] if path.suffix.lower() in (".jpg", ".jpeg") else []
            if not cv2.imwrite(str(tmp), out, params):
                raise DatasetError(f"{path}: OpenCV could not encode the image")


def write_image(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image atomically (format from the suffix)."""
    path = Path(path)
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise DatasetError(f"{path}: write_image needs an (H, W, 3) uint8 array, got {rgb.dtype} {rgb.shape}")
    _encode_and_write(path, rgb)


def write_mask(path: str | os.PathLike, mask: np.ndarray, shape: tuple[int, int] | None = None) -> None:
    """Write a mask atomically as 8-bit 0/255 (PNG or TIFF from the suffix).

    ``shape`` is the image's ``(H, W)``: a mask of another size is refused before anything
    is written, so a stale layer can never overwrite a good mask.
    """
    path = Path(path)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise DatasetError(f"{path}: a mask must be 2-D, got shape {mask.shape}")
    if shape is not None and tuple(mask.shape) != tuple(shape[:2]):
        raise DatasetError(
            f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} px but its image is {shape[1]}x{shape[0]} px; nothing written"
        )
    if path.suffix.lower() not in MASK_SUFFIXES:
        raise DatasetError(f"{path}: masks must be .png or .tif, not {path.suffix!r}")
    _encode_and_write(path, np.where(mask != 0, 255, 0).astype(np.uint8))


def tiff_pixel_size_um(path: str | os.PathLike) -> float | None:
    """Pixel size in µm from a TIFF's OME metadata, ImageJ (Fiji) calibration or resolution tags, if it says."""
    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        return None
    try:
        with tifffile.TiffFile(path) as tif:
            um = ome_pixel_size_um(tif)
            return um if um is not None else resolution_pixel_size_um(tif, tif.pages[0])
    except Exception:  # noqa: BLE001 (metadata is optional)
        return None


def ome_pixel_size_um(tif) -> float | None:
    """OME ``PhysicalSizeX`` in µm (its default unit); None when absent or in a unit not in UNIT_UM."""
    if not (tif.is_ome and tif.ome_metadata):
        return None
    import re  # noqa: PLC0415

    m = re.search(r'PhysicalSizeX="([0-9.eE+-]+)"', tif.ome_metadata)
    unit = re.search(r'PhysicalSizeXUnit="([^"]+)"', tif.ome_metadata)
    um = UNIT_UM.get(unit.group(1) if unit else "µm")
    return float(m.group(1)) * um if m and um else None


def resolution_pixel_size_um(tif, page) -> float | None:
    """µm per pixel from ``page``'s resolution tags: in Fiji's calibration unit when an ImageJ file names
    one (pixels per unit, the unit in its metadata), else per inch or centimetre; None when not stated."""
    tags = page.tags
    res, unit = tags.get("XResolution"), tags.get("ResolutionUnit")
    if res is None:
        return None
    num, den = res.value
    per_unit = num / den if den else 0
    if per_unit <= 0:
        return None
    if tif.is_imagej:
        um = UNIT_UM.get(str((tif.imagej_metadata or {}).get("unit", "")).replace("\\u00B5", "µ"))
        if um:
            return um / per_unit
    unit_um = RESOLUTION_UNIT_UM.get(int(unit.value)) if unit is not None else None
    return unit_um / per_unit if unit_um else None
