"""Candidate regions (classical/candidates.py): the white rule at its exact limits, the erosion, the
minimum area, the numbering, the slide's grey levels and growing accepted regions back.

The test image holds a black and a pure white block of 20 px each (0.2 % of its pixels), so the
0.1/99.9 percentile normalisation maps 0 to 0 and 255 to 255 and leaves every pixel as drawn: the
HSV values below are those of the drawn colours (V = max channel, S = 255 - min channel at V 255).
"""

import re

import cv2
import numpy as np
import pytest

from napari_steatosis.classical.candidates import CandidateParams, find_candidates, grow_back
from napari_steatosis.errors import SteatosisError

PINK = (160, 70, 150)


def _canvas():
    rgb = np.full((100, 100, 3), PINK, np.uint8)
    rgb[0:4, 0:5] = 0  # 20 black px
    rgb[96:100, 95:100] = 255  # 20 white px (a candidate itself: the last region in raster order)
    return rgb


def _blocks(colours, size=4):
    """Blocks of ``size`` x ``size`` px in one row at row 10, 12 px apart, in the given colours."""
    rgb = _canvas()
    for k, colour in enumerate(colours):
        rgb[10:10 + size, 8 + 12 * k:8 + 12 * k + size] = colour
    return rgb


def _found(rgb, **kw):
    """Which of the blocks of row 10 are candidates (erosion 0, any area unless told)."""
    c = find_candidates(rgb, CandidateParams(**{"erosion": 0, "min_area": 1, **kw}))
    return [bool(c.labels[11, 9 + 12 * k]) for k in range(6)]


def test_white_is_value_at_least_190_and_saturation_at_most_45():
    grey = [(190, 190, 190), (189, 189, 189), (255, 210, 210), (255, 209, 209), (210, 255, 210), (230, 230, 255)]
    # V 190 S 0 | V 189 | S 45 | S 46 | S 45 (green max) | S 25 bluish
    assert _found(_blocks(grey)) == [True, False, True, False, True, True]


def test_the_limits_are_parameters():
    colours = [(150, 150, 150), (149, 149, 149), (255, 195, 195), (255, 194, 194), (100, 100, 100), (255, 255, 255)]
    assert _found(_blocks(colours), sat_max=60, val_min=150) == [True, False, True, False, False, True]


def test_the_slide_grey_levels_replace_the_image_own_ones():
    rgb = _blocks([(160, 160, 160)])
    assert _found(rgb)[0] is False  # V 160: not white as drawn
    c = find_candidates(rgb, CandidateParams(erosion=0, min_area=1), limits=(0, 200))
    assert c.labels[11, 9] and c.hsv[11, 9, 2] == round(160 * 255 / 200)  # stretched to 204


def test_erosion_shrinks_regions_before_the_minimum_area():
    rgb = _canvas()
    for k, side in enumerate((5, 6, 7, 8)):
        rgb[30:30 + side, 8 + 12 * k:8 + 12 * k + side] = 250
    c = find_candidates(rgb, CandidateParams(erosion=1, min_area=10))  # squares lose 1 px a side
    assert [int(c.labels[30 + 2, 8 + 12 * k + 2] > 0) for k in range(4)] == [0, 1, 1, 1]  # 9, 16, 25, 36 px
    # and the white corner block (4 x 5 px) only from inside the image: 3 x 4 = 12 px
    assert c.n == 4 and (c.labels > 0).sum() == 16 + 25 + 36 + 12
    c = find_candidates(rgb, CandidateParams(erosion=2, min_area=10))  # 2 px a side
    assert [int(c.labels[30 + 3, 8 + 12 * k + 3] > 0) for k in range(4)] == [0, 0, 0, 1]  # 1, 4, 9, 16 px
    assert c.white[30, 8] and not c.labels[30, 8]  # white is taken before the erosion


def test_minimum_area_is_inclusive_and_regions_are_numbered_without_gaps():
    rgb = _canvas()
    rgb[10:12, 10:15] = 250  # 10 px
    rgb[20:23, 10:13] = 250  # 9 px
    rgb[30:32, 10:16] = 250  # 12 px
    c = find_candidates(rgb, CandidateParams(erosion=0, min_area=10))
    assert c.n == 3 and c.labels.dtype == np.int32  # 10 px, 12 px and the white corner (20 px)
    assert c.labels[10, 10] == 1 and c.labels[30, 10] == 2 and c.labels[99, 99] == 3 and c.labels[20, 10] == 0
    assert sorted(np.unique(c.labels).tolist()) == [0, 1, 2, 3]
    rgb[50, 50] = 250  # 1 px
    assert find_candidates(rgb, CandidateParams(erosion=0, min_area=10)).n == 3
    for least in (0, 1):  # both keep every region, a single pixel too
        c = find_candidates(rgb, CandidateParams(erosion=0, min_area=least))
        assert c.n == 5 and c.labels[20, 10] == 2 and c.labels[50, 50] == 4


def test_regions_touching_at_a_corner_are_one():
    rgb = _canvas()
    rgb[10:14, 10:14] = 250
    rgb[14:18, 14:18] = 250  # diagonal neighbour of the first block's corner
    c = find_candidates(rgb, CandidateParams(erosion=0, min_area=1))
    assert c.labels[10, 10] == c.labels[17, 17] == 1


def test_the_result_keeps_what_it_was_made_with():
    rgb = _blocks([(250, 250, 250)])
    p = CandidateParams(erosion=0, min_area=1)
    c = find_candidates(rgb, p)
    assert c.params is p and c.white.dtype == bool and c.white.shape == (100, 100)
    np.testing.assert_array_equal(c.hsv, cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV))  # normalisation is identity here
    assert find_candidates(rgb).params == CandidateParams()


@pytest.mark.parametrize("kw, message", [
    (dict(sat_max=-1), "candidate parameter sat_max must be a non-negative integer, got -1"),
    (dict(erosion=1.5), "candidate parameter erosion must be a non-negative integer, got 1.5"),
    (dict(min_area=True), "candidate parameter min_area must be a non-negative integer, got True"),
    (dict(val_min="190"), "candidate parameter val_min must be a non-negative integer, got '190'"),
    (dict(sat_max=256), "candidate sat_max and val_min must be within 0..255"),
    (dict(val_min=256), "candidate sat_max and val_min must be within 0..255"),
    (dict(local_level=101), "candidate local_level is a percentage: 0..100"),
    (dict(split=101), "candidate split is a percentage: 0..100"),
    (dict(split=-5), "candidate parameter split must be a non-negative integer, got -5"),
])
def test_bad_parameters_are_refused_by_name(kw, message):
    with pytest.raises(SteatosisError, match=f"^{re.escape(message)}$"):
        CandidateParams(**kw)


def test_parameters_at_their_limits_and_numpy_integers_are_accepted():
    p = CandidateParams(sat_max=255, val_min=np.int64(255), erosion=0, min_area=0, local_level=100, split=100)
    assert p.to_dict() == dict(sat_max=255, val_min=255, erosion=0, min_area=0, local_level=100, split=100)
    assert CandidateParams().to_dict() == dict(sat_max=45, val_min=190, erosion=1, min_area=10, local_level=0,
                                               split=0)


def test_growing_back_stays_in_white_and_keeps_the_region():
    white = np.zeros((20, 20), bool)
    white[2:11, 2:11] = True  # 9 x 9 white
    region = np.zeros((20, 20), bool)
    region[6, 6] = True  # the centre of the white square
    region[15, 15] = True  # outside the white: kept as it is
    grown = grow_back(region, white, 1)  # by erosion + 1 = 2 px: the 5 x 5 ellipse, 17 px
    disk = np.array([[0, 0, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 1, 0, 0]], bool)
    want = np.zeros((20, 20), bool)
    want[4:9, 4:9] = disk
    want[15, 15] = True
    np.testing.assert_array_equal(grown, want)
    edge = np.zeros((20, 20), bool)
    edge[2, 2] = True  # at the white square's corner: what lies beyond is not white
    assert grow_back(edge, white, 1).sum() == 7  # (2,2) (2,3) (2,4) (3,2) (3,3) (3,4) (4,2)
    same = grow_back(region.astype(np.uint8), white, 0)  # no erosion: nothing to undo
    assert same.dtype == bool and (same == region).all()
