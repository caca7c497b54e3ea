"""Training patches: randomly rotated and flipped 268x268 crops with the mask's 148x148 centre.

Rotation resamples the image linearly and the mask by nearest neighbour with the same
transform, so the mask never smears and stays aligned with the pixels. Where a patch is centred:

- ``fg_fraction`` of the patches on labelled fat, half of those on a fat pixel (so large
  vacuoles are seen whole) and half on a vacuole drawn uniformly among the vacuoles (so the
  many small ones count as much as the few big ones);
- ``white_fraction`` on white regions that are *not* labelled fat (vessels, tears, sinusoids,
  clear cytoplasm): the look-alikes that cost precision on real slides;
- the rest anywhere.

Each patch is resampled at the model's working scale times a random zoom, and (``augment``)
stain-jittered in haematoxylin-eosin optical density space, blurred, JPEG-compressed or
noised, because stain, focus and compression differ between labs far more than tissue does.
Patches are made on the fly, batch by batch.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..magnification import HED, HED_INV, optical_density
from ..preprocess import percentile_normalize
from . import IN_MARGIN, PATCH


def prepare_image(rgb: np.ndarray, limits: tuple[int, int] | None = None) -> np.ndarray:
    """What the network sees of an image, at training and at prediction alike (``limits``: a
    slide's grey normalisation levels, measured once for all its blocks)."""
    return percentile_normalize(rgb, limits=limits)


def rotated_patch(image: np.ndarray, mask: np.ndarray, centre_rc, angle_deg: float, flip: bool,
                  size: int = PATCH, margin: int = IN_MARGIN, scale: float = 1.0):
    """The ``size`` patch around ``centre_rc`` rotated by ``angle_deg`` (and mirrored if ``flip``),
    and the matching ``size - 2 * margin`` centre of the mask. ``scale`` > 1 zooms out (the patch
    covers ``scale`` times more tissue), < 1 zooms in: magnifications differ between scanners."""
    a = np.deg2rad(angle_deg)
    c, s = np.cos(a), np.sin(a)
    fx = -1.0 if flip else 1.0
    half = (size - 1) / 2.0
    # destination (u, v) -> source (x, y): rotate the mirrored, centred coordinates, then shift
    m = np.array([[c * fx, -s, 0.0], [s * fx, c, 0.0]]) * scale
    m[:, 2] = [centre_rc[1], centre_rc[0]] - m[:, :2] @ [half, half]
    flags = cv2.WARP_INVERSE_MAP
    img = cv2.warpAffine(image, m, (size, size), flags=flags | cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    msk = cv2.warpAffine(mask, m, (size, size), flags=flags | cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101)
    return img, msk[margin:size - margin, margin:size - margin]


def jitter_colour(patch: np.ndarray, rng: np.random.Generator, hue=8, sat=(0.7, 1.3), val=(0.85, 1.15)) -> np.ndarray:
    """Hue, saturation and brightness jitter (stains differ between labs and slides)."""
    hsv = cv2.cvtColor(patch, cv2.COLOR_RGB2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + rng.integers(-hue, hue + 1)) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(*sat), 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(*val), 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)




def jitter_stain(patch: np.ndarray, rng: np.random.Generator, sigma: float = 0.05, bias: float = 0.02) -> np.ndarray:
    """Scale and shift each stain's optical density (haematoxylin, eosin, residual) independently:
    one slide is bluer, another pinker or paler, as between labs (Tellez et al. 2018)."""
    od = optical_density(patch)
    conc = od.reshape(-1, 3) @ HED_INV
    conc = conc * rng.uniform(1 - 3 * sigma, 1 + 3 * sigma, 3).astype(np.float32) \
        + rng.uniform(-bias, bias, 3).astype(np.float32)
    od = np.maximum(conc @ HED, 0).reshape(patch.shape)
    return np.clip(256.0 * np.exp(-od) - 1.0, 0, 255).astype(np.uint8)


def degrade(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Scanner and file artefacts: out-of-focus blur, JPEG compression, sensor noise (each sometimes)."""
    if rng.random() < 0.3:
        patch = cv2.GaussianBlur(patch, (0, 0), rng.uniform(0.5, 1.8))
    if rng.random() < 0.3:
        ok, buf = cv2.imencode(".jpg", patch, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        patch = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if rng.random() < 0.2:
        patch = np.clip(patch + rng.normal(0, rng.uniform(2, 8), patch.shape), 0, 255).astype(np.uint8)
    return patch


def white_not_fat(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pixels of white regions that are not labelled fat (and not at a labelled vacuole's rim)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    white = cv2.inRange(hsv, (0, 0, 190), (180, 45, 255)) > 0
    near_fat = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    return white & ~near_fat


class PatchSampler:
    """Draws augmented patches from prepared images and their masks.

    ``scale`` is the model's working scale (0.5: the network sees images at half size);
    ``zoom_range`` is the random magnification around it."""

    def __init__(self, images, masks, fg_fraction: float = 0.5, colour_jitter: bool = True,
                 scale_range: tuple[float, float] = (0.8, 1.25), white_fraction: float = 0.0,
                 scale: float = 1.0, augment: bool = False):
        if not images:
            raise ValueError("no training images")
        self.images = [np.ascontiguousarray(i) for i in images]
        self.masks = [np.ascontiguousarray(m.astype(np.uint8)) for m in masks]
        self.fg = [np.argwhere(m > 0) for m in self.masks]
        self.vacuoles = []  # per image: one pixel list per connected vacuole
        for m, fg in zip(self.masks, self.fg):
            n, lab = cv2.connectedComponents(m, connectivity=8)
            order = np.argsort(lab[fg[:, 0], fg[:, 1]], kind="stable") if len(fg) else np.zeros(0, int)
            ids = lab[fg[order, 0], fg[order, 1]] if len(fg) else np.zeros(0, int)
            self.vacuoles.append(np.split(fg[order], np.flatnonzero(np.diff(ids)) + 1) if len(fg) else [])
        self.white = [np.argwhere(white_not_fat(i, m)) if white_fraction > 0 else np.zeros((0, 2), int)
                      for i, m in zip(self.images, self.masks)]
        self.fg_fraction = fg_fraction
        self.white_fraction = white_fraction
        self.colour_jitter = colour_jitter
        self.augment = augment
        self.log_scale = np.log(scale_range)
        self.scale = float(scale)

    def _centre(self, rng, k):
        img, fg, white = self.images[k], self.fg[k], self.white[k]
        u = rng.random()
        if len(fg) and u < self.fg_fraction:
            if rng.random() < 0.5:
                vac = self.vacuoles[k][rng.integers(len(self.vacuoles[k]))]
                pixel = vac[rng.integers(len(vac))]
            else:
                pixel = fg[rng.integers(len(fg))]
            return pixel + rng.normal(0, 20 / self.scale, 2)
        if len(white) and u < self.fg_fraction + self.white_fraction:
            return white[rng.integers(len(white))] + rng.normal(0, 5 / self.scale, 2)
        return rng.uniform(0, img.shape[0]), rng.uniform(0, img.shape[1])

    def sample(self, rng: np.random.Generator, index: int | None = None):
        k = int(rng.integers(len(self.images))) if index is None else index
        centre = self._centre(rng, k)
        zoom = float(np.exp(rng.uniform(*self.log_scale))) / self.scale
        patch, out = rotated_patch(self.images[k], self.masks[k], centre, rng.uniform(0, 360),
                                   bool(rng.random() < 0.5), scale=zoom)
        if self.augment and rng.random() < 0.8:
            patch = jitter_stain(patch, rng)
        if self.colour_jitter:
            patch = jitter_colour(patch, rng)
        if self.augment:
            patch = degrade(patch, rng)
        return patch, out

    def batch(self, rng: np.random.Generator, size: int):
        xs, ys = zip(*(self.sample(rng) for _ in range(size)))
        return np.stack(xs).astype(np.float32), np.stack(ys)[..., None].astype(np.float32)
