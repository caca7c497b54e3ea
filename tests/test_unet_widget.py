"""The U-Net dock through napari: run with a threshold slider, retrain in a subprocess, cancel.

TensorFlow never enters this test process (nor napari's): the dock runs the network in
worker processes, and the tiny model is made in one too.
"""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from napari_steatosis.data.synthetic import write_sample_dataset

pytestmark = pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="keras not installed")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "tiny.keras"
    code = ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
            "import keras; keras.utils.set_random_seed(0)\n"
            "from napari_steatosis.unet.model import build_unet\n"
            "from napari_steatosis.unet.card import save_model\n"
            f"save_model(build_unet(), {str(path)!r}, {{'threshold': 0.5, 'val_jaccard': 0.1}})\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    return str(path)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return write_sample_dataset(tmp_path_factory.mktemp("d") / "tiny", patients=2, per_patient=1, size=(160, 180),
                                seed=8, splits=(1, 1, 0))


@pytest.fixture
def dock(make_napari_viewer, monkeypatch):
    from napari_steatosis.widgets import jobs, unet_widget

    shown = []
    monkeypatch.setattr(jobs, "notify_error", lambda exc: shown.append(jobs.user_message(exc)))
    monkeypatch.setattr(unet_widget, "notify_error", lambda exc: shown.append(jobs.user_message(exc)))
    monkeypatch.setattr(unet_widget, "notify_info", lambda text: shown.append(text))
    viewer = make_napari_viewer()
    viewer.open_sample("napari-steatosis", "he")
    w = unet_widget.UNetWidget(viewer)
    viewer.window.add_dock_widget(w)
    return viewer, w, shown


def test_run_then_rethreshold_without_running_again(dock, tiny_model, qtbot):
    from napari_steatosis.widgets.unet_widget import MASK_LAYER, PROB_LAYER

    viewer, w, shown = dock
    w.load_model(tiny_model)
    runs = []
    w.run()
    runs.append(1)
    assert not w.run_btn.isEnabled() and w.cancel_run_btn.isEnabled()
    qtbot.waitUntil(lambda: w.run_process is None, timeout=120000)
    assert not shown, shown
    assert "tensorflow" not in sys.modules and "keras" not in sys.modules
    prob = viewer.layers[PROB_LAYER].data
    assert prob.shape == viewer.layers[0].data.shape[:2] and prob.dtype == np.float32
    assert "ran on tensorflow on CPU" in w.device_label.text()
    w.threshold.setValue(1)
    low = viewer.layers[MASK_LAYER].data.sum()
    w.threshold.setValue(99)
    high = viewer.layers[MASK_LAYER].data.sum()
    assert low > high and w.run_process is None  # the slider never started the network again
    assert "% of tissue" in w.readout.text() and w.run_btn.isEnabled()


def test_run_can_be_cancelled(dock, tiny_model, qtbot):
    viewer, w, shown = dock
    w.load_model(tiny_model)
    w.run()
    w.cancel_run_btn.click()
    qtbot.waitUntil(lambda: w.run_process is None, timeout=120000)
    assert w.run_btn.isEnabled() and not w.cancel_run_btn.isEnabled()
    assert "cancelled" in shown[-1]


def test_retrain_in_a_subprocess_and_use_the_model(dock, tiny_dataset, tmp_path, qtbot):
    viewer, w, shown = dock
    w.dataset_edit.setText(str(tiny_dataset.root))
    w.start_from.setCurrentText("scratch")
    w.epochs.setValue(2)
    w.patches.setValue(4)
    out = tmp_path / "retrained.keras"
    w.start_training(str(out), extra=["--lr-grid", "1e-3", "--batch-size", "2"])
    assert not w.start_btn.isEnabled() and w.cancel_train_btn.isEnabled()
    qtbot.waitUntil(lambda: w.process is None, timeout=240000)
    assert out.is_file(), w.train_status.text()
    assert len(w.history) == 2 and w.ax_jac.lines  # the live plot got both epochs
    assert w.use_btn.isEnabled()
    w.use_btn.click()
    assert str(out) in w.model_label.text()


def test_cancel_training_keeps_the_previous_model(dock, tiny_dataset, tiny_model, tmp_path, qtbot):
    import shutil

    viewer, w, shown = dock
    out = tmp_path / "keep.keras"
    shutil.copy(tiny_model, out)
    before = out.read_bytes()
    w.dataset_edit.setText(str(tiny_dataset.root))
    w.start_from.setCurrentText("scratch")
    w.epochs.setValue(50)
    w.start_training(str(out), extra=["--lr-grid", "1e-3", "--batch-size", "2"])
    qtbot.waitUntil(lambda: "training on" in w.train_status.text(), timeout=120000)
    w.cancel_training()
    qtbot.waitUntil(lambda: w.process is None, timeout=120000)
    assert w.start_btn.isEnabled() and not w.cancel_train_btn.isEnabled()
    # whatever happened, the file is a whole model: the old one, or the best epoch's
    assert out.read_bytes() == before or w.trained_model == str(out)
    check = f"from napari_steatosis.unet.card import load_model; load_model({str(out)!r})"
    subprocess.run([sys.executable, "-c", check], check=True, timeout=300)


def test_bad_dataset_is_a_message(dock):
    viewer, w, shown = dock
    w.dataset_edit.setText("/nowhere/at/all")
    w.start_training("/tmp/x.keras")
    assert "dataset folder not found" in shown[-1] and w.process is None and w.start_btn.isEnabled()


def test_the_shipped_models_threshold_is_the_default(dock):
    import json

    from napari_steatosis.unet import default_model
    from napari_steatosis.unet.card import card_path

    viewer, w, shown = dock
    card = json.loads(card_path(default_model.path()).read_text())
    assert w.threshold.value() == round(100 * card["threshold"])
    assert "validation Jaccard" in w.model_label.text()
