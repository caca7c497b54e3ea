"""The generator: its masks match its pixels, and it makes what the issue asks for."""

import cv2
import numpy as np
import pytest

from napari_steatosis.data import Dataset
from napari_steatosis.data.synthetic import generate_image, write_sample_dataset
from napari_steatosis.errors import SteatosisError


@pytest.mark.parametrize("stain", ["trichrome", "he"])
def test_masks_match_pixels(stain):
    img = generate_image(np.random.default_rng(3), (360, 480), stain, steatosis_level=0.2, fibrosis_level=0.12)
    hsv = cv2.cvtColor(img.rgb, cv2.COLOR_RGB2HSV)
    core = cv2.erode(img.steatosis.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # away from blurred edges
    assert core.sum() > 1000
    # steatosis is white: bright and colourless, unlike the tissue around it
    assert np.median(hsv[core][:, 2]) > 225 and np.median(hsv[core][:, 1]) < 30
    tissue_rest = img.tissue & ~cv2.dilate(img.steatosis.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert np.median(hsv[tissue_rest][:, 1]) > 50
    assert 10 < img.steatosis_pct < 35
    if stain == "trichrome":
        fib = cv2.erode(img.fibrosis.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        assert fib.sum() > 200
        hue = hsv[fib][:, 0]
        assert np.mean((hue > 95) & (hue < 140)) > 0.8  # collagen is blue
    else:
        assert not img.fibrosis.any()


def test_hazy_veils_more_vacuoles_and_leaves_the_default_alone():
    def paint(seed, **kw):
        return generate_image(np.random.default_rng(seed), (300, 400), "he", 0.3, 0.0, **kw)

    plain, hazy = paint(6), paint(6, hazy=True)
    assert np.array_equal(paint(6).rgb, plain.rgb)  # the default's random stream is untouched

    def veiled(img):  # share of the fat (away from its blurred edges) that is visibly tinted
        core = cv2.erode(img.steatosis.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        sat = cv2.cvtColor(img.rgb, cv2.COLOR_RGB2HSV)[..., 1][core]
        return np.mean(sat > 15)

    assert veiled(hazy) > veiled(plain) + 0.1
    assert hazy.steatosis.any() and (hazy.steatosis == paint(6, hazy=True).steatosis).all()


def test_points_fall_in_their_class():
    img = generate_image(np.random.default_rng(5), (360, 480), "trichrome", 0.15, 0.1, glass_edge=True)
    pos = np.round(img.points.positive).astype(int)
    neg = np.round(img.points.negative).astype(int)
    assert len(pos) > 20 and len(neg) > 3
    assert img.steatosis[pos[:, 0], pos[:, 1]].all()
    assert not img.steatosis[neg[:, 0], neg[:, 1]].any()
    assert (~img.tissue).any()  # glass at the edge


def test_steatosis_level_controls_fat():
    rng = np.random.default_rng(9)
    low = generate_image(rng, (300, 400), "he", 0.02, 0.0).steatosis_pct
    high = generate_image(rng, (300, 400), "he", 0.4, 0.0).steatosis_pct
    assert low < 5 < 30 < high


def test_sample_dataset_follows_the_contract(small_dataset):
    ds = Dataset.open(small_dataset.root)
    assert len(ds) == 12 and len(ds.patients) == 6
    phys = ds.physician_pct()
    assert set(phys) == set(ds.patients)
    for rec in ds:
        rgb = ds.read_image(rec)
        assert rgb.shape == (256, 320, 3)
        assert ds.read_mask(rec, "steatosis", rgb.shape[:2]) is not None
        assert ds.read_mask(rec, "fibrosis", rgb.shape[:2]) is not None
        ds.read_points(rec, rgb.shape[:2])
    # the physician's score follows the truth per patient
    truth = {}
    for rec in ds:
        truth.setdefault(rec.patient, []).append(float(rec.extra["true_steatosis_pct"]))
    t = np.array([np.mean(truth[p]) for p in ds.patients])
    e = np.array([phys[p] for p in ds.patients])
    assert np.corrcoef(t, e)[0, 1] > 0.8 and t.max() - t.min() > 15


def test_generator_refuses_bad_arguments(tmp_path):
    with pytest.raises(SteatosisError, match="stain"):
        generate_image(np.random.default_rng(0), (100, 100), "giemsa")
    with pytest.raises(SteatosisError, match="too small"):
        generate_image(np.random.default_rng(0), (10, 100))
    write_sample_dataset(tmp_path / "d", 1, 1, size=(64, 64))
    with pytest.raises(SteatosisError, match="already exists"):
        write_sample_dataset(tmp_path / "d", 1, 1, size=(64, 64))
