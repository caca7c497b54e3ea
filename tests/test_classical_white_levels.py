"""The levels the local white rule compares (classical/white.py), on drawn darkest-channel images."""

import cv2
import numpy as np
import pytest

from napari_steatosis.classical.white import _median, image_levels, local_white


@pytest.mark.parametrize("values", [[5], [1, 2], [1, 2, 3], [1, 2, 3, 4], [0, 0, 10, 10], [7, 7, 7, 200],
                                    [3, 250, 250], [0, 255]])
def test_median_from_a_histogram_is_numpy_median(values):
    assert _median(np.bincount(values, minlength=256)) == np.median(values)


def test_image_levels_are_the_medians_of_clear_white_and_the_rest():
    darkest = np.full((20, 20), 100, np.uint8)
    darkest[:2, :5] = 90  # 10 px a bit darker: the rest's median stays 100
    clear = np.zeros((20, 20), bool)
    clear.ravel()[-50:] = True  # exactly 50 clearly white px: enough to measure the white level
    darkest[clear] = 240
    assert image_levels(darkest, clear) == (100.0, 240.0)
    clear.ravel()[-50] = False  # 49: too few, white is taken as 255
    assert image_levels(darkest, clear)[1] == 255.0
    assert image_levels(np.full((10, 10), 230, np.uint8), np.ones((10, 10), bool)) == (230.0, 230.0)  # all white


def _white(rgb, level=60):
    return local_white(rgb, cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV), 45, 190, level)


def test_a_single_hazy_region_is_found_by_its_contrast():
    rgb = np.full((60, 60, 3), (200, 100, 180), np.uint8)  # tissue: darkest channel 100
    disk = np.zeros((60, 60), np.uint8)
    cv2.circle(disk, (30, 30), 10, 1, -1)
    rgb[disk > 0] = (250, 200, 240)  # hazy: darkest 200, saturation 51 (not white by the fixed rule)
    assert not _white(rgb, level=0).any()
    np.testing.assert_array_equal(_white(rgb), disk > 0)  # cut at 100 + 60 % of 100 = 160


def test_the_darkest_channel_is_the_minimum_of_all_three():
    rgb = np.full((60, 60, 3), (200, 100, 180), np.uint8)
    rgb[20:40, 20:40] = (100, 250, 250)  # cyan: its red is as dark as the tissue; not white
    rgb[0:8, 0:8] = 255  # 64 clearly white px
    assert _white(rgb).sum() == 64


def test_a_region_exactly_at_the_midpoint_is_loose():
    rgb = np.full((60, 60, 3), (200, 101, 180), np.uint8)  # tissue 101
    rgb[0:8, 0:8] = 255  # white level 255: midpoint (101 + 255) / 2 = 178
    rgb[20:40, 20:40] = (230, 178, 220)  # darkest 178, saturation 58: loose, cut at 101 + 0.6 * 77 = 147.2
    w = _white(rgb)
    assert w[20:40, 20:40].all() and w.sum() == 64 + 400


def test_a_region_is_cut_against_its_own_ring_not_the_image_tissue():
    """A vacuole in a dark moat as wide as the ring (3 px): its edge is judged against the moat (60),
    not the tissue beyond it (100)."""
    rgb = np.full((80, 80, 3), (200, 100, 180), np.uint8)  # tissue: darkest 100
    rgb[27:53, 27:53] = (150, 60, 140)  # the moat: darkest 60
    rgb[30:50, 30:50] = (255, 180, 255)  # the region's 1-px edge: darkest 180, saturation 75 (not clear)
    rgb[31:49, 31:49] = (255, 240, 255)  # its core: clearly white, darkest 240 (the white level)
    # inner mean (324 * 240 + 76 * 180) / 400 = 228.6; at 71 %: 60 + 0.71 * 168.6 = 179.7 <= 180: the edge
    # is kept (a ring reaching the tissue beyond the moat, or the tissue level, would cut it off)
    w = _white(rgb, level=71)
    assert w[30:50, 30:50].all() and w.sum() == 400
    assert _white(rgb, level=75).sum() == 324  # 60 + 0.75 * 168.6 = 186.5: the edge is cut off


def _flat_region(rgb):
    rgb[:] = (200, 100, 180)  # tissue 100
    rgb[27:53, 27:53] = (150, 60, 140)  # moat 60
    rgb[30:50, 30:50] = (255, 200, 255)  # a hazy region of darkest 200 (saturation 55), no clear white
    return rgb


def test_at_100_percent_the_cut_is_the_region_mean_and_inclusive():
    rgb = _flat_region(np.zeros((80, 80, 3), np.uint8))
    assert _white(rgb, level=100).sum() == 400  # cut 60 + 1.0 * (200 - 60) = 200: every pixel is at it
    rgb[40, 40] = (255, 199, 255)  # one pixel 1 level lower: the mean 199.9975 cuts it off alone
    w = _white(rgb, level=100)
    assert w.sum() == 399 and not w[40, 40]
