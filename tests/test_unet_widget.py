"""The U-Net dock through napari: run with a threshold slider, retrain in a subprocess, cancel.

TensorFlow never enters this test process (nor napari's): the dock runs the network in
worker processes, and the tiny model is made in one too.
"""

import csv
import importlib.util
import shutil
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
            f"save_model(build_unet(), {str(path)!r}, {{'threshold': 0.5, 'val_jaccard': 0.1, "
            "'nucleus_diameter_px': {'range': [4, 6]}})\n")  # for scale auto: the sample's nuclei are ~12 px
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    return str(path)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    return write_sample_dataset(tmp_path_factory.mktemp("d") / "tiny", patients=2, per_patient=1, size=(160, 180),
                                seed=8, splits=(1, 1, 0))


@pytest.fixture
def dock(make_napari_viewer, monkeypatch):
    from napari_steatosis.widgets import jobs, unet_run, unet_training, unet_widget

    shown = []
    monkeypatch.setattr(jobs, "notify_error", lambda exc: shown.append(jobs.user_message(exc)))
    for module in (unet_run, unet_training):
        monkeypatch.setattr(module, "notify_error", lambda exc: shown.append(jobs.user_message(exc)))
        monkeypatch.setattr(module, "notify_info", lambda text: shown.append(text))
    viewer = make_napari_viewer()
    viewer.open_sample("napari-steatosis", "he")
    w = unet_widget.UNetWidget(viewer)
    viewer.window.add_dock_widget(w)
    return viewer, w.run_panel, w.retrain_panel, shown


def test_run_then_rethreshold_without_running_again(dock, tiny_model, qtbot):
    from napari_steatosis.widgets.layers import RESULT_LAYERS

    MASK_LAYER, PROB_LAYER = RESULT_LAYERS["unet"]
    viewer, w, _, shown = dock
    w.load_model(tiny_model)
    w.run_btn.click()
    assert not w.run_btn.isEnabled() and w.cancel_run_btn.isEnabled()
    qtbot.waitUntil(lambda: w.run_process is None, timeout=120000)
    assert not shown, shown
    assert "tensorflow" not in sys.modules and "keras" not in sys.modules
    prob = viewer.layers[PROB_LAYER].data
    assert prob.shape == viewer.layers[0].data.shape[:2] and prob.dtype == np.float32
    assert "ran on OpenVINO on CPU" in w.device_label.text()
    w.threshold.setValue(1)
    low = viewer.layers[MASK_LAYER].data.sum()
    w.threshold.setValue(99)
    high = viewer.layers[MASK_LAYER].data.sum()
    assert low > high and w.run_process is None  # the slider never started the network again
    assert w.readout.text().startswith(f"Steatosis: {w.percent:.1f} % of tissue, S") and w.run_btn.isEnabled()
    viewer.open_sample("napari-steatosis", "trichrome")  # another image: the result and its number go
    assert MASK_LAYER not in viewer.layers and PROB_LAYER not in viewer.layers and w.readout.text() == ""


def test_scale_auto_runs_at_the_factor_the_nuclei_give(dock, tiny_model, tmp_path, qtbot):
    from napari_steatosis.magnification import scale_to_nuclei

    viewer, w, _, shown = dock
    w.load_model(tiny_model)
    # its card records nucleus sizes: auto is ticked, as the command line's default for it, the number idle
    assert w.auto_scale.isEnabled() and w.auto_scale.isChecked() and not w.scale.isEnabled()
    job = w.run()
    assert job.args[job.args.index("--scale") + 1] == "auto"
    qtbot.waitUntil(lambda: w.run_process is None, timeout=120000)
    assert not shown, shown
    expect = scale_to_nuclei(np.asarray(viewer.layers[0].data), 4, 6)  # the card's range; working scale 1
    assert 0.3 < expect < 0.7 and f"scale auto: x{expect:.2g} from nuclei" in w.device_label.text()
    assert w.slide_settings()["scale"] == "auto"  # a whole slide too: one factor from its nuclei
    w.auto_scale.click()  # off: the number again
    assert w.scale.isEnabled() and w.scale_arg() == "1"
    w.auto_scale.click()
    bare = tmp_path / "bare.keras"  # a model without a card: no nucleus sizes, no auto
    shutil.copy(tiny_model, bare)
    w.load_model(str(bare))
    assert not w.auto_scale.isEnabled() and not w.auto_scale.isChecked() and w.scale_arg() == "1"
    w.set_model_path(None)  # the shipped default's card records its training images' nuclei: auto again
    assert w.auto_scale.isEnabled() and w.auto_scale.isChecked() and w.scale_arg() == "auto"


def test_run_can_be_cancelled(dock, tiny_model, qtbot):
    viewer, w, _, shown = dock
    w.load_model(tiny_model)
    w.run()
    w.cancel_run_btn.click()
    qtbot.waitUntil(lambda: w.run_process is None, timeout=120000)
    assert w.run_btn.isEnabled() and not w.cancel_run_btn.isEnabled()
    assert "cancelled" in shown[-1]


def test_retrain_in_a_subprocess_and_use_the_model(dock, tiny_dataset, tmp_path, qtbot):
    viewer, run, w, shown = dock
    assert w.plot.isHidden()  # no empty axes before any training
    w.dataset_edit.setText(str(tiny_dataset.root))
    w.start_from.setCurrentText("scratch")
    w.epochs.setValue(2)
    w.validate_every.setValue(0.02)
    out = tmp_path / "retrained.keras"
    w.start_training(str(out), extra=["--lr-grid", "1e-3", "--batch-size", "2"])
    assert not w.start_btn.isEnabled() and w.cancel_train_btn.isEnabled()
    qtbot.waitUntil(lambda: w.process is None, timeout=240000)
    assert out.is_file(), w.train_status.text()
    assert len(w.history) == 2 and len(w.plot.ax_jac.lines[0].get_xdata()) == 2  # the live plot got both epochs
    assert not w.plot.isHidden() and w.use_btn.isEnabled()
    w.use_btn.click()
    assert str(out) in run.model_label.text() and run.model_path == str(out)


def test_cancel_after_an_epoch_keeps_the_best_epoch_so_far(dock, tiny_dataset, tiny_model, tmp_path, qtbot):
    import shutil

    viewer, run, w, shown = dock
    out = tmp_path / "keep.keras"
    shutil.copy(tiny_model, out)
    before = out.read_bytes()
    w.dataset_edit.setText(str(tiny_dataset.root))
    w.start_from.setCurrentText("scratch")
    w.epochs.setValue(50)
    w.validate_every.setValue(0.02)
    w.start_training(str(out), extra=["--lr-grid", "1e-3", "--batch-size", "2"])
    qtbot.waitUntil(lambda: len(w.history) >= 1, timeout=240000)  # one epoch done, 49 to go
    w.cancel_train_btn.click()
    qtbot.waitUntil(lambda: w.process is None, timeout=120000)
    assert w.start_btn.isEnabled() and not w.cancel_train_btn.isEnabled()
    assert w.trained_model == str(out) and out.read_bytes() != before  # the best epoch replaced the old file
    assert "best epoch so far" in w.train_status.text() and len(w.history) < 50
    check = f"from napari_steatosis.unet.card import load_model; load_model({str(out)!r})"
    subprocess.run([sys.executable, "-c", check], check=True, timeout=300)


def test_retrain_with_my_corrections_fine_tunes_the_run_model(dock, tiny_dataset, tiny_model, tmp_path, qtbot):
    """Correct a label, then "Retrain with my corrections": a real fine-tuning run from the Run panel's model."""
    import shutil

    from napari_steatosis.data import Dataset
    from napari_steatosis.widgets.workspace_view import workspace_of

    viewer, run, w, shown = dock
    w.corrections_btn.click()  # the open dataset is the bundled sample: nothing of the user's to learn
    assert "bundled sample" in shown[-1] and w.process is None
    folder = tmp_path / "mine"
    shutil.copytree(tiny_dataset.root, folder)
    run.load_model(tiny_model)
    ws = workspace_of(viewer)
    ws.open_dataset(folder)
    corrected = np.zeros(ws.shape, bool)
    corrected[20:40, 30:60] = True
    ws.accept_as_labels(corrected)  # as the Review tab's Accept does
    assert np.array_equal(Dataset.open(folder).read_mask(ws.record, "steatosis"), corrected)
    w.epochs.setValue(1)
    w.validate_every.setValue(0.02)
    out = tmp_path / "fine.keras"
    w.retrain_with_corrections(str(out), extra=["--lr-grid", "1e-3", "--batch-size", "2"])
    args = w.job.args
    assert args[args.index("train-unet") + 1] == str(folder) and args[args.index("--init") + 1] == tiny_model
    qtbot.waitUntil(lambda: w.process is None, timeout=240000)
    assert out.is_file() and w.trained_model == str(out), w.train_status.text()
    assert len(w.history) == 1 and w.use_btn.isEnabled()


def test_bad_dataset_is_a_message(dock):
    viewer, run, w, shown = dock
    w.dataset_edit.setText("/nowhere/at/all")
    w.start_training("/tmp/x.keras")
    assert "dataset folder not found" in shown[-1] and w.process is None and w.start_btn.isEnabled()


def test_the_shipped_models_threshold_is_the_default(dock):
    import json

    from napari_steatosis.unet import default_model
    from napari_steatosis.unet.card import card_path

    viewer, w, _, shown = dock
    card = json.loads(card_path(default_model.path()).read_text())
    assert w.threshold.value() == round(100 * card["threshold"])
    assert "validation Jaccard" in w.model_label.text()


def test_the_dock_gives_the_mask_and_number_quantify_gives(dock, tmp_path, qtbot):
    """The shipped model's card completes detections to the white region they sit in; the dock did not, so
    a pathologist read 33.1 % (S2) in the dock and 35.5 % from `steatosis quantify` on the same field."""
    from napari_steatosis.data import read_mask
    from napari_steatosis.data.images import write_image

    viewer, w, _, shown = dock
    rgb = np.asarray(viewer.layers[0].data)
    write_image(tmp_path / "field.png", rgb)
    subprocess.run([sys.executable, "-m", "napari_steatosis.cli", "quantify", str(tmp_path / "field.png"),
                    "--out", str(tmp_path / "q")], check=True, capture_output=True, timeout=600)
    w.run_btn.click()
    qtbot.waitUntil(lambda: w.run_process is None, timeout=300000)
    assert not shown, shown
    (row,) = csv.DictReader(open(tmp_path / "q" / "per_image.csv"))
    cli_mask = read_mask(tmp_path / "q" / "field.steatosis.png", rgb.shape[:2])
    assert np.array_equal(w.ws.results["unet"].mask > 0, cli_mask)
    assert f"Steatosis: {float(row['steatosis_pct']):.1f} % of tissue" in w.readout.text(), (w.readout.text(), row)


def test_on_a_slide_the_visible_region_and_the_whole_slide(dock, tiny_model, tmp_path, look_at, qtbot):
    """A slide on screen: the network on the region on screen (drawn where it was read, the slider live on it),
    then on every tissue block in a worker, its pyramid back as a multiscale labels layer."""
    import tifffile

    from napari_steatosis.data.slides import open_slide
    from napari_steatosis.data.synthetic_slide import write_synthetic_slide
    from napari_steatosis.preprocess import tissue_mask
    from napari_steatosis.slide_blocks import thumbnail
    from napari_steatosis.slide_scale import slide_scale
    from napari_steatosis.unet.card import load_card
    from napari_steatosis.unet.detector import Detector
    from napari_steatosis.widgets.unet_run import REGION_LAYER

    viewer, w, _, shown = dock
    slide = write_synthetic_slide(tmp_path / "s.ome.tif", (512, 640), seed=5, stain="he", truth=False)["slide"]
    (layer,) = viewer.open(str(slide), plugin="napari-steatosis")
    assert w.ws.multiscale and w.run_btn.isHidden() and not w.region_btn.isHidden()
    w.load_model(tiny_model)
    mpp = layer.scale[-1]
    r0, c0, r1, c1 = look_at(viewer, layer, 250, 300, zoom=4)  # 4 screen px per level-0 px: a small region
    box = w.run_on_visible_region()
    assert box is not None and not w.region_btn.isEnabled()
    qtbot.waitUntil(lambda: w.run_process is None, timeout=180000)
    assert not shown, shown
    region = viewer.layers[REGION_LAYER]
    assert region.data.shape == (r1 - r0, c1 - c0)
    assert np.allclose(region.translate, (r0 * mpp, c0 * mpp)) and np.allclose(region.scale, layer.scale)
    w.threshold.setValue(1)
    low = int(region.data.sum())
    w.threshold.setValue(99)
    assert viewer.layers[REGION_LAYER] is region and int(region.data.sum()) < low
    assert "in the visible region" in w.readout.text()
    # detections completed to the white regions they sit in, on the pixels the worker read, as on an image
    from napari_steatosis.unet.complete import complete_to_white

    with open_slide(slide) as s:
        pixels = s.read(r0, c0, r1, c1)
    assert np.array_equal(w.region_rgb, pixels)
    w.cover = 0.5  # as the shipped card says (the tiny model's card has no completion)
    w.threshold.setValue(52)  # the untrained net's probabilities lie within 0.50-0.53: about half is marked
    plain = (w.prob >= 0.52) & w.tissue
    expect = complete_to_white(plain, pixels, 0.5) & w.tissue
    assert (expect & ~plain).any() and np.array_equal(viewer.layers[REGION_LAYER].data > 0, expect)
    w.cover = None

    panel = w.slide_panel
    panel.block = 256  # 2 x 3 blocks, a pyramid of 256 px tiles
    w.threshold.setValue(50)
    assert w.auto_scale.isChecked()  # scale auto (this model's default): the slide's one factor, from its nuclei
    job = panel.run(out=str(tmp_path / "out"))
    assert job is not None and job.args[job.args.index("--scale") + 1] == "auto"
    qtbot.waitUntil(lambda: panel.job is None, timeout=180000)
    assert not shown, shown
    assert "tensorflow" not in sys.modules and "keras" not in sys.modules
    result = viewer.layers["s steatosis (U-Net, whole slide)"]
    with tifffile.TiffFile(tmp_path / "out" / "unet" / "s.steatosis.ome.tif") as tif:
        shapes = [tuple(lv.shape[:2]) for lv in tif.series[0].levels]
    assert shapes[0] == (512, 640)
    assert result.multiscale and [tuple(lv.shape) for lv in result.data] == shapes
    assert np.allclose(result.scale, layer.scale)
    n = panel.numbers
    assert int(np.count_nonzero(np.asarray(result.data[0]))) == n["steatosis_px"]
    assert f"steatosis {n['steatosis_pct']:.2f} % of tissue" in panel.readout.text()
    assert f"{n['n_vacuoles']} vacuoles" in panel.readout.text()
    with open_slide(slide) as s:  # the same estimate here (no Keras: the card is enough)
        expect, _ = slide_scale(s, tissue_mask(thumbnail(s)), Detector(None, load_card(tiny_model), scale="auto"))
    assert 0.4 < expect < 0.9 and n["scale"] == round(expect, 4)  # the sample's nuclei, larger than the card's 4-6 px
    assert f"scale auto: x{expect:.2g} from nuclei" in panel.readout.text()
    assert (tmp_path / "out" / "unet" / "s.steatosis.ome.tif").is_file()
