"""The docks on a whole slide, through napari: "Run on the whole slide" (a worker process with progress by
block and Cancel, its pyramidal result back as a multiscale labels layer) and "Run on visible region".
No TensorFlow in this process: the U-Net runs in worker processes (see test_slide_unet_dock.py)."""

import numpy as np
import pytest
import tifffile

from napari_steatosis.data.slides import open_slide
from napari_steatosis.sample import sample_slide_path


@pytest.fixture(scope="module")
def tiny_slide(tmp_path_factory):
    from napari_steatosis.data.synthetic_slide import write_synthetic_slide

    return write_synthetic_slide(tmp_path_factory.mktemp("slide") / "tiny.ome.tif", (640, 896), seed=3)["slide"]


@pytest.fixture
def dock(make_napari_viewer, monkeypatch, tmp_path):
    from napari_steatosis.widgets import jobs, slide_panel
    from napari_steatosis.widgets.steatosis_dock import SteatosisDock

    shown = []
    monkeypatch.setattr(jobs, "notify_error", lambda exc: shown.append(jobs.user_message(exc)))
    monkeypatch.setattr(slide_panel, "notify_error", lambda exc: shown.append(jobs.user_message(exc)))
    monkeypatch.setattr(slide_panel, "notify_info", shown.append)
    asked = []
    out = tmp_path / "results"
    monkeypatch.setattr(slide_panel.QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: asked.append(a) or str(out)))
    viewer = make_napari_viewer()
    d = SteatosisDock(viewer)
    viewer.window.add_dock_widget(d, name="Steatosis")
    return viewer, d, out, shown, asked


def level_shapes(path) -> list:
    """The (height, width) of every pyramid level of a TIFF, as written."""
    with tifffile.TiffFile(path) as tif:
        return [tuple(lv.shape[:2]) for lv in tif.series[0].levels]


def open_slide_layer(viewer, path):
    (layer,) = viewer.open(str(path), plugin="napari-steatosis")
    return layer


def test_fibrosis_on_the_whole_slide_is_a_job_whose_pyramid_comes_back_multiscale(dock, tiny_slide, qtbot):
    import dask.array as da

    viewer, d, out, shown, asked = dock
    fib = d.show_tab("Fibrosis")
    panel = fib.slide_panel
    assert panel.isHidden()  # no slide on screen: no whole-slide button
    layer = open_slide_layer(viewer, tiny_slide)
    assert d.ws.multiscale and not panel.isHidden() and panel.run_btn.isEnabled()
    panel.block = 256  # 3 x 4 blocks of this 640 x 896 px slide (one is glass)
    layer.translate = (45.0, -18.0)  # a slide moved on the canvas: its result must land on it
    panel.run_btn.click()
    assert len(asked) == 1  # the results' folder, asked once
    assert panel.job is not None and not panel.run_btn.isEnabled() and panel.cancel_btn.isEnabled()
    qtbot.waitUntil(lambda: panel.job is None, timeout=60000)
    assert not shown, shown
    written = out / "fibrosis" / "tiny.fibrosis.ome.tif"
    assert written.is_file()
    result = viewer.layers["tiny fibrosis (whole slide)"]
    shapes = level_shapes(written)
    assert len(shapes) > 1 and shapes[0] == (640, 896)
    assert result.multiscale and [tuple(lv.shape) for lv in result.data] == shapes  # every level, lazily
    assert all(isinstance(lv, da.Array) for lv in result.data)
    assert np.allclose(result.scale, layer.scale) and np.allclose(result.translate, layer.translate)
    assert layer.scale[-1] == pytest.approx(0.9)  # the slide's µm
    with open_slide(written) as mask:
        fib_px = int(np.count_nonzero(mask.read(0, 0, 640, 896)[..., 0]))
    level0 = np.asarray(result.data[0])
    assert fib_px > 0 and int(np.count_nonzero(level0)) == fib_px
    n = panel.numbers
    assert n["fibrosis_px"] == fib_px and n["fibrosis_pct"] == pytest.approx(100 * fib_px / n["tissue_px"], abs=1e-3)
    text = panel.readout.text()
    assert f"fibrosis {n['fibrosis_pct']:.2f} % of tissue" in text and f"tissue {n['tissue_mm2']:.2f} mm²" in text
    assert str(out / "fibrosis") in text
    # the thresholds of the sliders are the ones run: a stricter saturation marks less
    fib.sliders["sat_min"].setValue(fib.sliders["sat_min"].value() + 80)
    panel.run_btn.click()
    assert len(asked) == 1  # the same folder again
    assert not panel.folder_btn.isEnabled()
    qtbot.waitUntil(lambda: panel.job is None, timeout=60000)
    again = viewer.layers["tiny fibrosis (whole slide)"]
    assert panel.numbers["fibrosis_px"] < fib_px and int(np.count_nonzero(np.asarray(again.data[0]))) < fib_px
    assert [l.name for l in viewer.layers].count(again.name) == 1
    viewer.open_sample("napari-steatosis", "trichrome")  # another image: the slide's result goes with it
    assert again.name not in viewer.layers and panel.isHidden() and panel.readout.text() == ""


def test_cancel_stops_the_worker_and_leaves_no_output(dock, qtbot):
    viewer, d, out, shown, asked = dock
    open_slide_layer(viewer, sample_slide_path())
    panel = d.show_tab("Fibrosis").slide_panel
    panel.block = 256  # 10 x 14 blocks: seconds of work
    job = panel.run(out=str(out))
    qtbot.waitUntil(lambda: any(e.get("event") == "block" for e in job.events), timeout=60000)
    assert panel.progress.maximum() > 1 and not panel.progress.isHidden()
    panel.cancel_btn.click()
    qtbot.waitUntil(lambda: panel.job is None, timeout=30000)
    assert job.cancelled and job.exit_code == 130 and job.events[-1] == {"event": "cancelled"}
    blocks = [e for e in job.events if e.get("event") == "block"]
    assert blocks[-1]["done"] < blocks[-1]["total"] and not any(e.get("event") == "done" for e in job.events)
    assert list((out / "fibrosis").iterdir()) == []  # no result, no temporary file or folder left behind
    assert "cancelled" in panel.readout.text() and panel.run_btn.isEnabled() and not panel.cancel_btn.isEnabled()
    assert not [l for l in viewer.layers if "whole slide" in l.name]
    assert not any("failed" in m for m in shown), shown


def test_classical_runs_on_the_visible_region_and_the_whole_slide(dock, small_dataset, tiny_slide, look_at, qtbot):
    from napari_steatosis.classical.pipeline import predict_steatosis, train_classical
    from napari_steatosis.widgets.classical_widget import REGION_LAYER

    viewer, d, out, shown, asked = dock
    classical = d.show_tab("Classical")
    classical.set_model(train_classical(small_dataset, "logreg", n_iter=2))
    layer = open_slide_layer(viewer, sample_slide_path())
    assert not classical.region_btn.isHidden() and classical.run_btn.isHidden()
    mpp = layer.scale[-1]
    r0, c0, r1, c1 = look_at(viewer, layer, 1300, 1700)
    classical.region_btn.click()
    assert classical.job is not None  # in the background
    qtbot.waitUntil(lambda: classical.job.finished, timeout=60000)
    region_layer = viewer.layers[REGION_LAYER]
    assert region_layer.data.shape == (r1 - r0, c1 - c0)
    assert np.allclose(region_layer.translate, (r0 * mpp, c0 * mpp))
    assert np.allclose(region_layer.data_to_world((10, 20)), layer.data_to_world((r0 + 10, c0 + 20)))
    with open_slide(sample_slide_path()) as slide:
        expected = predict_steatosis(classical.model, slide.read(r0, c0, r1, c1))
    assert np.array_equal(region_layer.data > 0, expected.mask)
    assert "in the visible region" in classical.readout.text()

    open_slide_layer(viewer, tiny_slide)  # the whole of a small slide: seconds
    panel = classical.slide_panel
    panel.block = 320
    panel.run_btn.click()
    qtbot.waitUntil(lambda: panel.job is None, timeout=120000)
    assert not shown, shown
    result = viewer.layers["tiny steatosis (classical, whole slide)"]
    shapes = level_shapes(out / "classical" / "tiny.steatosis.ome.tif")
    assert shapes[0] == (640, 896) and len(shapes) > 1
    assert result.multiscale and [tuple(lv.shape) for lv in result.data] == shapes
    n = panel.numbers
    assert int(np.count_nonzero(np.asarray(result.data[0]))) == n["steatosis_px"] > 0
    assert (out / "classical" / "tiny.vacuoles.csv").is_file()
    assert f"steatosis {n['steatosis_pct']:.2f} % of tissue" in panel.readout.text()
    assert f"{n['n_vacuoles']} vacuoles" in panel.readout.text() and n["n_vacuoles"] > 0


def test_cancel_stops_the_classical_visible_region_run_midway_and_keeps_the_earlier_result(
        dock, small_dataset, look_at, qtbot, monkeypatch):
    import threading

    from napari_steatosis.classical import features
    from napari_steatosis.classical.pipeline import train_classical
    from napari_steatosis.errors import Cancelled
    from napari_steatosis.widgets import jobs
    from napari_steatosis.widgets.classical_widget import REGION_LAYER

    viewer, d, out, shown, asked = dock
    infos = []
    monkeypatch.setattr(jobs, "notify_info", infos.append)
    classical = d.show_tab("Classical")
    classical.set_model(train_classical(small_dataset, "logreg", n_iter=2))
    layer = open_slide_layer(viewer, sample_slide_path())
    look_at(viewer, layer, 1300, 1700)
    classical.region_btn.click()
    qtbot.waitUntil(lambda: classical.job.finished, timeout=60000)
    earlier = viewer.layers[REGION_LAYER]
    data, translate, text = earlier.data.copy(), tuple(earlier.translate), classical.readout.text()
    assert "in the visible region" in text

    look_at(viewer, layer, 1280, 1790, zoom=0.5)  # another, larger region: hundreds of candidate regions
    measured, first, go = [], threading.Event(), threading.Event()
    real = features.shape_features

    def measure(m):  # the worker waits at its first region until Cancel was pressed
        measured.append(1)
        if len(measured) == 1:
            first.set()
            go.wait(30)
        return real(m)

    monkeypatch.setattr(features, "shape_features", measure)
    classical.region_btn.click()
    job = classical.job
    qtbot.waitUntil(first.is_set, timeout=30000)
    classical.run_cancel_btn.click()
    go.set()
    qtbot.waitUntil(lambda: job.finished, timeout=30000)
    assert isinstance(job.error, Cancelled) and infos[-1] == "classical prediction cancelled"
    assert len(measured) == features.CHECK_EVERY  # stopped mid-way, at the next check, not after every region
    assert viewer.layers[REGION_LAYER] is earlier and [l.name for l in viewer.layers].count(REGION_LAYER) == 1
    assert np.array_equal(earlier.data, data) and tuple(earlier.translate) == translate
    assert classical.readout.text() == text and not shown, shown
    assert classical.region_btn.isEnabled() and not classical.run_cancel_btn.isEnabled()
    assert classical.run_progress.isHidden()


def test_a_result_of_one_tile_is_one_lazy_level(dock, tmp_path):
    """napari refuses a multiscale labels layer of one level: a result that fits in one tile is shown plain."""
    from napari_steatosis.data.pyramid import write_pyramid
    from napari_steatosis.widgets.slide_panel import add_slide_result_layer

    viewer, d, out, shown, asked = dock
    layer = open_slide_layer(viewer, sample_slide_path())
    mask = np.zeros((200, 300), np.uint8)
    mask[50:60, 70:90] = 255
    path = write_pyramid(tmp_path / "small.steatosis.ome.tif", mask.shape, lambda r0, r1, c0, c1: mask[r0:r1, c0:c1],
                         mpp=0.9)
    assert len(level_shapes(path)) == 1
    result = add_slide_result_layer(viewer, path, "steatosis", "small", layer)
    assert not result.multiscale and result.data.shape == (200, 300)
    assert np.array_equal(np.asarray(result.data) > 0, mask > 0) and np.allclose(result.scale, layer.scale)


def test_whole_slide_refuses_without_a_slide_or_a_model(dock, tmp_path):
    viewer, d, out, shown, asked = dock
    viewer.open_sample("napari-steatosis", "trichrome")
    d.panels["Classical"].slide_panel.run(out=str(out))
    assert "open a whole slide first" in shown[-1]
    open_slide_layer(viewer, sample_slide_path())
    d.panels["Classical"].slide_panel.run(out=str(out))
    assert "no model" in shown[-1] and d.panels["Classical"].slide_panel.job is None
    fib = d.panels["Fibrosis"].slide_panel
    (tmp_path / "a-file").write_text("")
    fib.run(out=str(tmp_path / "a-file"))  # a results folder that cannot be made
    assert "cannot write the whole-slide results to" in shown[-1] and fib.job is None and fib.out_dir is None
    fib.folder_btn.click()
    assert fib.out_dir == str(out) and len(asked) == 1


def test_review_and_report_on_a_slide_say_what_to_do_instead_of_measuring_a_level(dock, tmp_path):
    import shutil

    from napari_steatosis.sample import sample_data_dir
    from napari_steatosis.widgets import report_widget, review_widget

    viewer, d, out, shown, asked = dock
    review, report = d.show_tab("Review"), d.show_tab("Report")
    open_slide_layer(viewer, sample_slide_path())
    hint = review_widget.slide_hint("liver")
    assert review.status.text() == hint and "Add visible region to the dataset" in hint
    review.start_btn.click()
    assert shown[-1] == hint and not review.reviewing and review.start_btn.isEnabled()
    assert "review" not in d.ws.results
    hint = report_widget.slide_hint("liver")
    assert report.status.text() == hint and "Run on the whole slide" in hint
    report.run_btn.click()
    assert shown[-1] == hint and report.job is None and report.run_btn.isEnabled()

    study = tmp_path / "study"
    shutil.copytree(sample_data_dir(), study)
    d.ws.open_dataset(study)  # a dataset image on screen: the usual hints again, and the report runs on it
    assert review.status.text() == review_widget.START_HINT and report.status.text() == ""
    assert report.dataset_folder() == str(study)


def test_the_slide_hints_go_when_the_slide_goes_whatever_their_words_and_later_messages_stay(dock, tmp_path,
                                                                                           monkeypatch):
    """Review and Report know that they show the slide hint (state), not by reading their status text:
    reworded hints still go when an image replaces the slide, and a message said since stays."""
    import shutil

    from napari_steatosis.sample import sample_data_dir
    from napari_steatosis.widgets import report_widget, review_widget

    viewer, d, out, shown, asked = dock
    monkeypatch.setattr(review_widget, "slide_hint", lambda name: f"{name}: reviewed elsewhere (new words)")
    monkeypatch.setattr(report_widget, "slide_hint", lambda name: f"{name}: numbers elsewhere (new words)")
    review, report = d.show_tab("Review"), d.show_tab("Report")
    open_slide_layer(viewer, sample_slide_path())
    assert review.status.text() == "liver: reviewed elsewhere (new words)"
    assert report.status.text() == "liver: numbers elsewhere (new words)"
    study = tmp_path / "study"
    shutil.copytree(sample_data_dir(), study)
    d.ws.open_dataset(study)
    assert review.status.text() == review_widget.START_HINT and report.status.text() == ""
    review.status.setText("saved as the steatosis labels of x: it now counts as labelled")
    d.ws.step(+1)  # another image: a message said since the slide is not a slide hint, it stays
    assert review.status.text() == "saved as the steatosis labels of x: it now counts as labelled"
