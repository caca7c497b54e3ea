"""Features of each candidate region (classical/features.py: region_features) on drawn regions.

As in test_classical_candidates.py, a black and a pure white block make the percentile
normalisation the identity, so the HSV values are OpenCV's conversion of the drawn colours.
"""

import cv2
import numpy as np
import pytest

from napari_steatosis.classical.candidates import CandidateParams, find_candidates
from napari_steatosis.classical.features import FEATURES, region_features, shape_features

PINK = (160, 70, 150)


def _hsv(colour):
    return cv2.cvtColor(np.uint8([[colour]]), cv2.COLOR_RGB2HSV)[0, 0].astype(float)


def _canvas(shape=(100, 120)):
    rgb = np.full(shape + (3,), PINK, np.uint8)
    rgb[40:44, 0:5] = 0  # 20 black px on the left edge, away from the corners
    rgb[40:44, -5:] = 255  # 20 white px on the right edge (a region touching the border)
    return rgb


def _features(rgb):
    c = find_candidates(rgb, CandidateParams(erosion=0, min_area=1))
    X, boxes = region_features(c)
    return c, X, boxes, [dict(zip(FEATURES, row)) for row in X]


def test_a_region_in_pink_reads_the_pink_around_it_and_its_own_inside():
    rgb = _canvas()
    rgb[20:26, 20:26] = (250, 250, 250)
    rgb[20:26, 23:26] = (245, 235, 235)  # the right half slightly pink and darker: S ~10, V 245
    c, X, boxes, f = _features(rgb)
    assert X.dtype == np.float32 and X.shape == (c.n, len(FEATURES)) and boxes.dtype == np.int32
    r = f[0]
    assert boxes[0].tolist() == [20, 20, 26, 26]  # r0, c0, r1, c1
    h, s, v = _hsv(PINK)
    assert r["ring_hue_cos"] == pytest.approx(np.cos(h * np.pi / 90), abs=1e-6)  # OpenCV hue is degrees / 2
    assert r["ring_hue_sin"] == pytest.approx(np.sin(h * np.pi / 90), abs=1e-6)
    assert r["ring_sat_mean"] == pytest.approx(s / 255) and r["ring_val_mean"] == pytest.approx(v / 255)
    assert r["ring_white_fraction"] == 0 and r["touches_border"] == 0
    s_right, v_right = _hsv((245, 235, 235))[1:]
    assert s_right > 5 and v_right == 245
    assert r["inside_sat_mean"] == pytest.approx((0 + s_right) / 2 / 255)  # half S 0, half S ~10
    assert r["inside_val_std"] == pytest.approx((250 - v_right) / 2 / 255)  # half V 250, half 245: std 2.5
    mask = np.zeros(rgb.shape[:2], np.uint8)
    mask[20:26, 20:26] = 1  # the same shape anywhere gives the same shape features
    for k, value in shape_features(mask).items():
        assert r[k] == pytest.approx(value, abs=1e-5), k


def test_white_in_the_ring_counts_as_white_and_not_for_the_hue():
    rgb = _canvas()
    rgb[20:24, 20:24] = (250, 250, 250)
    rgb[21, 27] = (250, 250, 250)  # 4 px right of the square's edge: in its ring, a region of its own
    c, X, boxes, f = _features(rgb)
    big = cv2.dilate((c.labels == 1).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
    near = cv2.dilate((c.labels == 1).astype(np.uint8), np.ones((3, 3), np.uint8))
    n_ring = int((big & ~near.astype(bool)).sum())  # the ring: 2 to 4 px around the region
    r = f[0]
    h, s, v = _hsv(PINK)
    assert r["ring_white_fraction"] == pytest.approx(1 / n_ring)
    assert r["ring_hue_cos"] == pytest.approx(np.cos(h * np.pi / 90), abs=1e-6)  # the white px has no hue
    assert r["ring_val_mean"] == pytest.approx((v * (n_ring - 1) + 250) / n_ring / 255)
    assert r["ring_sat_mean"] == pytest.approx(s * (n_ring - 1) / n_ring / 255)


def test_regions_on_each_border_touch_it():
    rgb = _canvas()
    rgb[0:3, 50:53] = 250  # top
    rgb[97:100, 50:53] = 250  # bottom
    rgb[10:13, 0:3] = 250  # left
    rgb[60:63, 117:120] = 250  # right
    rgb[50:53, 50:53] = 250  # inside
    c, X, boxes, f = _features(rgb)
    touching = {tuple(b): fe["touches_border"] for b, fe in zip(boxes.tolist(), f)}
    assert touching == {(0, 50, 3, 53): 1, (97, 50, 100, 53): 1, (10, 0, 13, 3): 1, (60, 117, 63, 120): 1,
                        (50, 50, 53, 53): 0, (40, 115, 44, 120): 1}
