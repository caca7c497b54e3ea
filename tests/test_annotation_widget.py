"""The annotation dock, driven the way a pathologist uses it."""

import shutil
import tracemalloc

import numpy as np
import pytest

from napari_steatosis.data import Dataset, read_mask, read_points
from napari_steatosis.sample import sample_data_dir
from napari_steatosis.widgets.layers import FIBROSIS_MASK, NOT_STEATOSIS_POINTS, STEATOSIS_MASK, STEATOSIS_POINTS


@pytest.fixture
def messages(monkeypatch):
    from napari_steatosis.widgets import annotation_widget, jobs

    shown = []
    monkeypatch.setattr(jobs, "notify_error", lambda exc: shown.append(jobs.user_message(exc)))
    monkeypatch.setattr(annotation_widget, "notify_info", lambda text: shown.append(text))
    return shown


@pytest.fixture
def dock(make_napari_viewer, tmp_path, messages):
    from napari_steatosis.widgets.annotation_widget import AnnotationWidget

    folder = tmp_path / "study"
    shutil.copytree(sample_data_dir(), folder)
    viewer = make_napari_viewer()
    w = AnnotationWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.open_dataset(str(folder))
    return viewer, w, folder


def test_points_and_masks_survive_switching_images(dock):
    viewer, w, folder = dock
    first = w.current
    assert viewer.layers[first.stem].rgb and w.table.rowCount() == 12
    pos, neg = viewer.layers[STEATOSIS_POINTS], viewer.layers[NOT_STEATOSIS_POINTS]
    pos.add([[10.123, 20.456], [100.5, 200.25]])
    neg.add([[33.3333, 44.4444]])
    mask = viewer.layers[STEATOSIS_MASK]
    mask.paint((50, 60), 1)  # a brush stroke, as the mouse makes it
    mask.brush_size = 5
    mask.paint((200, 300), 1)
    assert w.dirty and w.table.item(0, 6).text() == "unsaved"
    expected_pos, expected_neg = np.array(pos.data), np.array(neg.data)
    expected_mask = np.array(mask.data) > 0
    w.step(1)  # autosave on switching image
    assert w.current is not first and not w.dirty
    assert np.array_equal(read_mask(folder / "labels" / f"{first.stem}.steatosis.png"), expected_mask)
    w.step(-1)
    np.testing.assert_allclose(viewer.layers[STEATOSIS_POINTS].data, expected_pos, atol=0.01)
    np.testing.assert_allclose(viewer.layers[NOT_STEATOSIS_POINTS].data, expected_neg, atol=0.01)
    assert np.array_equal(viewer.layers[STEATOSIS_MASK].data > 0, expected_mask)
    # a fresh dock on the same folder sees the same
    again = Dataset.open(folder)
    pts = again.read_points(again.record(first.stem))
    np.testing.assert_allclose(pts.positive, expected_pos, atol=0.01)


def test_explicit_save_and_close_save(dock):
    viewer, w, folder = dock
    rec = w.current
    viewer.layers[FIBROSIS_MASK].paint((5, 5), 1)
    w.save()
    assert read_mask(folder / "labels" / f"{rec.stem}.fibrosis.png")[5, 5]
    viewer.layers[STEATOSIS_POINTS].add([[7, 8]])
    w.hide()  # closing the dock saves
    assert len(read_points(folder / "labels" / f"{rec.stem}.points.csv").positive) == \
        len(viewer.layers[STEATOSIS_POINTS].data)


def test_failed_write_keeps_the_old_file(dock, monkeypatch, messages):
    viewer, w, folder = dock
    rec = w.current
    path = folder / "labels" / f"{rec.stem}.steatosis.png"
    before = path.read_bytes()
    import cv2

    viewer.layers[STEATOSIS_MASK].paint((20, 20), 1)
    with monkeypatch.context() as m:
        m.setattr(cv2, "imwrite", lambda *a, **k: (_ for _ in ()).throw(OSError("No space left on device")))
        w.save()
    assert "No space left on device" in messages[-1]
    assert path.read_bytes() == before and read_mask(path).shape == w.shape
    assert w.dirty  # still unsaved, nothing lost from the layer
    assert not [p for p in (folder / "labels").iterdir() if p.name.startswith(".")]  # no temp file left


def test_mis_sized_mask_layer_and_outside_points_are_refused(dock, messages):
    viewer, w, folder = dock
    rec = w.current
    before = {p.name: p.read_bytes() for p in (folder / "labels").iterdir()}
    viewer.layers[STEATOSIS_MASK].data = np.zeros((10, 10), np.uint8)
    w.ws.mark_dirty()
    assert not w.save()
    assert "nothing was saved" in messages[-1] and "10x10" in messages[-1]
    viewer.layers[STEATOSIS_MASK].data = np.zeros(w.shape, np.uint8)
    viewer.layers[STEATOSIS_POINTS].add([[w.shape[0] + 50, 3]])
    assert not w.save()
    assert "outside" in messages[-1]
    assert {p.name: p.read_bytes() for p in (folder / "labels").iterdir()} == before
    # a refused autosave keeps the image open instead of dropping the changes
    w.step(1)
    assert w.current is rec


def test_read_only_folder_and_name_collision(dock, monkeypatch, messages, tmp_path):
    import tempfile

    viewer, w, folder = dock
    viewer.layers[STEATOSIS_POINTS].add([[3, 3]])
    with monkeypatch.context() as m:
        m.setattr(tempfile, "mkstemp", lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "denied")))
        assert not w.save()
    assert "not writable" in messages[-1]
    shutil.copy(folder / "images" / f"{w.current.stem}.jpg", tmp_path / f"{w.current.stem}.jpg")
    w.add_images([str(tmp_path / f"{w.current.stem}.jpg")], patient="X")
    assert "already in" in messages[-1]
    assert len(Dataset.open(folder)) == 12


def test_new_dataset_from_images_and_imports(make_napari_viewer, tmp_path, messages):
    from napari_steatosis.widgets.annotation_widget import AnnotationWidget

    src = sample_data_dir() / "images"
    viewer = make_napari_viewer()
    w = AnnotationWidget(viewer)
    w.new_dataset(str(tmp_path / "new"), [str(src / "P01_01.jpg"), str(src / "P02_01.jpg")], patient="A1")
    assert len(w.dataset) == 2 and (tmp_path / "new" / "images" / "P02_01.jpg").exists()
    assert w.table.item(1, 1).text() == "A1"
    w.import_mask_file(str(sample_data_dir() / "labels" / "P01_01.steatosis.png"), "steatosis")
    assert viewer.layers[STEATOSIS_MASK].data.any() and w.dirty
    qupath = tmp_path / "qupath.csv"
    qupath.write_text("x,y,class\n12.5,7.25,steatosis\n30,40,not_steatosis\n")
    w.import_points_file(str(qupath))
    napari_csv = tmp_path / "napari.csv"
    napari_csv.write_text("index,axis-0,axis-1\n0,5.5,6.5\n1,9,10\n")
    w.import_points_file(str(napari_csv), "not_steatosis")
    assert len(viewer.layers[STEATOSIS_POINTS].data) == 1 and len(viewer.layers[NOT_STEATOSIS_POINTS].data) == 3
    bad = tmp_path / "bad.png"
    import cv2

    cv2.imwrite(str(bad), np.zeros((5, 5), np.uint8))
    w.import_mask_file(str(bad), "steatosis")
    assert "5x5" in messages[-1]
    w.save()
    ds = Dataset.open(tmp_path / "new")
    assert len(ds.read_points(ds.record("P01_01"))) == 4


def test_painting_a_large_image_copies_nothing_per_stroke(make_napari_viewer, tmp_path, messages):
    """A 4000x4000 image: our handlers must not copy the layer per stroke (16 MB each)."""
    import cv2

    from napari_steatosis.widgets.annotation_widget import AnnotationWidget

    big = np.full((4000, 4000, 3), 180, np.uint8)
    cv2.imwrite(str(tmp_path / "big.png"), big)
    viewer = make_napari_viewer()
    w = AnnotationWidget(viewer)
    w.new_dataset(str(tmp_path / "bigset"), [str(tmp_path / "big.png")], patient="B")
    layer = viewer.layers[STEATOSIS_MASK]
    layer.brush_size = 20
    layer.paint((100, 100), 1)  # first stroke marks the image unsaved
    tracemalloc.start()
    for k in range(20):
        layer.paint((200 + 10 * k, 300 + 10 * k), 1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4_000_000, peak
    assert w.dirty


def test_saving_a_large_image_runs_in_the_background(make_napari_viewer, tmp_path, messages, qtbot):
    """4000x4000 px: Save writes in a background job (progress, Save disabled); an edit meanwhile stays unsaved."""
    import cv2

    from napari_steatosis.widgets.annotation_widget import AnnotationWidget

    cv2.imwrite(str(tmp_path / "big.png"), np.full((4000, 4000, 3), 180, np.uint8))
    viewer = make_napari_viewer()
    w = AnnotationWidget(viewer)
    w.new_dataset(str(tmp_path / "bigset"), [str(tmp_path / "big.png")], patient="B")
    layer = viewer.layers[STEATOSIS_MASK]
    layer.brush_size = 20
    layer.paint((100, 100), 1)
    w.save_btn.click()
    assert w.save_job is not None and not w.save_btn.isEnabled() and w.save_cancel_btn.isEnabled()
    viewer.layers[STEATOSIS_POINTS].add([[3000.0, 2000.0]])  # edited while the save runs
    qtbot.waitUntil(lambda: w.save_job.finished, timeout=120000)
    assert read_mask(tmp_path / "bigset" / "labels" / "big.steatosis.png")[100, 100]
    assert w.dirty and w.save_btn.isEnabled()  # the point came after the snapshot: still unsaved
    w.save_btn.click()
    qtbot.waitUntil(lambda: w.save_job.finished and not w.dirty, timeout=120000)
    assert len(read_points(tmp_path / "bigset" / "labels" / "big.points.csv").positive) == 1
