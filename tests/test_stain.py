"""Stain detection from colour statistics: H&E, trichrome, picrosirius, grey-scale."""

from pathlib import Path

import numpy as np
import pytest

from napari_steatosis.data import Dataset, read_image
from napari_steatosis.errors import SteatosisError
from napari_steatosis.sample import sample_data_dir
from napari_steatosis.stain import detect_stain, preset_warning, require_colour

TILES = Path(__file__).resolve().parents[2] / "shared" / "real-tiles"


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
    ("delineate_test_000.png", "he"), ("delineate_val_0009.png", "he"), ("tile02_PSR.jpg", "sirius-red"),
    ("trichrome_human_01.png", "trichrome"), ("trichrome_mouse_01.png", "trichrome"),
    ("trichrome_mouse_02.png", "trichrome"),
])
def test_real_tiles(name, stain):
    assert detect_stain(read_image(TILES / name)).stain == stain
