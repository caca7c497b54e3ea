"""How big a pixel is, from the image alone: the size of its nuclei.

A field whose pixel size nobody wrote down still carries a ruler: hepatocyte nuclei are about
6-10 µm across (NUCLEUS_UM) in every liver, at every magnification. The nuclei are found in the
haematoxylin channel (colour deconvolution, Ruifrok & Johnston's vectors), dark compact blobs
above Otsu's level; each blob's size is twice its largest inscribed radius (so that two touching
nuclei still measure as one) and the field's nucleus diameter is the median over the blobs of
plausible shape. With it:

- :func:`nucleus_diameter_px`: the median nucleus diameter in pixels (or a :class:`SteatosisError`
  saying why it cannot: too few nuclei, no haematoxylin), of one image or pooled over a few crops
  of a whole slide;
- :func:`estimate_pixel_size_um`: µm per pixel, taking nuclei as NUCLEUS_UM across;
- :func:`scale_to_nuclei`: the resize factor that brings the image's nuclei into a reference
  range (a U-Net's card records the nucleus diameters of its training images at its working
  scale, measured by this same function, so the biases of the measurement cancel).

It is a rough ruler (about ±20 % on resampled fields, see tests/test_magnification.py): good for
picking a network's scale, not for reporting sizes in µm.
"""

from __future__ import annotations

import numpy as np

from .errors import SteatosisError
from .words import count

# hepatocyte nuclei are 6-10 µm; this measure reads 6.4-7.8 µm (median 7.2) on the four GTEx H&E
# fields of shared/real-tiles, whose pixel size is known (0.494 µm)
NUCLEUS_UM = 7.2
MIN_NUCLEI = 15  # fewer blobs than this: no estimate
MIN_DIAMETER_PX = 3.0  # blobs smaller than this are specks, not nuclei
MIN_TYPICAL_PX = 5.5  # nuclei measured smaller than this are too few pixels to size (the estimate runs high)
ADVICE = "; give the pixel size or a --scale number instead"  # ends every "cannot estimate" message

# Ruifrok & Johnston's stain vectors (rows: haematoxylin, eosin, residual), optical density per RGB channel
HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], np.float32)
HED /= np.linalg.norm(HED, axis=1, keepdims=True)
HED_INV = np.linalg.inv(HED).astype(np.float32)


def optical_density(rgb: np.ndarray) -> np.ndarray:
    """-log of the transmitted light per channel (0 for white)."""
    return -np.log((np.asarray(rgb, np.float32) + 1.0) / 256.0)


def nucleus_diameters(rgb: np.ndarray, max_pixels: int = 4_000_000) -> np.ndarray:
    """The diameters (px, at the image's own size) of the nucleus-like blobs of ``rgb``."""
    import cv2  # noqa: PLC0415

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise SteatosisError(f"the magnification estimate needs an RGB image, got shape {rgb.shape}")
    step = max(1, int(np.ceil(np.sqrt(rgb.shape[0] * rgb.shape[1] / max_pixels))))
    if step > 1:  # a big field: its centre region, at full resolution (nuclei stay resolved)
        h, w = rgb.shape[:2]
        side = int(np.sqrt(max_pixels))
        r0, c0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
        rgb = rgb[r0:r0 + side, c0:c0 + side]
    od = optical_density(rgb)
    hx = (od.reshape(-1, 3) @ HED_INV[:, 0]).reshape(od.shape[:2])
    stained = od.sum(axis=2) > 0.3  # not glass, not vacuoles: Otsu then parts nuclei from cytoplasm
    if stained.sum() < 1000:
        return np.zeros(0)
    lo, hi = np.percentile(hx[stained], [1, 99.8])
    if hi - lo < 0.1:
        return np.zeros(0)
    h8 = np.clip((hx - lo) / (hi - lo) * 255, 0, 255).astype(np.uint8)
    # smooth in proportion to the nuclei (chromatin texture would split them): a first pass at
    # 1 px, then again at a tenth of what it found, until the size settles
    d, sigma = np.zeros(0), 1.0
    for _ in range(3):
        d = _blob_diameters(cv2.GaussianBlur(h8, (0, 0), sigma), stained)
        if len(d) == 0:
            break
        new = float(np.clip(typical(d) / 10, 0.7, 8.0))
        if abs(new - sigma) < 0.1 * sigma:
            break
        sigma = new
    return d


def typical(d: np.ndarray) -> float:
    """The area-weighted median of diameters ``d``: specks of stain, many but small, barely count."""
    d = np.sort(np.asarray(d, float))
    w = np.cumsum(d ** 2)
    return float(d[np.searchsorted(w, 0.5 * w[-1])])


def _blob_diameters(h8: np.ndarray, stained: np.ndarray) -> np.ndarray:
    import cv2  # noqa: PLC0415

    level, _ = cv2.threshold(h8[stained].reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    blobs = (h8 > level).astype(np.uint8)
    dist = cv2.distanceTransform(blobs, cv2.DIST_L2, 5)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(blobs, connectivity=8)
    if n <= 1:
        return np.zeros(0)
    inscribed = np.zeros(n, np.float32)
    np.maximum.at(inscribed, lab.ravel(), dist.ravel())
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float32)
    bw, bh = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    d = np.sqrt(4 * area / np.pi)  # equivalent diameter
    # single nuclei: compact (a disc's inscribed diameter is its equivalent diameter; merged
    # nuclei, bands and fibre networks have much more area than their inscribed disc), not a thread
    single = (d <= 1.6 * (2 * inscribed + 1)) & (np.minimum(bw, bh) >= 0.5 * np.maximum(bw, bh))
    keep = single & (d >= MIN_DIAMETER_PX)
    keep[0] = False
    return d[keep]


def nucleus_diameter_px(rgb, name: str | None = "image") -> float:
    """The typical nucleus diameter of ``rgb`` in pixels; SteatosisError (starting with ``name``,
    when given) when it cannot be measured.

    ``rgb`` may be a list of fields of one image (crops of a whole slide): their blobs are pooled
    and measured as one image's (the fields that are not H&E, by their own stain, are left out)."""
    at = f"{name}: " if name else ""
    from .stain import detect_stain  # noqa: PLC0415

    fields = list(rgb) if isinstance(rgb, (list, tuple)) else [rgb]
    guesses = [detect_stain(f) for f in fields]
    fields = [f for f, g in zip(fields, guesses) if g.stain in ("he", "uncertain")]
    if not fields:
        raise SteatosisError(f"{at}cannot estimate the magnification of a {guesses[0].name} image (nuclei are "
                             f"measured in the haematoxylin of H&E){ADVICE}")
    d = np.concatenate([nucleus_diameters(f) for f in fields])
    if len(d) < MIN_NUCLEI:
        raise SteatosisError(f"{at}cannot estimate the magnification, found {count(len(d), 'nucleus-like blob')} "
                             f"(need {MIN_NUCLEI}){ADVICE}")
    size = typical(d)
    if size < MIN_TYPICAL_PX:
        raise SteatosisError(f"{at}cannot estimate the magnification, the nuclei are about {size:.1f} px across, "
                             f"too few pixels to measure{ADVICE}")
    return size


def estimate_pixel_size_um(rgb: np.ndarray, name: str | None = "image", nucleus_um: float = NUCLEUS_UM) -> float:
    """µm per pixel, taking the median nucleus as ``nucleus_um`` across (a rough ruler)."""
    return nucleus_um / nucleus_diameter_px(rgb, name)


def scale_to_nuclei(rgb, low_px: float, high_px: float | None = None, base: float = 1.0,
                    name: str | None = "image", limits: tuple[float, float] = (0.05, 4.0)) -> float:
    """The factor to resize ``rgb`` (an image, or a list of crops of one: see :func:`nucleus_diameter_px`)
    by so that its nuclei measure between ``low_px`` and ``high_px`` (one number: exactly that): ``base`` when at ``base`` they already do, else the factor that
    brings them to the nearer end (clipped to ``limits``)."""
    high_px = low_px if high_px is None else high_px
    if not 0 < low_px <= high_px:
        raise SteatosisError(f"the reference nucleus diameters must be positive and increasing, got {low_px}, {high_px}")
    d = nucleus_diameter_px(rgb, name) * base
    return float(np.clip(base * min(max(d, low_px), high_px) / d, *limits))
