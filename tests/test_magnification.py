"""Magnification from the image: the nuclei's size follows a known resampling, on generated and
on real H&E (the real tiles are read from ../shared/real-tiles and skipped when absent)."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from napari_steatosis.data.synthetic import generate_image
from napari_steatosis.errors import SteatosisError
from napari_steatosis.magnification import (estimate_pixel_size_um, nucleus_diameter_px, scale_to_nuclei)

TILES = Path(__file__).resolve().parents[2] / "shared" / "real-tiles"


def resized(rgb, f):
    return cv2.resize(rgb, None, fx=f, fy=f, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def he_field():
    return generate_image(np.random.default_rng(4), (360, 480), "he", 0.15, 0.0).rgb


@pytest.mark.parametrize("factor", [0.6, 1.6, 2.5])
def test_generated_field_resampled_by_a_known_factor(he_field, factor):
    base = nucleus_diameter_px(he_field)
    assert 6 < base < 16  # the generator paints nuclei of about a third of a 24-32 px cell
    assert nucleus_diameter_px(resized(he_field, factor)) / base == pytest.approx(factor, rel=0.2)


def real_tile(name, size=768):
    path = TILES / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    from napari_steatosis.data.images import read_image

    return read_image(path)[:size, :size, :3]


@pytest.mark.parametrize("name", ["tile01_HE.jpg", "tile03_HE.jpg", "delineate_test_000.png"])
@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_real_he_resampled_by_a_known_factor(name, factor):
    rgb = real_tile(name)
    assert nucleus_diameter_px(resized(rgb, factor)) / nucleus_diameter_px(rgb) == pytest.approx(factor, rel=0.2)


@pytest.mark.parametrize("name", ["tile01_HE.jpg", "tile03_HE.jpg"])
def test_halving_keeps_nuclei_whole(name):
    # smoothing in proportion to the nuclei keeps small ones from merging with their halo: a
    # fixed 1 px blur overstates halved GTEx nuclei by ~10 %
    rgb = real_tile(name, 1024)
    assert nucleus_diameter_px(resized(rgb, 0.5)) / nucleus_diameter_px(rgb) == pytest.approx(0.5, rel=0.07)


def test_real_pixel_size_within_a_fifth():
    # GTEx tiles are 0.494 µm per pixel
    assert estimate_pixel_size_um(real_tile("tile04_HE.jpg")) == pytest.approx(0.494, rel=0.2)


def test_scale_brings_nuclei_into_the_range(he_field):
    d = nucleus_diameter_px(he_field)
    assert scale_to_nuclei(he_field, d / 2, d * 2) == 1.0  # inside: left alone
    assert scale_to_nuclei(he_field, d * 2, d * 3) == pytest.approx(2.0, rel=1e-6)  # to the nearer end
    assert scale_to_nuclei(he_field, d / 4, d / 2) == pytest.approx(0.5, rel=1e-6)
    assert scale_to_nuclei(he_field, d * 2, d * 3, base=0.5) == pytest.approx(2.0, rel=1e-6)
    # the real factor, measured: a field at 2x comes back to the range of the original
    big = resized(he_field, 2.0)
    assert scale_to_nuclei(big, d * 0.9, d * 1.1) == pytest.approx(0.55, rel=0.2)
    with pytest.raises(SteatosisError, match="positive and increasing"):
        scale_to_nuclei(he_field, 3, 2)


def test_refuses_what_it_cannot_measure(he_field):
    pink = np.full((300, 300, 3), (230, 150, 200), np.uint8)
    with pytest.raises(SteatosisError, match="field.png: cannot estimate the magnification, found 0"):
        nucleus_diameter_px(pink, "field.png")
    with pytest.raises(SteatosisError, match="too few pixels"):  # nuclei of ~3 px: the size is noise
        nucleus_diameter_px(resized(he_field, 0.3))
    grey = cv2.cvtColor(cv2.cvtColor(he_field, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    with pytest.raises(SteatosisError, match="grey-scale image"):
        nucleus_diameter_px(grey)
    with pytest.raises(SteatosisError, match="needs an RGB image"):
        nucleus_diameter_px(he_field[..., 0])


def test_training_records_the_nuclei_of_its_he_images(tmp_path):
    from napari_steatosis.data.synthetic import write_sample_dataset
    from napari_steatosis.unet.train import load_splits, nucleus_card

    he = write_sample_dataset(tmp_path / "he", patients=3, per_patient=1, size=(240, 320), seed=4, stain="he",
                              splits=(2, 1, 0))
    train, val = load_splits(he)
    d = train.nuclei + val.nuclei
    assert len(d) == 3 and all(6 < x < 16 for x in d)
    card = nucleus_card(d, 0.5)  # measured at the working scale
    assert card["median"] == pytest.approx(np.median(d) / 2, abs=0.01) and card["images"] == 3
    assert card["range"][0] <= card["median"] <= card["range"][1]
    # trichrome nuclei are not measured (the stain column says so); no H&E image: no card entry
    tri = write_sample_dataset(tmp_path / "tri", patients=3, per_patient=1, size=(240, 320), seed=4,
                               splits=(2, 1, 0))
    train, val = load_splits(tri)
    assert train.nuclei + val.nuclei == [] and nucleus_card([], 1.0) is None
