"""Training patches: randomly rotated and flipped 268x268 crops with the mask's 148x148 centre.

Rotation resamples the image linearly and the mask by nearest neighbour with the same
transform, so the mask never smears and stays aligned with the pixels. Half the patches
(``fg_fraction``) are centred on a labelled vacuole so that a field with 2 % fat still
teaches the network what fat is. Patches are made on the fly, batch by batch.
"""

from __future__ import annotations

import cv2
import numpy as np

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


class PatchSampler:
    """Draws augmented patches from prepared images and their masks."""

    def __init__(self, images, masks, fg_fraction: float = 0.5, colour_jitter: bool = True,
                 scale_range: tuple[float, float] = (0.8, 1.25)):
        if not images:
            raise ValueError("no training images")
        self.images = [np.ascontiguousarray(i) for i in images]
        self.masks = [np.ascontiguousarray(m.astype(np.uint8)) for m in masks]
        self.fg = [np.argwhere(m > 0) for m in self.masks]
        self.fg_fraction = fg_fraction
        self.colour_jitter = colour_jitter
        self.log_scale = np.log(scale_range)

    def sample(self, rng: np.random.Generator, index: int | None = None):
        k = int(rng.integers(len(self.images))) if index is None else index
        img, msk, fg = self.images[k], self.masks[k], self.fg[k]
        if len(fg) and rng.random() < self.fg_fraction:
            centre = fg[rng.integers(len(fg))] + rng.normal(0, 20, 2)
        else:
            centre = (rng.uniform(0, img.shape[0]), rng.uniform(0, img.shape[1]))
        scale = float(np.exp(rng.uniform(*self.log_scale)))
        patch, out = rotated_patch(img, msk, centre, rng.uniform(0, 360), bool(rng.random() < 0.5), scale=scale)
        if self.colour_jitter:
            patch = jitter_colour(patch, rng)
        return patch, out

    def batch(self, rng: np.random.Generator, size: int):
        xs, ys = zip(*(self.sample(rng) for _ in range(size)))
        return np.stack(xs).astype(np.float32), np.stack(ys)[..., None].astype(np.float32)
