"""`Detector`: one loaded U-Net with its card's threshold and working scale, used by predict,
quantify and the napari worker alike (TensorFlow in-process: marker ``tensorflow``)."""

import csv
import importlib.util
import json
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytestmark = [pytest.mark.tensorflow,
              pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras not installed")]

from napari_steatosis.data.images import read_image, read_mask, write_image  # noqa: E402


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    import keras

    from napari_steatosis.unet.card import save_model
    from napari_steatosis.unet.model import build_unet

    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("det") / "m.keras"
    save_model(build_unet(), path, {"threshold": 0.5, "working_scale": 0.5})
    return path


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    rgb = np.random.default_rng(1).integers(0, 256, (150, 180, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("img") / "field.png"
    write_image(path, rgb)
    return path, read_image(path)


def test_detector_applies_the_cards_scale_and_threshold(saved_model, image):
    from napari_steatosis.unet import Detector
    from napari_steatosis.unet.predict import predict_probability

    det = Detector.load(saved_model)
    assert det.scale == 0.5 and det.threshold == 0.5 and det.threshold_from_card
    _, rgb = image
    prob = det.probability(rgb)
    np.testing.assert_allclose(prob, predict_probability(det.model, rgb, scale=0.5), atol=1e-6)
    assert not np.allclose(prob, predict_probability(det.model, rgb, scale=1.0), atol=1e-3)
    np.testing.assert_array_equal(det.mask(rgb), prob >= 0.5)
    # the user's scale corrects on top of the card's; an explicit threshold wins over the card's
    det2 = Detector(det.model, det.card, scale=0.8, threshold=0.3)
    assert det2.scale == pytest.approx(0.4) and det2.threshold == 0.3 and "scale 0.4" in det2.description
    with pytest.raises(Exception, match="threshold must be within"):
        Detector(det.model, det.card, threshold=1.5)


def test_quantify_and_predict_take_a_threshold(saved_model, image, tmp_path, capsys):
    from napari_steatosis.cli import main
    from napari_steatosis.unet import Detector

    path, rgb = image
    det = Detector.load(saved_model)
    prob = det.probability(rgb)
    t = float(np.quantile(prob, 0.7))  # a threshold that marks ~30 % of the pixels
    assert main(["quantify", str(path), "--model", str(saved_model), "--out", str(tmp_path / "q"),
                 "--threshold", f"{t:.6f}"]) == 0
    got = read_mask(tmp_path / "q" / "field.steatosis.png", rgb.shape[:2])
    from napari_steatosis.preprocess import tissue_mask

    expect = (prob >= float(f"{t:.6f}")) & tissue_mask(rgb)
    assert got.any() and (got == expect).mean() > 0.999
    assert main(["predict", str(path), "--model", str(saved_model), "--out", str(tmp_path / "p"),
                 "--threshold", "1.2"]) == 2
    assert "--threshold must be within (0, 1)" in capsys.readouterr().err
    assert main(["quantify", str(path), "--method", "classical", "--model", "x.skops", "--out", str(tmp_path / "c"),
                 "--threshold", "0.4"]) == 2
    assert "--threshold is for the U-Net" in capsys.readouterr().err


def test_worker_process_uses_the_detector(saved_model, image, tmp_path, capsys):
    from napari_steatosis.unet import Detector, worker

    _, rgb = image
    np.save(tmp_path / "in.npy", rgb)
    assert worker.main(["--input", str(tmp_path / "in.npy"), "--output", str(tmp_path / "out.npy"),
                        "--model", str(saved_model), "--scale", "2"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["event"] == "device" and events[0]["scale"] == 1.0 and events[-1]["event"] == "done"
    det = Detector.load(saved_model, scale=2)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), det.probability(rgb), atol=1e-6)


@pytest.fixture(scope="module")
def he_field(tmp_path_factory):
    from napari_steatosis.data.synthetic import generate_image

    rgb = generate_image(np.random.default_rng(4), (240, 320), "he", 0.15, 0.0).rgb
    path = tmp_path_factory.mktemp("he") / "he.png"
    write_image(path, rgb)
    return path, rgb


def test_auto_scale_brings_the_nuclei_into_the_cards_range(saved_model, he_field, image):
    from napari_steatosis.errors import SteatosisError
    from napari_steatosis.magnification import nucleus_diameter_px
    from napari_steatosis.unet import Detector
    from napari_steatosis.unet.predict import predict_probability

    det = Detector.load(saved_model)  # working scale 0.5, no nucleus sizes on its card
    with pytest.raises(SteatosisError, match="--scale auto needs a model whose card records"):
        Detector(det.model, det.card, scale="auto")
    _, rgb = he_field
    d = nucleus_diameter_px(rgb)
    # at the working scale 0.5 the field's nuclei measure d/2; the card's range starts at 0.75 d
    card = dict(det.card, nucleus_diameter_px=dict(median=d, range=[0.75 * d, 2 * d], images=3))
    auto = Detector(det.model, card, scale="auto")
    assert "scale auto (nuclei into" in auto.description
    prob = auto.probability(rgb)
    assert auto.last_scale == pytest.approx(0.75) and auto.last_scale_note is None
    np.testing.assert_allclose(prob, predict_probability(det.model, rgb, scale=auto.last_scale), atol=1e-6)
    with pytest.raises(SteatosisError, match="scale auto chooses a factor per image"):
        auto.scales  # noqa: B018 (a slide's blocks take the one factor of its plan: fused)
    assert auto.fused(0.6) == pytest.approx([0.6 * f for f in auto.fuse_scales])
    # inside the range: the working scale; noise has no nuclei: the working scale, and why
    inside = Detector(det.model, dict(card, nucleus_diameter_px=dict(range=[0.25 * d, d])), scale="auto")
    inside.probability(rgb)
    assert inside.last_scale == pytest.approx(0.5) and inside.last_scale_note is None
    auto.probability(image[1])
    assert auto.last_scale == 0.5 and "cannot estimate the magnification" in auto.last_scale_note
    assert "--scale number" not in auto.last_scale_note  # auto is the default: no advice to give a number


def test_auto_scale_leaves_what_the_fused_half_scale_pass_reaches(saved_model, he_field):
    """A card fused with x0.5 sees nuclei of up to twice its range at the training size in that pass:
    an image whose nuclei are within 2x the range's top runs as it is, not shrunk to the range."""
    from napari_steatosis.magnification import nucleus_diameter_px
    from napari_steatosis.unet import Detector

    det = Detector.load(saved_model)  # working scale 0.5: the field's nuclei measure d/2 there
    _, rgb = he_field
    d = nucleus_diameter_px(rgb)
    card = dict(det.card, nucleus_diameter_px=dict(range=[0.1 * d, 0.3 * d]), fuse_scales=[1.0, 0.5])
    fused = Detector(det.model, card, scale="auto")
    assert fused.auto_range == pytest.approx((0.1 * d, 0.6 * d))
    assert f"nuclei into {0.1 * d:.1f}-{0.6 * d:.1f} px" in fused.description
    assert fused.choose_scale(rgb) == pytest.approx(0.5) and fused.last_scale_note is None
    single = Detector(det.model, card, scale="auto", fuse=False)  # no half-scale pass: down to the top, 0.3 d
    assert single.auto_range == pytest.approx((0.1 * d, 0.3 * d))
    assert single.choose_scale(rgb) == pytest.approx(0.3)
    beyond = Detector(det.model, dict(card, nucleus_diameter_px=dict(range=[0.05 * d, 0.2 * d])), scale="auto")
    assert beyond.choose_scale(rgb) == pytest.approx(0.4)  # 0.4 d within reach of the x0.5 pass


@pytest.fixture(scope="module")
def nuclei_model(saved_model, he_field, tmp_path_factory):
    """The saved model (working scale 0.5) with a card whose nuclei range is [d, 2d], d the H&E
    field's nucleus size: with --scale auto that field runs at x1, noise at the working scale."""
    from napari_steatosis.magnification import nucleus_diameter_px
    from napari_steatosis.unet.card import load_card, load_model, save_model

    d = nucleus_diameter_px(he_field[1])
    model = tmp_path_factory.mktemp("nuclei") / "nuclei.keras"
    save_model(load_model(saved_model)[0], model,
               dict(load_card(saved_model), nucleus_diameter_px=dict(range=[d, 2 * d])))
    return model


def test_predict_scale_auto_says_what_it_chose(saved_model, nuclei_model, he_field, image, tmp_path, capsys):
    from napari_steatosis.cli import main
    from napari_steatosis.magnification import nucleus_diameter_px
    from napari_steatosis.unet.detector import Detector

    path, rgb = he_field
    assert main(["predict", str(path), "--model", str(saved_model), "--out", str(tmp_path / "p0"),
                 "--scale", "auto"]) == 2
    assert "--scale auto needs a model whose card" in capsys.readouterr().err
    d = nucleus_diameter_px(rgb)
    det = Detector.load(saved_model)
    assert main(["predict", str(path), str(image[0]), "--model", str(nuclei_model), "--out", str(tmp_path / "p"),
                 "--scale", "auto"]) == 0
    err = capsys.readouterr().err
    assert "scale auto (nuclei into" in err and "scale auto: 1 image measured, factors x1 to x1" in err
    assert ("scale auto: 1 image ran at the model's working scale; field: cannot estimate the magnification"
            ) in err
    record = json.loads((tmp_path / "p" / "records" / "he.predict.json").read_text())
    assert record["result"]["scale"] == pytest.approx(1.0)
    auto = Detector(det.model, dict(det.card, nucleus_diameter_px=dict(range=[d, 2 * d])), scale="auto")
    np.testing.assert_array_equal(read_mask(tmp_path / "p" / "he.steatosis.png", rgb.shape[:2]), auto.mask(rgb))
    with pytest.raises(SystemExit):
        main(["predict", str(path), "--out", str(tmp_path / "p2"), "--scale", "big"])
    assert "expected a number above 0 or 'auto', got 'big'" in capsys.readouterr().err


def test_quantify_scale_auto_writes_each_images_factor(nuclei_model, he_field, image, tmp_path, capsys):
    from napari_steatosis.cli import main

    def read_table(path):
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh))

    images = [str(he_field[0]), str(image[0])]
    assert main(["quantify", *images, "--model", str(nuclei_model), "--out", str(tmp_path / "q"),
                 "--scale", "auto"]) == 0
    err = capsys.readouterr().err
    assert "scale auto: 1 image measured, factors x1 to x1 (per image in per_image.csv)" in err
    assert "scale auto: 1 image ran at the model's working scale; field: cannot estimate the magnification" in err
    rows = {r["patient"]: r for r in read_table(tmp_path / "q" / "per_image.csv")}
    assert float(rows["he"]["scale"]) == pytest.approx(1.0) and rows["he"]["scale_note"] == ""
    assert float(rows["field"]["scale"]) == 0.5 and "cannot estimate the magnification" in rows["field"]["scale_note"]
    # a number: the columns stay as they were (the method column says the scale)
    assert main(["quantify", images[0], "--model", str(nuclei_model), "--out", str(tmp_path / "n"),
                 "--scale", "0.8"]) == 0
    (row,) = read_table(tmp_path / "n" / "per_image.csv")
    assert "scale" not in row and "scale 0.4" in row["method"]
    assert "scale auto" not in capsys.readouterr().err


def test_scale_defaults_to_auto_when_the_models_card_records_nuclei(nuclei_model, saved_model, he_field, tmp_path,
                                                                     capsys):
    """No --scale: auto for a model whose card records its training nuclei (the shipped one's does), so an
    image at another magnification is brought into reach; else the card's working scale alone."""
    from napari_steatosis.cli import main
    from napari_steatosis.unet import default_model
    from napari_steatosis.unet.card import default_scale, load_card

    assert default_scale(load_card(default_model.path())) == "auto"
    assert main(["quantify", str(he_field[0]), "--model", str(nuclei_model), "--out", str(tmp_path / "q")]) == 0
    assert "scale auto: 1 image measured, factors x1 to x1" in capsys.readouterr().err
    with open(tmp_path / "q" / "per_image.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert float(row["scale"]) == pytest.approx(1.0)
    assert main(["predict", str(he_field[0]), "--model", str(saved_model), "--out", str(tmp_path / "p")]) == 0
    err = capsys.readouterr().err
    assert "scale auto" not in err and "scale 0.5" in err  # no nuclei on its card: its working scale
