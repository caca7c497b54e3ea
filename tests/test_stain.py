"""Stain detection from colour statistics: H&E, trichrome, picrosirius, grey-scale."""

import warnings
from pathlib import Path

import numpy as np
import pytest

from napari_steatosis.data import Dataset, read_image
from napari_steatosis.data.slides import open_slide
from napari_steatosis.errors import SteatosisError
from napari_steatosis.magnification import nucleus_diameter_px
from napari_steatosis.preprocess import tissue_mask
from napari_steatosis.sample import sample_data_dir
from napari_steatosis.slide_blocks import thumbnail
from napari_steatosis.slide_scale import crop_boxes
from napari_steatosis.stain import (
    DARK_HE, DARK_TRICHROME, SHIFT_HE, StainGuess, StainWarning, classify_stain, detect_stain, haematoxylin_shift,
    preset_warning, require_colour, warn_unfit_fibrosis,
)

TILES = Path(__file__).resolve().parents[2] / "shared" / "real-tiles"
CMU1 = Path(__file__).parent / "data" / "CMU-1-Small-Region.svs"


def test_the_sample_images_stains_are_recognised():
    ds = Dataset.open(sample_data_dir())
    got = {rec.stem: detect_stain(ds.read_image(rec)).stain for rec in ds.records}
    want = {rec.stem: rec.extra["stain"] for rec in ds.records}
    assert got == want


def test_grey_scale_is_refused_and_warnings_name_the_problem():
    ds = Dataset.open(sample_data_dir())
    rgb = ds.read_image(ds.records[0])
    grey = np.repeat(rgb.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    assert detect_stain(grey).stain == "greyscale"
    with pytest.raises(SteatosisError, match="grey-scale"):
        require_colour(grey, "slide.png")
    he = detect_stain(ds.read_image(next(r for r in ds.records if r.extra["stain"] == "he")))
    assert "not measurable by hue" in preset_warning(he, "trichrome")
    tri = detect_stain(rgb)
    assert preset_warning(tri, "trichrome") is None
    assert "choose the trichrome preset" in preset_warning(tri, "sirius-red")


@pytest.mark.skipif(not TILES.is_dir(), reason="../shared/real-tiles not present (real stained tiles)")
@pytest.mark.parametrize("name, stain", [
    ("tile01_HE.jpg", "he"), ("tile02_HE.jpg", "he"), ("tile03_HE.jpg", "he"), ("tile04_HE.jpg", "he"),
    ("delineate_test_000.png", "he"), ("delineate_train_0000.png", "he"), ("delineate_val_0009.png", "he"), ("tile02_PSR.jpg", "sirius-red"),
    ("trichrome_human_01.png", "trichrome"), ("trichrome_mouse_01.png", "trichrome"),
    ("trichrome_mouse_02.png", "trichrome"),
])
def test_real_tiles(name, stain):
    assert detect_stain(read_image(TILES / name)).stain == stain


def test_a_real_h_and_e_slide_with_dense_epidermis_reads_h_and_e():
    """CMU-1 (skin H&E from a real scanner): its epidermis is as dark and saturated as a trichrome's
    cytoplasm, so only the haematoxylin shift tells; read as a slide is (thumbnail, auto scale's
    crops), every field must be H&E and the crops' nuclei measurable (they were refused as trichrome)."""
    with open_slide(CMU1, warn_no_mpp=False) as slide:
        thumb = thumbnail(slide)
        crops = [slide.read(*box) for box in crop_boxes(tissue_mask(thumb), slide.shape)]
    guesses = [detect_stain(field) for field in [thumb, *crops]]
    assert [g.stain for g in guesses] == ["he"] * len(guesses), [g.describe() for g in guesses]
    assert sum(g.dark_share >= DARK_TRICHROME for g in guesses) >= 3  # the dark share alone would say trichrome
    assert max(g.shift_deg for g in guesses) <= SHIFT_HE - 5  # with a margin, not on the edge
    assert 5 < nucleus_diameter_px(crops, "CMU-1") < 30


# ---- the statistics and the rule, pinned to their definitions (the module's docstring) ----

def _lab(rgb):
    """CIELAB by scikit-image, an implementation independent of OpenCV's."""
    from skimage.color import rgb2lab

    return rgb2lab(rgb)


def test_the_statistics_follow_their_definitions():
    rng = np.random.default_rng(5)
    rgb = rng.integers(40, 215, (240, 320, 3)).astype(np.uint8)  # every pixel tissue, colours of all kinds
    tissue = tissue_mask(rgb)
    assert tissue.mean() > 0.9
    lab = _lab(rgb)[tissue]
    L, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    chroma = np.hypot(a, b)
    coloured = chroma > 12
    g = detect_stain(rgb)
    assert g.lightness == pytest.approx(np.median(L), abs=0.3)
    assert g.chroma == pytest.approx(np.median(chroma), abs=0.4)
    assert g.hue_deg == pytest.approx(np.degrees(np.arctan2(np.median(b[coloured]), np.median(a[coloured]))), abs=1)
    assert g.dark_share == pytest.approx(np.mean((L < 50) & (chroma > 25)), abs=0.004)
    text = g.describe()
    assert f"lightness {g.lightness:.0f}, chroma {g.chroma:.0f}" in text and f"share {g.dark_share:.2f}" in text


def _he_like(dark_rgb, n_dark, other_rgb=None, n_other=0, size=100):
    """A field of a pink bulk with ``n_dark`` pixels of a darker stain (and ``n_other`` of a third colour)."""
    rgb = np.empty((size * size, 3), np.uint8)
    rgb[:] = (222, 160, 200)
    rgb[:n_dark] = dark_rgb
    if other_rgb is not None:
        rgb[n_dark:n_dark + n_other] = other_rgb
    return rgb.reshape(size, size, 3)


def _hue_of(rgb):
    _, a, b = _lab(np.array([[rgb]], np.uint8))[0, 0]
    return np.degrees(np.arctan2(b, a))


def test_the_haematoxylin_shift_is_the_darkest_stains_hue_minus_the_bulks():
    blue_purple, pink = (90, 60, 150), (222, 160, 200)
    expected = _hue_of(blue_purple) - _hue_of(pink)
    assert expected < -20
    # 5.5 % dark (the darkest 5 %), a blue-green collagen that is not magenta-purple and must not count
    # (most of the middle lightness band: counted, it would be the bulk's hue)
    rgb = _he_like(blue_purple, 550, other_rgb=(120, 190, 200), n_other=6000)
    g = detect_stain(rgb)
    assert g.shift_deg == pytest.approx(expected, abs=1.5)
    # too little magenta-purple tissue to measure: no shift at all
    L, a, b = (np.full(99, v, np.float32) for v in (40.0, 30.0, -20.0))
    chroma, angle = np.hypot(a, b), np.degrees(np.arctan2(b, a))
    assert haematoxylin_shift(L, a, b, chroma, angle) == 0.0
    L = np.r_[np.full(10, 30.0), np.full(90, 60.0)].astype(np.float32)
    a = np.r_[np.full(10, 20.0), np.full(90, 40.0)].astype(np.float32)
    b = np.r_[np.full(10, -30.0), np.full(90, -10.0)].astype(np.float32)
    chroma, angle = np.hypot(a, b), np.degrees(np.arctan2(b, a))
    want = np.degrees(np.arctan2(-30, 20)) - np.degrees(np.arctan2(-10, 40))
    assert haematoxylin_shift(L, a, b, chroma, angle) == pytest.approx(want)  # 100 purple values are enough


def test_the_rule_at_its_thresholds():
    assert classify_stain(5.9, 0, 0.1, 0) == "greyscale"
    assert classify_stain(6.0, 0, 0.1, 0) == "he"
    assert classify_stain(30, 20.0, 0.1, 0) == "he" and classify_stain(30, 20.1, 0.1, 0) == "sirius-red"
    assert classify_stain(30, -20, DARK_HE - 0.001, 0) == "he"
    assert classify_stain(30, -20, DARK_HE, 0) == "uncertain"  # between the two shares, no shift
    assert classify_stain(30, -20, DARK_HE, SHIFT_HE) == "he"  # a shift at the threshold is H&E's
    assert classify_stain(30, -20, DARK_HE, SHIFT_HE + 0.1) == "uncertain"
    assert classify_stain(30, -20, DARK_TRICHROME, 0) == "trichrome"
    assert classify_stain(30, -20, DARK_TRICHROME - 0.001, 0) == "uncertain"


def test_subsampling_takes_every_step_th_pixel_of_a_big_image():
    # column c is dark blue-purple where c % 17 == 0, else pink: a 2000 x 1500 image over 10^4 pixels
    # is read every 17th pixel (sqrt(3e6 / 1e4) = 17.3) from the first, so only the dark columns are seen
    rgb = np.empty((2000, 1500, 3), np.uint8)
    rgb[:] = (222, 160, 200)
    rgb[:, ::17] = (90, 60, 150)
    seen = detect_stain(rgb, max_pixels=10_000)
    assert seen.hue_deg == pytest.approx(_hue_of((90, 60, 150)), abs=1.5)
    # a small image is read whole: alternate columns, both colours seen
    four = np.empty((2000, 2000, 3), np.uint8)  # 4 x 10^6 px over the default 10^6: every second pixel
    four[:] = (222, 160, 200)
    four[:, ::2] = (90, 60, 150)
    assert detect_stain(four).hue_deg == pytest.approx(_hue_of((90, 60, 150)), abs=1.5)
    small = np.empty((100, 100, 3), np.uint8)
    small[:] = (222, 160, 200)
    small[:, ::2] = (90, 60, 150)
    assert detect_stain(small).dark_share == pytest.approx(0.5, abs=0.01)


def test_odd_inputs():
    for bad in (np.zeros((20, 20), np.uint8), np.zeros((20, 20, 4), np.uint8)):
        with pytest.raises(SteatosisError, match="needs an RGB image"):
            detect_stain(bad)
    glass = np.full((200, 200, 3), 246, np.uint8)
    glass[:5, :5] = (200, 120, 170)  # too little tissue: the statistics are the whole image's
    g = detect_stain(glass)
    assert g.lightness == pytest.approx(float(np.median(_lab(glass)[..., 0])), abs=0.3)
    grey = np.full((50, 50, 3), 128, np.uint8)
    g = detect_stain(grey)
    assert g.stain == "greyscale" and g.hue_deg == 0.0  # nothing coloured: no hue
    with pytest.raises(SteatosisError, match="^image is grey-scale"):
        require_colour(grey)


def _guess(stain):
    return StainGuess(stain, 60.0, 30.0, -20.0, 0.1)


def test_every_preset_warning_says_what_to_do():
    assert preset_warning(_guess("greyscale"), "trichrome").startswith("this image has no colour (grey-scale)")
    he = preset_warning(_guess("he"), "trichrome")
    assert he.startswith("this looks like H&E") and he.endswith("use a trichrome or picrosirius section")
    assert "choose the sirius-red preset" in preset_warning(_guess("sirius-red"), "trichrome")
    assert "looks like picrosirius red" in preset_warning(_guess("sirius-red"), "trichrome")
    assert preset_warning(_guess("sirius-red"), "sirius-red") is None
    assert "unclear (H&E or trichrome?)" in preset_warning(_guess("uncertain"), "trichrome")


def test_fibrosis_on_an_unfit_stain_is_said_naming_the_image():
    cases = [  # (stain, preset or None for the user's own thresholds, what is said)
        ("he", "trichrome", "slide.png: this looks like H&E"),
        ("trichrome", "sirius-red", "slide.png: this looks like Masson's trichrome"),
        ("he", None, "slide.png: this looks like H&E"),
        ("uncertain", None, "slide.png: the stain is unclear"),
        ("trichrome", None, None),  # own thresholds on a trichrome, sirius red: the user's choice
        ("sirius-red", None, None),
        ("trichrome", "trichrome", None),
    ]
    for stain, preset, said in cases:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warn_unfit_fibrosis(_guess(stain), preset, "slide.png")
        got = [w for w in caught if issubclass(w.category, StainWarning)]
        if said is None:
            assert not got, (stain, preset)
        else:
            assert len(got) == 1 and str(got[0].message).startswith(said), (stain, preset)


def _shift_of(L, a, b, chroma=None, angle=None):
    L, a, b = (np.asarray(v, np.float32) for v in (L, a, b))
    chroma = np.hypot(a, b) if chroma is None else np.asarray(chroma, np.float32)
    angle = np.degrees(np.arctan2(b, a)) if angle is None else np.asarray(angle, np.float32)
    return haematoxylin_shift(L, a, b, chroma, angle)


def _hue_deg(a, b):
    return np.degrees(np.arctan2(np.median(b), np.median(a)))


def test_the_shift_takes_the_darkest_5_percent_and_the_50th_to_80th_lightness_percentiles():
    # 100 purple values of lightness 0..99 whose colour turns with lightness: one value more or
    # less in either set moves its median hue
    L = np.arange(100.0)
    a, b = 30 + 0.2 * L, -40 + 0.3 * L
    darkest, middle = L <= 4.95, (L >= 49.5) & (L <= 79.2)  # numpy's 5th, 50th and 80th percentiles
    want = _hue_deg(a[darkest], b[darkest]) - _hue_deg(a[middle], b[middle])
    assert _shift_of(L, a, b) == pytest.approx(want, abs=1e-4)


@pytest.mark.parametrize("chroma, angle", [(12.0, 0.0), (30.0, -75.0), (30.0, 20.0)])
def test_magenta_purple_excludes_its_bounds(chroma, angle):
    """Values at the bounds (chroma 12, hue -75° or +20°) are not magenta-purple: made the darkest,
    counted they would set the darkest stain's hue; just inside the bounds they are counted."""
    L = np.r_[np.full(10, 30.0), np.full(90, 60.0)]
    a, b = np.r_[np.full(10, 20.0), np.full(90, 40.0)], np.r_[np.full(10, -30.0), np.full(90, -10.0)]
    base = _shift_of(L, a, b)
    L2, a2, b2 = np.r_[L, np.full(20, 5.0)], np.r_[a, np.full(20, 5.0)], np.r_[b, np.full(20, 40.0)]
    c2 = np.r_[np.hypot(a, b), np.full(20, chroma)]
    h2 = np.r_[np.degrees(np.arctan2(b, a)), np.full(20, angle)]
    assert _shift_of(L2, a2, b2, c2, h2) == pytest.approx(base)
    inside = (max(chroma, 12.5), min(max(angle, -74.9), 19.9))  # just inside: counted, the darkest now
    c2[100:], h2[100:] = inside
    assert _shift_of(L2, a2, b2, c2, h2) != pytest.approx(base, abs=1)


def test_dark_means_darker_than_50_and_more_saturated_than_25():
    rgb = np.full((100, 100, 3), (222, 160, 200), np.uint8)
    rgb[:30] = (34, 9, 40)  # OpenCV CIELAB: L 6, a +20, b -15 -> chroma exactly 25: not "more saturated"
    assert detect_stain(rgb).dark_share == 0.0
    rgb[:30] = (34, 9, 44)  # chroma over 25
    assert detect_stain(rgb).dark_share == pytest.approx(0.3, abs=0.01)
