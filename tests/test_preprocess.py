import numpy as np
import pytest

from napari_steatosis.errors import SteatosisError
from napari_steatosis.preprocess import grey_percentiles, percent_of_tissue, percentile_normalize, tissue_mask


def test_percentile_normalisation_maps_percentiles_to_full_range():
    rng = np.random.default_rng(0)
    grey = rng.integers(60, 181, (200, 200), dtype=np.uint8)  # a dull, low-contrast image
    rgb = np.dstack([grey, grey, grey])
    out = percentile_normalize(rgb)
    lo, hi = grey_percentiles(out)
    assert lo <= 1 and hi >= 254
    assert out[grey == 60].max() == 0 and out[grey == 180].min() == 255
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    # monotone per channel: order of values is kept
    i, j = np.unravel_index(np.argsort(rgb[:, :, 0], axis=None)[[100, 30000]], rgb.shape[:2])
    assert out[i[0], j[0], 0] <= out[i[1], j[1], 0]


def test_percentile_normalisation_matches_numpy_percentiles():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (300, 300, 3), dtype=np.uint8)
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    lo, hi = grey_percentiles(rgb, 0.1, 99.9)
    assert abs(lo - np.percentile(grey, 0.1)) <= 1 and abs(hi - np.percentile(grey, 99.9)) <= 1


def test_flat_image_is_unchanged_and_bad_input_refused():
    flat = np.full((10, 10, 3), 77, np.uint8)
    assert np.array_equal(percentile_normalize(flat), flat)
    with pytest.raises(SteatosisError, match="uint8"):
        percentile_normalize(np.zeros((10, 10), np.float32))
    with pytest.raises(SteatosisError, match="percentiles"):
        percentile_normalize(flat, 50, 10)


def test_tissue_mask_excludes_glass_but_keeps_vacuoles():
    rgb = np.full((400, 400, 3), (150, 60, 140), np.uint8)
    rgb[:, :120] = (242, 241, 244)  # glass along the left edge
    yy, xx = np.mgrid[:400, :400]
    vacuole = (yy - 200) ** 2 + (xx - 300) ** 2 < 25 ** 2
    rgb[vacuole] = (247, 245, 248)
    t = tissue_mask(rgb)
    assert not t[:, :110].any()
    assert t[:, 130:].all()  # the vacuole is part of the tissue
    fat = vacuole
    assert percent_of_tissue(fat, t) == pytest.approx(100 * vacuole.sum() / (400 * 280), rel=0.02)


def test_percent_of_empty_tissue_is_zero():
    assert percent_of_tissue(np.ones((5, 5), bool), np.zeros((5, 5), bool)) == 0.0
