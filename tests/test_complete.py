"""Whole vacuoles: detections completed to the white region they sit in (no TensorFlow)."""

import cv2
import numpy as np
import pytest

from napari_steatosis.classical.candidates import CandidateParams
from napari_steatosis.unet.complete import WhiteRegions, complete_to_white
from napari_steatosis.unet.detector import Detector


def _field():
    rgb = np.full((200, 200, 3), (205, 120, 180), np.uint8)
    cv2.circle(rgb, (60, 100), 40, (246, 244, 246), -1)  # a big vacuole
    cv2.circle(rgb, (160, 40), 15, (246, 244, 246), -1)  # a white look-alike the net leaves alone
    truth = np.zeros((200, 200), np.uint8)
    cv2.circle(truth, (60, 100), 40, 1, -1)
    crescent = truth.astype(bool).copy()
    crescent[:, 60:] = False  # the net marks only its left ~half
    crescent[:, :40] &= True
    return rgb, truth.astype(bool), crescent


def test_a_crescent_becomes_the_whole_vacuole():
    rgb, truth, crescent = _field()
    cover = crescent.sum() / truth.sum()
    done = complete_to_white(crescent, rgb, min_cover=cover - 0.05)
    assert (done & truth).sum() / truth.sum() > 0.97
    assert not done[40, 160]  # the untouched white region stays out
    assert (done & ~truth).sum() < 0.03 * truth.sum()
    # below the cover asked for, nothing is added
    np.testing.assert_array_equal(complete_to_white(crescent, rgb, min_cover=cover + 0.05), crescent)


def test_detector_completes_as_its_card_says():
    rgb, truth, crescent = _field()
    prob = crescent.astype(np.float32) * 0.9
    det = Detector(None, {"threshold": 0.5, "complete_min_cover": 0.3})
    assert det.complete_min_cover == 0.3 and "completed" in det.settings
    assert (det.mask(rgb, prob) & truth).sum() / truth.sum() > 0.97
    plain = Detector(None, {"threshold": 0.5, "complete_min_cover": 0.3}, complete=False)
    np.testing.assert_array_equal(plain.mask(rgb, prob), crescent)
    assert Detector(None, {"threshold": 0.5}, complete=True).complete_min_cover == 0.3
    with pytest.raises(Exception, match="complete_min_cover"):
        Detector(None, {"threshold": 0.5, "complete_min_cover": 1.5})


def _one_vacuole(share: float):
    """A field with one white region, and a mask covering its left ``share`` (by columns)."""
    rgb = np.full((120, 120, 3), (205, 120, 180), np.uint8)
    cv2.circle(rgb, (60, 60), 30, (246, 244, 246), -1)
    truth = np.zeros((120, 120), np.uint8)
    cv2.circle(truth, (60, 60), 30, 1, -1)
    truth = truth.astype(bool)
    cum = np.cumsum(truth.sum(axis=0)) / truth.sum()
    mask = truth & (np.arange(120) <= np.searchsorted(cum, share))[None, :]
    return rgb, truth, mask


def test_the_only_white_region_is_completed_at_the_default_cover():
    rgb, truth, mask = _one_vacuole(0.6)  # over the default half
    assert WhiteRegions(rgb).c.n == 1
    for done in (complete_to_white(mask, rgb), WhiteRegions(rgb).complete(mask)):
        assert (done & truth).sum() / truth.sum() > 0.97
    rgb, truth, mask = _one_vacuole(0.4)  # under it: nothing added
    np.testing.assert_array_equal(complete_to_white(mask, rgb), mask)
    np.testing.assert_array_equal(WhiteRegions(rgb).complete(mask), mask)


def test_a_cover_of_exactly_min_cover_completes():
    rgb, truth, _ = _one_vacuole(0.5)
    regions = WhiteRegions(rgb)
    region = regions.c.labels == 1
    size = int(region.sum())
    k = next(k for k in range(size // 2, size) if (k / size) * size == k)
    mask = np.zeros_like(region)
    mask.ravel()[np.flatnonzero(region)[:k]] = True
    assert regions.complete(mask, k / size)[region].all()
    assert not regions.complete(mask, (k + 1) / size)[region].all()


def test_a_0_255_mask_counts_as_a_bool_one():
    rgb, truth, mask = _one_vacuole(0.4)
    done = complete_to_white(mask.astype(np.uint8) * 255, rgb)  # 255 per pixel must not count as 255 pixels
    assert done.dtype == bool
    np.testing.assert_array_equal(done, complete_to_white(mask, rgb))


def test_the_candidate_settings_and_a_slides_levels_are_used():
    rgb, truth, mask = _one_vacuole(0.6)
    assert (complete_to_white(mask, rgb) & truth).sum() / truth.sum() > 0.97
    # regions smaller than min_area are no candidates: nothing to complete
    np.testing.assert_array_equal(complete_to_white(mask, rgb, params=CandidateParams(min_area=10**6)), mask)
    # a slide's grey levels under which this block's white is grey
    np.testing.assert_array_equal(complete_to_white(mask, rgb, limits=(0, 1000)), mask)
