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


def _long_tailed_grey():
    """Grey image: 0.5 % of the pixels at 20, 0.5 % at 240, the rest spread over 100..150.

    Its 0.1/99.9 grey percentiles are 20 and 240; its 2/98 percentiles lie inside 100..150,
    so the paper's percentiles and any others give different images.
    """
    rng = np.random.default_rng(3)
    grey = rng.integers(100, 151, (100, 200)).astype(np.uint8)
    flat = grey.ravel()
    idx = rng.permutation(flat.size)
    flat[idx[:100]] = 20
    flat[idx[100:200]] = 240
    return np.dstack([grey, grey, grey])


def test_default_percentiles_are_the_papers_0_1_and_99_9():
    rgb = _long_tailed_grey()
    assert grey_percentiles(rgb) == (20, 240)
    out = percentile_normalize(rgb)
    expected = np.clip(np.round((np.arange(256) - 20) * 255 / 220), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(out, expected[rgb])  # exact look-up table, every pixel
    # (2, 98) would stretch 100..150 to the full range: a different image
    assert not np.array_equal(percentile_normalize(rgb, 2, 98), out)


@pytest.mark.parametrize("low, high", [(0.1, 99.9), (2, 98), (25, 75), (0, 100), (50, 50.5)])
def test_grey_percentiles_are_numpys_inverted_cdf(low, high):
    rgb = np.random.default_rng(4).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    lo, hi = grey_percentiles(rgb, low, high)
    assert lo == int(np.percentile(grey, low, method="inverted_cdf"))
    assert hi == int(np.percentile(grey, high, method="inverted_cdf"))


def test_colour_channels_share_the_grey_stretch():
    rgb = _long_tailed_grey()
    rgb[..., 0] = np.clip(rgb[..., 0].astype(int) + 30, 0, 255)  # reddish: still one stretch for all
    lo, hi = grey_percentiles(rgb)
    out = percentile_normalize(rgb)
    lut = np.clip(np.round((np.arange(256) - lo) * 255 / (hi - lo)), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(out, lut[rgb])


@pytest.mark.parametrize("low, high, ok", [(0, 100, True), (0.1, 99.9, True), (-0.1, 99, False),
                                           (1, 100.1, False), (30, 30, False)])
def test_percentile_bounds(low, high, ok):
    rgb = np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    if ok:
        assert percentile_normalize(rgb, low, high).shape == rgb.shape
    else:
        with pytest.raises(SteatosisError, match=rf"0 <= low < high <= 100, got low={low}, high={high}"):
            percentile_normalize(rgb, low, high)


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8),
                                 np.zeros((10, 10, 3), np.uint16)])
def test_non_rgb_images_are_named_and_refused(bad):
    with pytest.raises(SteatosisError, match=r"image: expected an \(H, W, 3\) uint8 RGB image"):
        tissue_mask(bad)
    with pytest.raises(SteatosisError, match="expected an"):
        grey_percentiles(bad)


def test_white_mask_limits_are_inclusive():
    import cv2

    from napari_steatosis.preprocess import white_mask

    hsv = np.array([[[0, 40, 200], [0, 41, 200], [0, 40, 199], [90, 0, 255]]], np.uint8)
    assert white_mask(hsv).tolist() == [[True, False, False, True]]
    assert white_mask(hsv, sat_max=41, val_min=199).tolist() == [[True, True, True, True]]
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    assert rgb.shape == (1, 4, 3)


def _glass_slide(h=200, w=200, glass_cols=40):
    rgb = np.full((h, w, 3), (150, 60, 140), np.uint8)
    rgb[:, :glass_cols] = (242, 241, 244)
    return rgb


@pytest.mark.parametrize("glass_cols, is_background", [(14, False), (20, True)])
def test_white_region_is_glass_from_8_percent_of_the_image(glass_cols, is_background):
    # a 200x200 image: 8 % is 3200 px, a 200 px tall strip of 14 columns is 2800 px, of 20 columns 4000
    t = tissue_mask(_glass_slide(glass_cols=glass_cols))
    assert (not t[:, :glass_cols - 4].any()) == is_background
    assert t[:, glass_cols + 4:].all()
    # the fraction is a parameter
    t = tissue_mask(_glass_slide(glass_cols=glass_cols), min_background_fraction=0.05)
    assert not t[:, :glass_cols - 4].any()


def test_tissue_mask_colour_limits():
    rgb = _glass_slide()
    rgb[:, :40] = (235, 205, 230)  # bright but pink (saturation ~ 32): tissue, not glass
    assert tissue_mask(rgb).all()
    assert not tissue_mask(rgb, sat_max=40)[:, :35].any()
    rgb[:, :40] = (212, 212, 212)  # colourless but darker than glass (value 212 < 215)
    assert tissue_mask(rgb).all()
    assert not tissue_mask(rgb, val_min=205)[:, :35].any()


def test_tissue_mask_of_a_large_image_is_measured_small_and_answered_full_size():
    rgb = _glass_slide(h=300, w=2100, glass_cols=700)  # wider than max_side: measured on a 1024 px copy
    t = tissue_mask(rgb)
    assert t.shape == (300, 2100)
    assert not t[:, :690].any() and t[:, 712:].all()
    t_small = tissue_mask(rgb, max_side=256)
    assert t_small.shape == (300, 2100) and not t_small[:, :680].any() and t_small[:, 730:].all()
    # a tall image is scaled by its height
    t_tall = tissue_mask(np.ascontiguousarray(rgb.transpose(1, 0, 2)), max_side=512)
    assert t_tall.shape == (2100, 300) and not t_tall[:680].any() and t_tall[730:].all()


def test_percent_of_tissue_counts_only_tissue():
    mask = np.zeros((10, 10), bool)
    tissue = np.zeros((10, 10), bool)
    tissue[:, :5] = True
    mask[:2, :] = True  # 10 of its 20 pixels are in the tissue
    assert percent_of_tissue(mask, tissue) == 20.0


@pytest.mark.parametrize("glass, is_glass", [((240, 212, 240), True),    # saturation 30: glass
                                             ((240, 211, 240), False),   # saturation 31: pale tissue
                                             ((215, 215, 215), True),    # value 215: glass
                                             ((214, 214, 214), False)])  # value 214: tissue
def test_glass_colour_limits_are_saturation_30_and_value_215(glass, is_glass):
    rgb = _glass_slide(128, 256, glass_cols=100)
    rgb[:, :100] = glass
    t = tissue_mask(rgb)
    assert (not t[:, :90].any()) == is_glass and t[:, 110:].all()


def test_a_white_region_of_exactly_the_minimum_area_is_glass():
    rgb = _glass_slide(128, 256, glass_cols=0)
    rgb[20:80, 30:100] = (242, 241, 244)
    area = int((~tissue_mask(rgb, min_background_fraction=1e-4)).sum())  # the region's measured area
    assert 3000 < area < 5000
    assert not tissue_mask(rgb, min_background_fraction=area / (128 * 256))[40:60, 50:80].any()
    assert tissue_mask(rgb, min_background_fraction=(area + 1) / (128 * 256)).all()


def test_thin_white_cracks_are_tissue_not_glass():
    """Tears and sinusoids up to 6 px wide are removed by the 5x5 opening even when they connect
    into a network larger than the glass limit: only broad white areas are glass."""
    for width in (3, 5, 6):
        rgb = _glass_slide(200, 200, glass_cols=0)
        for o in range(width):  # a grid of cracks, 30-50 % of the image
            rgb[o::20, :] = rgb[:, o::20] = (242, 241, 244)
        assert tissue_mask(rgb).all(), width
    rgb[:, 100:] = (242, 241, 244)  # a broad glass area joined to the cracks
    t = tissue_mask(rgb)
    assert not t[:, 105:].any() and t[8:18, 8:18].all()


def test_glass_edge_is_found_to_a_pixel():
    rgb = _glass_slide(200, 200, glass_cols=0)
    rgb[:, 100:] = (242, 241, 244)
    t = tissue_mask(rgb)
    assert t[:, :100].all() and not t[:, 102:].any()  # the 5x5 blur may give the first glass column to tissue


def test_flat_image_result_is_a_copy():
    flat = np.full((10, 10, 3), 77, np.uint8)
    out = percentile_normalize(flat)
    out[0, 0] = 0
    assert flat[0, 0, 0] == 77


def test_slide_histogram_percentiles_are_the_papers_too():
    """Whole slides are normalised from one histogram summed over their blocks: same 0.1/99.9."""
    from napari_steatosis.preprocess import grey_histogram, histogram_percentiles

    rgb = _long_tailed_grey()
    hist = grey_histogram(rgb)
    assert hist.shape == (256,) and hist.sum() == rgb.shape[0] * rgb.shape[1]
    assert histogram_percentiles(hist) == (20, 240) == grey_percentiles(rgb)
    assert histogram_percentiles(hist.astype(np.int64) * 3) == (20, 240)  # counts of any type, summed blocks
    assert histogram_percentiles(np.zeros(256)) == (0, 255)  # nothing measured: no stretch
    # given limits (a slide's) are used instead of the block's own percentiles
    lut = np.clip(np.round((np.arange(256) - 10) * 255 / 200), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(percentile_normalize(rgb, limits=(10, 210)), lut[rgb])
