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
    for box, fe in zip(boxes.tolist(), f):  # cut at the border, not shifted: the whole region is measured
        mask = np.zeros(rgb.shape[:2], np.uint8)
        mask[box[0]:box[2], box[1]:box[3]] = 1
        for k, value in shape_features(np.pad(mask, 1)).items():
            assert fe[k] == pytest.approx(value, abs=1e-5), (box, k)


def test_a_region_with_nothing_around_it_reads_an_all_white_ring():
    rgb = np.full((40, 40, 3), 250, np.uint8)
    rgb[20, 20] = 0  # one dark pixel: the rest is one region whose 1-px neighbourhood covers the image
    c, X, boxes, f = _features(rgb)
    assert c.n == 1
    ring = {k: f[0][k] for k in ("ring_hue_cos", "ring_hue_sin", "ring_sat_mean", "ring_val_mean", "ring_white_fraction")}
    assert ring == dict(ring_hue_cos=0, ring_hue_sin=0, ring_sat_mean=0, ring_val_mean=0, ring_white_fraction=1)


def test_a_region_fenced_in_white_has_a_white_ring_without_hue():
    rgb = np.full((60, 60, 3), 250, np.uint8)
    rgb[19:27, 19:27] = PINK  # a 1-px pink fence around the 6 x 6 square inside it
    rgb[20:26, 20:26] = 250
    c, X, boxes, f = _features(rgb)
    assert c.n == 2 and boxes[1].tolist() == [20, 20, 26, 26]  # the outside, then the square
    r = f[1]
    assert (r["ring_hue_cos"], r["ring_hue_sin"], r["ring_white_fraction"], r["ring_sat_mean"]) == (0, 0, 1, 0)
    assert r["ring_val_mean"] == 1  # white stretched to 255 by the normalisation


def test_the_smallest_regions_have_defined_shape_features():
    dot = np.zeros((5, 5), np.uint8)
    dot[2, 2] = 1
    f = shape_features(dot)
    assert (f["circularity"], f["eccentricity"], f["extent"], f["hole_fraction"], f["solidity"]) == (1.5, 0, 1, 0, 1)
    assert f["log_area"] == 0 and f["hull_dist_mean"] == 0
    bar = np.zeros((5, 6), np.uint8)
    bar[2, 2:4] = 1  # 1 x 2 px: a line
    f = shape_features(bar)
    assert f["eccentricity"] == 1 and f["extent"] == 1 and f["hole_fraction"] == 0
    assert f["log_area"] == pytest.approx(np.log(2)) and f["circularity"] == 1.5  # outline smoothed to a point


def test_a_square_is_exactly_as_round_as_pi_over_4():
    sq = np.zeros((100, 100), np.uint8)
    sq[20:81, 20:81] = 1  # its outline through the pixel centres: 60 x 60, perimeter 240
    assert shape_features(sq)["circularity"] == pytest.approx(np.pi / 4, abs=1e-9)
