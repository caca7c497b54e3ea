"""Stain detection from colour statistics: H&E, trichrome, picrosirius, grey-scale."""

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
from napari_steatosis.stain import DARK_TRICHROME, SHIFT_HE, detect_stain, preset_warning, require_colour

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
