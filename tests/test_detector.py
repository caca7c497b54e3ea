"""`Detector`: one loaded U-Net with its card's threshold and working scale, used by predict,
quantify and the napari worker alike (TensorFlow in-process: marker ``tensorflow``)."""

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
