"""Magnification from the image: the nuclei's size follows a known resampling, on generated and
on real H&E (the real tiles are read from ../shared/real-tiles and skipped when absent)."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from napari_steatosis.data.synthetic import generate_image
from napari_steatosis.errors import SteatosisError
from napari_steatosis.magnification import (
    estimate_pixel_size_um, nucleus_diameter_px, nucleus_diameters, optical_density, scale_to_nuclei, typical,
)

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


def _tiled(field, shape):
    reps = (-(-shape[0] // field.shape[0]), -(-shape[1] // field.shape[1]), 1)
    return np.tile(field, reps)[:shape[0], :shape[1]]


def test_a_big_field_is_measured_on_its_centre_at_full_resolution(he_field):
    d = typical(nucleus_diameters(he_field))
    canvas = _tiled(resized(he_field, 2.0), (900, 900))  # nuclei twice as big all round...
    canvas[150:750, 150:750] = _tiled(he_field, (600, 600))  # ...but in the centre
    assert typical(nucleus_diameters(canvas)) > 1.3 * d  # the whole canvas: the big ones weigh in
    assert typical(nucleus_diameters(canvas, max_pixels=600 * 600)) == pytest.approx(d, rel=0.15)


def test_optical_density_and_the_area_weighted_median():
    np.testing.assert_allclose(optical_density(np.array([[[255, 127, 0]]], np.uint8))[0, 0],
                               [0.0, np.log(2.0), np.log(256.0)], rtol=1e-6)
    assert typical([1, 1, 1, 10]) == 10  # one nucleus outweighs three specks of stain
    assert typical([4, 5, 6]) == 5


def test_fields_of_a_slide_are_pooled_leaving_out_those_not_h_and_e(he_field):
    trichrome = generate_image(np.random.default_rng(4), (360, 480), "trichrome", 0.15, 0.0).rgb
    assert nucleus_diameter_px([he_field, trichrome]) == nucleus_diameter_px(he_field)
    assert nucleus_diameter_px([he_field, he_field]) == pytest.approx(nucleus_diameter_px(he_field), rel=0.05)


def test_what_cannot_be_measured_is_named():
    pink = np.full((300, 300, 3), (230, 150, 200), np.uint8)
    for call, starts in [(lambda: nucleus_diameter_px(pink), "image: cannot estimate the magnification, found "
                                                              "0 nucleus-like blobs (need 15)"),
                         (lambda: nucleus_diameter_px(pink, None), "cannot estimate"),
                         (lambda: estimate_pixel_size_um(pink, "f.png"), "f.png: cannot estimate"),
                         (lambda: estimate_pixel_size_um(pink), "image: cannot estimate"),
                         (lambda: scale_to_nuclei(pink, 5, 10, name="f.png"), "f.png: cannot estimate"),
                         (lambda: scale_to_nuclei(pink, 5, 10), "image: cannot estimate")]:
        with pytest.raises(SteatosisError) as e:
            call()
        assert str(e.value).startswith(starts)


def test_scale_to_one_diameter_and_its_limits(he_field):
    d = nucleus_diameter_px(he_field)
    assert scale_to_nuclei(he_field, 2 * d) == pytest.approx(2.0, rel=1e-6)  # one number: exactly that
    assert scale_to_nuclei(he_field, 2 * d, 2 * d) == pytest.approx(2.0, rel=1e-6)
    assert scale_to_nuclei(he_field, 0.5, 2 * d) == 1.0  # a low end under 1 px is still a range
    assert scale_to_nuclei(he_field, 10 * d, 20 * d) == 4.0  # clipped to the limits
    assert scale_to_nuclei(he_field, 10 * d, 20 * d, limits=(0.05, 8.0)) == pytest.approx(8.0)
    for low in (0, -1):
        with pytest.raises(SteatosisError, match="positive and increasing"):
            scale_to_nuclei(he_field, low, 5)


def test_threads_and_merged_nuclei_are_not_sized_as_nuclei():
    rng = np.random.default_rng(1)
    rgb = np.full((400, 400, 3), (235, 170, 210), np.uint8)  # eosin-pink cytoplasm
    for _ in range(60):  # round nuclei, 10 px across
        cv2.circle(rgb, (int(rng.integers(10, 390)), int(rng.integers(10, 390))), 5, (70, 50, 140), -1)
    for y in range(20, 400, 60):  # thick dark fibres: long, thin for their area
        cv2.line(rgb, (10, y), (390, y + 15), (70, 50, 140), 7)
    d = nucleus_diameters(rgb)
    assert len(d) >= 15 and typical(d) == pytest.approx(10, rel=0.2)
    with pytest.raises(SteatosisError, match="needs an RGB image"):
        nucleus_diameters(rgb[..., 0])
