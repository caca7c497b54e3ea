"""Which candidate regions become positive and negative training examples (classical/labels.py).

Every expected value is read off the hand-drawn label images below: a point's pixel is found by
rounding, a point off the image is clipped onto it, a point off every region snaps to the region
with most pixels within ``snap`` px (a square window), and a mask labels a region by the share of
its pixels inside the mask (>= 0.5 positive, <= 0.1 negative by default).
"""

import numpy as np
import pytest

from napari_steatosis.classical.labels import labels_from_mask, labels_from_points


def _image():
    """A 40 x 60 label image (not square, so rows and columns cannot be swapped unnoticed)."""
    lab = np.zeros((40, 60), np.int32)
    lab[10:20, 30:40] = 1  # rows 10..19, columns 30..39
    lab[39, 59] = 2  # the bottom-right corner pixel
    lab[0, 0] = 3  # the top-left corner pixel
    lab[8:13, 57:60] = 4  # on the right edge
    lab[25:30, 10:15] = 5  # rows 25..29, columns 10..14
    lab[30:35, 20:22] = 6  # 5 x 2 = 10 px
    lab[30:35, 24:30] = 7  # 5 x 6 = 30 px
    return lab


def _positive(rc, snap=None):
    kw = {} if snap is None else {"snap": snap}
    return labels_from_points(_image(), 7, positive=[rc], negative=[], **kw).tolist()


def _only(region):
    y = [-1] * 7
    if region:
        y[region - 1] = 1
    return y


@pytest.mark.parametrize("rc, region", [
    ((9.6, 35), 1), ((9.4, 35), 0),  # rows are rounded, not truncated
    ((15, 29.6), 1), ((15, 29.4), 0),  # and so are columns
    ((15, 35), 1), ((35, 15), 0),  # (row, column), in that order
    ((-3, -7), 3), ((100, 100), 2),  # off the image: clipped onto its edge
    ((100, 10), 0), ((10, 100), 4),  # clipped to the last row (39) / the last column (59) respectively
])
def test_a_point_labels_the_region_under_its_rounded_clipped_pixel(rc, region):
    assert _positive(rc, snap=0) == _only(region)


@pytest.mark.parametrize("rc, region", [
    ((9, 35), 1),  # 1 px above region 1
    ((25, 7), 5), ((25, 6), 0),  # 3 px left of region 5 snaps, 4 px does not
    ((25, 17), 5), ((25, 18), 0),  # right
    ((22, 12), 5), ((21, 12), 0),  # above
    ((32, 12), 5), ((33, 12), 0),  # below
    ((2, 3), 3), ((3, 2), 3),  # the window is cut at row 0 / column 0, not wrapped or shifted
    ((32, 23), 7),  # two regions in reach: the one with more pixels in the window (7: 15 px, 6: 10 px)
    ((5, 50), 0),  # nothing within reach: no region
])
def test_a_point_off_every_region_snaps_within_3_px_by_default(rc, region):
    assert _positive(rc) == _only(region)


def test_snap_is_the_reach_in_pixels():
    assert _positive((25, 8), snap=1) == _only(0)  # 2 px off
    assert _positive((25, 9), snap=1) == _only(5)  # 1 px off
    assert _positive((25, 3), snap=7) == _only(5)  # 7 px off


def test_points_give_positive_negative_and_ambiguous_regions():
    lab = _image()
    y = labels_from_points(lab, 7, positive=np.array([[15, 35], [11, 31], [27, 12], [39, 59]]),
                           negative=[[27, 11], [0, 0], [32, 21], [32, 31]])
    assert y.dtype == np.int8
    # 1: two positive points; 2: positive; 3: negative; 4: no point; 5: both (ambiguous); 6: negative;
    # 7: a negative point 2 px off it (snapped like positive ones)
    assert y.tolist() == [1, 1, 0, -1, -1, 0, 0]
    assert labels_from_points(lab, 7, positive=[], negative=[]).tolist() == [-1] * 7


def _blocks(n=6):
    """n regions of 10 x 10 = 100 px side by side, with background between them."""
    lab = np.zeros((12, 12 * n), np.int32)
    for k in range(n):
        lab[1:11, 12 * k + 1:12 * k + 11] = k + 1
    return lab


def _cover(lab, counts):
    """A mask holding the first counts[k] pixels (in raster order) of region k + 1, plus background."""
    mask = np.zeros(lab.shape, bool)
    for k, c in enumerate(counts):
        rr, cc = np.nonzero(lab == k + 1)
        mask[rr[:c], cc[:c]] = True
    mask[0, :] = True  # background under the mask changes nothing
    return mask


def test_a_mask_labels_by_the_share_of_each_region_inside_it():
    lab = _blocks()
    y = labels_from_mask(lab, 6, _cover(lab, [50, 49, 10, 11, 100, 0]))
    assert y.dtype == np.int8
    assert y.tolist() == [1, -1, 0, -1, 1, 0]  # >= 50 % positive, <= 10 % negative, between: left out
    y = labels_from_mask(lab, 6, _cover(lab, [80, 79, 30, 31, 0, 100]), pos_overlap=0.8, neg_overlap=0.3)
    assert y.tolist() == [1, -1, 0, -1, 0, 1]


def test_a_one_pixel_region_inside_the_mask_is_all_inside():
    lab = np.zeros((5, 5), np.int32)
    lab[2, 2] = 1
    lab[0, 0] = 2
    mask = np.zeros((5, 5), bool)
    mask[2, 2] = True
    assert labels_from_mask(lab, 2, mask, pos_overlap=0.6).tolist() == [1, 0]
