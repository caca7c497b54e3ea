"""Synthetic whole slides of any size, written tile by tile, with their truth masks.

A few generated fields (``data.synthetic.generate_image``) are laid over the slide, each block a
field in one of its 8 mirror/rotation poses, so a slide of 10^9 px costs a few fields to paint and
memory holds a band of tiles. A quarter of the slide (top right, with a wavy edge) and a border
are glass. The slide is a pyramidal OME-TIFF with JPEG tiles and its pixel size set; the truth
masks go to ``truth/<stem>.steatosis.ome.tif`` and ``truth/<stem>.fibrosis.ome.tif`` beside it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import SteatosisError
from .pyramid import write_pyramid
from .slides import image_stem
from .synthetic import _GLASS, _palette, generate_image

SYNTHETIC_MPP = 0.9  # µm per pixel: generated hepatocytes are 24-32 px, ~22-29 µm as in real liver


def _pose(field: np.ndarray, k: int) -> np.ndarray:
    return np.rot90(field[:, ::-1] if k >= 4 else field, k % 4)


class SyntheticSlide:
    """Tile reader of a synthetic slide: ``rgb(r0, r1, c0, c1)``, ``truth(kind, r0, r1, c0, c1)``."""

    def __init__(self, shape, seed: int = 0, stain: str = "trichrome", field: int = 1024, pool: int = 4,
                 glass_quarter: bool = True, border: int | None = None, progress=None):
        H, W = (int(v) for v in shape)
        if H < 256 or W < 256:
            raise SteatosisError(f"a synthetic slide must be at least 256x256 px, got {W}x{H}")
        if field % 512:
            raise SteatosisError(f"field size {field} must be a multiple of 512")
        self.shape, self.field = (H, W), field
        rng = np.random.default_rng(seed)
        pal = _palette(stain, rng)
        self.fields = []
        for k in range(pool):
            img = generate_image(rng, (field, field), stain, float(rng.uniform(0.03, 0.35)),
                                 float(rng.uniform(0.02, 0.12)), pal, glass_edge=False)
            self.fields.append(dict(rgb=img.rgb, steatosis=img.steatosis, fibrosis=img.fibrosis))
            if progress:
                progress(k + 1, pool)
        nb = (-(-H // field), -(-W // field))
        self.choice = rng.integers(0, pool, nb)
        self.pose = rng.integers(0, 8, nb)
        self.border = max(16, min(H, W) // 40) if border is None else border
        self.glass_quarter = glass_quarter
        self.phase = rng.uniform(0, 2 * np.pi, 2)

    def glass(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Glass (True) in [r0:r1, c0:c1]: the border and, if asked, the top-right quarter with a wavy edge."""
        H, W = self.shape
        rr = np.arange(r0, r1)[:, None]
        cc = np.arange(c0, c1)[None, :]
        b = self.border
        g = (rr < b) | (rr >= H - b) | (cc < b) | (cc >= W - b)
        if self.glass_quarter:
            amp = min(H, W) / 60
            edge_r = H / 2 + amp * np.sin(cc / (W / 7) + self.phase[0])
            edge_c = W / 2 + amp * np.sin(rr / (H / 7) + self.phase[1])
            g = g | ((rr < edge_r) & (cc >= edge_c))
        return g

    def _tile(self, key: str, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        f = self.field
        i, j = r0 // f, c0 // f
        if (r1 - 1) // f != i or (c1 - 1) // f != j:
            raise SteatosisError("a tile must lie within one field")
        src = _pose(self.fields[self.choice[i, j]][key], self.pose[i, j])
        return np.array(src[r0 - i * f:r1 - i * f, c0 - j * f:c1 - j * f])

    def rgb(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        tile = self._tile("rgb", r0, r1, c0, c1)
        g = self.glass(r0, r1, c0, c1)
        noise = np.random.default_rng((r0, c0)).normal(0, 2.0, (r1 - r0, c1 - c0, 1)).astype(np.float32)
        tile[g] = np.clip(_GLASS + noise[g], 0, 255).astype(np.uint8)
        return tile

    def truth(self, kind: str, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        return np.where(self._tile(kind, r0, r1, c0, c1) & ~self.glass(r0, r1, c0, c1), 255, 0).astype(np.uint8)


def write_synthetic_slide(path: str | os.PathLike, shape: tuple[int, int], seed: int = 0, stain: str = "trichrome",
                          mpp: float = SYNTHETIC_MPP, field: int | None = None, pool: int = 4, truth: bool = True,
                          quality: int = 85, glass_quarter: bool = True,
                          progress: Callable[[str, int, int], None] | None = None) -> dict[str, Path]:
    """Write a synthetic slide (``.ome.tif``) and, with ``truth``, its masks; ``{name: path}``.

    ``field``: side of the generated fields laid over it (default 512 px up to 2048 px slides, else 1024)."""
    field = field or (512 if max(shape) <= 2048 else 1024)
    path = Path(path)
    if not path.name.lower().endswith((".ome.tif", ".ome.tiff")):
        raise SteatosisError(f"{path}: a synthetic slide is an OME-TIFF; name it <name>.ome.tif")
    path.parent.mkdir(parents=True, exist_ok=True)
    slide = SyntheticSlide(shape, seed, stain, field, pool, glass_quarter,
                           progress=(lambda d, t: progress("fields", d, t)) if progress else None)
    step = lambda name: (lambda d, t: progress(name, d, t)) if progress else None  # noqa: E731
    stem = image_stem(path)
    written = dict(slide=write_pyramid(path, slide.shape, slide.rgb, rgb=True, mpp=mpp, compression="jpeg",
                                       quality=quality, downsample="area", name=stem, progress=step("slide")))
    if truth:
        (path.parent / "truth").mkdir(exist_ok=True)
        for kind in ("steatosis", "fibrosis"):
            written[kind] = write_pyramid(path.parent / "truth" / f"{stem}.{kind}.ome.tif", slide.shape,
                                          lambda *box, k=kind: slide.truth(k, *box), mpp=mpp,
                                          name=f"{stem} {kind} truth", progress=step(kind))
    return written
