"""Widgets driven through napari, the way a user drives them."""

import numpy as np
import pytest

from napari_steatosis.sample import sample_data_dir
from napari_steatosis.widgets.layers import FIBROSIS_MASK, FIBROSIS_OVERLAY, STEATOSIS_MASK, STEATOSIS_POINTS


@pytest.fixture
def viewer_with_sample(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-steatosis", "trichrome")
    return viewer


def test_open_sample_gives_image_and_labels(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-steatosis", "he")
    names = [l.name for l in viewer.layers]
    assert names[0].startswith("P") and viewer.layers[0].rgb
    assert STEATOSIS_MASK in names and STEATOSIS_POINTS in names
    assert FIBROSIS_MASK not in names  # H&E has no collagen stain
    viewer.layers.clear()
    viewer.open_sample("napari-steatosis", "trichrome")
    assert FIBROSIS_MASK in [l.name for l in viewer.layers]


def test_slider_moves_the_overlay_and_the_readout(viewer_with_sample, qtbot):
    from napari_steatosis.widgets.fibrosis_widget import FibrosisWidget

    viewer = viewer_with_sample
    w = FibrosisWidget(viewer)
    viewer.window.add_dock_widget(w)
    overlay = viewer.layers[FIBROSIS_OVERLAY]
    before, pct_before = overlay.data.copy(), w.percent
    assert before.shape == viewer.layers[0].data.shape[:2]
    w.sliders["sat_min"].setValue(w.sliders["sat_min"].value() - 40)  # laxer: more collagen
    after = viewer.layers[FIBROSIS_OVERLAY].data
    assert after.sum() > before.sum() and w.percent > pct_before
    assert f"Fibrosis: {w.percent:.1f} % of tissue" == w.readout.text()
    w.sliders["hue_min"].setValue(170)
    w.sliders["hue_max"].setValue(175)  # a window with no blue in it
    assert viewer.layers[FIBROSIS_OVERLAY].data.sum() < after.sum() / 10


def test_tune_from_mask_layer_and_from_dataset(viewer_with_sample, qtbot):
    from napari_steatosis.widgets.fibrosis_widget import FibrosisWidget

    viewer = viewer_with_sample
    w = FibrosisWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.sliders["sat_min"].setValue(0)
    w.sliders["val_min"].setValue(0)
    w.tune_layer_btn.click()
    qtbot.waitUntil(lambda: w.last_tuning is not None and w.tune_layer_btn.isEnabled(), timeout=60000)
    assert w.last_tuning.auc > 0.9
    assert w.sliders["sat_min"].value() == w.last_tuning.thresholds.sat_min > 0
    assert not w.roc_canvas.isHidden()  # shown once there is a curve
    assert f"AUC {w.last_tuning.auc:.2f}" in w.tuning_label.text()
    assert w.tune_layer_btn.isEnabled()

    first = w.last_tuning
    w.tune_from_folder(str(sample_data_dir()))
    qtbot.waitUntil(lambda: w.last_tuning is not first and w.tune_ds_btn.isEnabled(), timeout=120000)
    assert w.last_tuning.n_train >= 2
    assert "held-out" in w.tuning_label.text()


def test_errors_become_notifications_and_leave_the_widget_usable(make_napari_viewer, qtbot, monkeypatch, tmp_path):
    from napari_steatosis.widgets import jobs
    from napari_steatosis.widgets.fibrosis_widget import FibrosisWidget

    shown = []
    monkeypatch.setattr(jobs, "notify_error", lambda exc: shown.append(jobs.user_message(exc)))
    viewer = make_napari_viewer()
    w = FibrosisWidget(viewer)
    w.tune_from_layer()
    assert "open an image first" in shown[-1]
    viewer.add_image(np.full((64, 64, 3), 255, np.uint8), rgb=True, name="blank")  # no tissue at all
    w.tune_layer_btn.click()
    assert "'fibrosis mask' marks nothing" in shown[-1]
    fib = viewer.layers[FIBROSIS_MASK]
    fib.data = np.zeros((10, 10), np.uint8)  # a wrong-sized mask is refused when saved, not used
    fib.data = np.zeros((64, 64), np.uint8)
    fib.data[:2, :2] = 1
    fib.refresh()
    n = len(shown)
    w.tune_layer_btn.click()
    qtbot.waitUntil(lambda: len(shown) > n and w.tune_layer_btn.isEnabled(), timeout=60000)
    assert "no tissue pixel" in shown[-1]  # failed in the background, said so
    assert w.tune_layer_btn.isEnabled() and w.tune_ds_btn.isEnabled()
    w.tune_from_folder(str(tmp_path))
    assert "dataset.csv" in shown[-1]


def test_stain_warnings_in_the_fibrosis_dock(make_napari_viewer):
    from napari_steatosis.sample import sample_dataset
    from napari_steatosis.widgets.fibrosis_widget import FibrosisWidget

    viewer = make_napari_viewer()
    viewer.open_sample("napari-steatosis", "he")
    w = FibrosisWidget(viewer)
    assert w.stain.stain == "he"
    assert not w.warning.isHidden() and "not measurable by hue" in w.warning.text()
    assert "not measurable on H&E" in w.readout.text()
    viewer.layers.clear()
    viewer.open_sample("napari-steatosis", "trichrome")
    assert w.stain.stain == "trichrome" and w.warning.isHidden()
    w.preset_combo.setCurrentText("sirius-red")
    assert not w.warning.isHidden() and "choose the trichrome preset" in w.warning.text()
    rgb = sample_dataset().read_image(sample_dataset().records[0])
    grey = np.repeat(rgb.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    viewer.add_image(grey, rgb=True, name="grey")
    assert "grey-scale" in w.warning.text() and "grey-scale" in w.readout.text()
    assert FIBROSIS_OVERLAY not in [l.name for l in viewer.layers]


def test_opening_every_dock_keeps_tensorflow_out(make_napari_viewer):
    import sys

    from napari_steatosis.widgets.annotation_widget import AnnotationWidget
    from napari_steatosis.widgets.classical_widget import ClassicalWidget
    from napari_steatosis.widgets.fibrosis_widget import FibrosisWidget
    from napari_steatosis.widgets.report_widget import ReportWidget
    from napari_steatosis.widgets.unet_widget import UNetWidget

    viewer = make_napari_viewer()
    viewer.open_sample("napari-steatosis", "trichrome")
    from napari_steatosis.widgets.steatosis_dock import SteatosisDock

    for cls in (AnnotationWidget, FibrosisWidget, ClassicalWidget, UNetWidget, ReportWidget, SteatosisDock):
        viewer.window.add_dock_widget(cls(viewer))
    assert "tensorflow" not in sys.modules


def test_every_tab_fits_the_dock_in_a_1600_by_1000_window(make_napari_viewer, qtbot):
    """The tabs scroll vertically only: a row wider than the dock is cut at its right edge (a Cancel
    button, the threshold's value), with no scroll bar to reach it."""
    from napari_steatosis.widgets.steatosis_dock import SteatosisDock

    viewer = make_napari_viewer(show=True)
    dock = SteatosisDock(viewer)
    viewer.window.add_dock_widget(dock, name="Steatosis", area="right")
    viewer.window.resize(1600, 1000)
    from napari_steatosis.sample import sample_slide_path

    run = dock.panels["U-Net"].run_panel
    for opened in ("image", "slide"):
        if opened == "image":
            viewer.open_sample("napari-steatosis", "trichrome")
        else:
            viewer.layers.clear()
            viewer.open(str(sample_slide_path()), plugin="napari-steatosis")
        for i in range(dock.tabs.count()):
            dock.tabs.setCurrentIndex(i)
            qtbot.wait(50)
            area = dock.tabs.widget(i)
            need, have = area.widget().minimumSizeHint().width(), area.viewport().width()
            assert need <= have, f"{opened}, tab {dock.tabs.tabText(i)}: needs {need} px, the dock shows {have}"
        dock.show_tab("U-Net")
        qtbot.wait(50)
        shown = run.region_btn if opened == "slide" else run.run_btn
        beside = abs(shown.geometry().center().y() - run.cancel_run_btn.geometry().center().y()) < shown.height() / 2
        assert shown.isVisible() and beside, opened  # Cancel on the row of the Run it stops


def test_messages_point_to_tabs_and_buttons_that_exist(make_napari_viewer, monkeypatch, tmp_path):
    """'(Annotate > New from images…)' must name a tab of the dock and a button on it: the user follows it."""
    import re

    import cv2
    from qtpy.QtWidgets import QPushButton

    from napari_steatosis.widgets import jobs
    from napari_steatosis.widgets.steatosis_dock import SteatosisDock

    said = []
    monkeypatch.setattr(jobs, "notify_error", lambda exc: said.append(jobs.user_message(exc)))
    viewer = make_napari_viewer()
    dock = SteatosisDock(viewer)
    viewer.window.add_dock_widget(dock)
    cv2.imwrite(str(tmp_path / "field.png"), np.full((60, 80, 3), (120, 60, 200), np.uint8))
    viewer.open(str(tmp_path / "field.png"))  # an image of no dataset
    dock.panels["Annotate"].save_btn.click()
    dock.panels["Review"].retrain_btn.click()
    assert len(said) == 2, said
    tabs = {dock.tabs.tabText(i): dock.tabs.widget(i).widget() for i in range(dock.tabs.count())}
    for text in said:
        tab, button = re.search(r"\((\w[\w-]*) > ([^)]+)\)", text).groups()
        assert tab in tabs, text
        buttons = [b.text().rstrip(".…") for b in tabs[tab].findChildren(QPushButton)]
        assert button.rstrip(".…") in buttons, (text, buttons)


def test_previous_and_next_without_a_dataset_say_what_they_need(make_napari_viewer, monkeypatch):
    from qtpy.QtWidgets import QPushButton

    from napari_steatosis.widgets import jobs
    from napari_steatosis.widgets.steatosis_dock import SteatosisDock

    said = []
    monkeypatch.setattr(jobs, "notify_error", lambda exc: said.append(jobs.user_message(exc)))
    viewer = make_napari_viewer()
    dock = SteatosisDock(viewer)
    annotate = dock.panels["Annotate"]
    annotate.prev_btn.click()
    annotate.next_btn.click()  # they did nothing at all, not even say why
    assert len(said) == 2 and said[0] == said[1] and "go through the images of a dataset" in said[0], said
    buttons = {b.text().rstrip(".…") for b in annotate.findChildren(QPushButton)}
    assert {"Open dataset", "New from images"} <= buttons  # the buttons the message names
    assert "(Open dataset…)" in said[0] and "(New from images…)" in said[0]


@pytest.mark.parametrize("pct", [4.9, 4.96, 5.0, 33.0, 33.04, 33.1, 33.5, 66.0, 66.004, 66.1])
def test_the_readout_range_holds_the_percentage_it_shows(pct):
    """The U-Net dock reads "Steatosis: 33.1 % of tissue, S2, moderate (…)": the range it names must hold 33.1."""
    import re

    from napari_steatosis.widgets.unet_run import steatosis_readout

    text = steatosis_readout(pct)
    shown = float(re.search(r"Steatosis: ([\d.]+) %", text).group(1))
    rng = re.search(r"\((.*) %\)$", text).group(1)
    if rng.startswith("<"):
        assert shown < float(rng[1:]), text
    elif "-" in rng:
        lo, hi = rng.split("-")
        assert (shown > float(lo[1:]) if lo.startswith(">") else shown >= float(lo)) and shown <= float(hi), text
    else:
        assert rng.startswith(">") and shown > float(rng[1:]), text
