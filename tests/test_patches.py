"""Training patches (no TensorFlow): vacuoles of every size, white look-alikes, stain and scanner
augmentation, the working scale; the schedule and the working-scale rule of training."""

import cv2
import numpy as np
import pytest

from napari_steatosis.unet.patches import PatchSampler, degrade, jitter_stain
from napari_steatosis.unet.train import choose_working_scale, lr_at


def _image_with(big=1, small=20, white_disk=False):
    img = np.full((600, 600, 3), (200, 120, 180), np.uint8)
    mask = np.zeros((600, 600), np.uint8)
    cv2.circle(mask, (150, 150), 90, 1, -1)  # one huge vacuole: most of the fat pixels
    rng = np.random.default_rng(0)
    for k in range(small):
        cv2.circle(mask, (int(350 + 12 * (k % 10) * 2), int(350 + 40 * (k // 10))), 3, 1, -1)
    img[mask > 0] = 245
    if white_disk:
        cv2.circle(img, (480, 120), 25, (245, 245, 245), -1)  # white, not fat
    return img, mask.astype(bool)


def test_fat_patches_reach_small_vacuoles_not_only_the_big_one():
    img, mask = _image_with()
    s = PatchSampler([img], [mask], fg_fraction=1.0)
    rng = np.random.default_rng(1)
    centres = np.array([s._centre(rng, 0) for _ in range(400)])
    near_small = (centres[:, 0] > 300) & (centres[:, 1] > 300)
    # per pixel only ~1 % of the fat is in the small ones; by vacuole, 20 of 21
    assert near_small.mean() > 0.3


def test_white_look_alikes_get_patches():
    img, mask = _image_with(white_disk=True)
    s = PatchSampler([img], [mask], fg_fraction=0.0, white_fraction=1.0)
    rng = np.random.default_rng(2)
    centres = np.array([s._centre(rng, 0) for _ in range(100)])
    assert (np.hypot(centres[:, 0] - 120, centres[:, 1] - 480) < 45).mean() > 0.9


def test_working_scale_zooms_the_patches_out():
    img, mask = _image_with(small=0)  # one vacuole, 180 px across
    share = {}
    for scale in (1.0, 0.5):
        s = PatchSampler([img], [mask], fg_fraction=1.0, scale_range=(1, 1), scale=scale, colour_jitter=False)
        rng = np.random.default_rng(4)
        share[scale] = np.mean([s.sample(rng, 0)[1].mean() for _ in range(20)])
    # at half scale each output pixel covers 4x the tissue: the vacuole fills less of the patch
    assert share[0.5] < 0.6 * share[1.0]


def test_stain_and_scanner_augmentation_keep_the_picture():
    img, _ = _image_with()
    rng = np.random.default_rng(5)
    patch = img[:268, :268].copy()
    j = jitter_stain(patch, rng)
    assert j.shape == patch.shape and j.dtype == np.uint8
    assert not np.array_equal(j, patch) and np.abs(j.astype(int) - patch).mean() < 40
    assert j[150, 150].min() > 200  # white stays white(ish): no optical density to scale
    d = degrade(patch, np.random.default_rng(0))
    assert d.shape == patch.shape and d.dtype == np.uint8


def test_working_scale_rule_and_learning_rate_schedule():
    small = np.zeros((300, 300), np.uint8)
    for k in range(9):
        cv2.circle(small, (30 + 30 * (k % 3), 30 + 30 * (k // 3)), 8, 1, -1)
    big = np.zeros((400, 400), np.uint8)
    cv2.circle(big, (200, 200), 80, 1, -1)  # 160 px across -> 40 / 160
    assert choose_working_scale([small]) == 1.0
    assert choose_working_scale([big]) == 0.25
    cv2.circle(big, (200, 200), 40, 1, -1)
    assert choose_working_scale([np.zeros((50, 50), np.uint8)]) == 1.0
    lrs = [lr_at(f, 1e-3, 0.1) for f in np.linspace(0, 1, 101)]
    assert lrs[0] < lrs[5] < lrs[10] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] == pytest.approx(5e-5)
