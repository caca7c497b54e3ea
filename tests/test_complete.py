"""Whole vacuoles: detections completed to the white region they sit in (no TensorFlow)."""

import cv2
import numpy as np
import pytest

from napari_steatosis.unet.complete import complete_to_white
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
