"""The workspace model alone (no Qt): one current image, its labels saved before any change."""

import shutil

import numpy as np
import pytest

from napari_steatosis.data import Dataset, read_points
from napari_steatosis.errors import SteatosisError
from napari_steatosis.sample import sample_data_dir
from napari_steatosis.workspace import Result, Workspace


@pytest.fixture
def ws_and_folder(tmp_path):
    folder = tmp_path / "study"
    shutil.copytree(sample_data_dir(), folder)
    ws = Workspace()
    ws.open_dataset(folder)
    return ws, folder


def points_file(folder, stem):
    return folder / "labels" / f"{stem}.points.csv"


def test_changing_image_saves_the_previous_labels_into_their_own_file(ws_and_folder):
    ws, folder = ws_and_folder
    events = []
    ws.image_changed.connect(lambda w: events.append(w.name))
    first, second = ws.dataset.records[0], ws.dataset.records[1]
    before_second = points_file(folder, second.stem).read_bytes()
    n = len(ws.points.positive)
    ws.set_points(positive=np.vstack([ws.points.positive, [[12.5, 34.5]]]))
    assert ws.dirty
    ws.step(1)
    assert ws.record is second and not ws.dirty and events == [second.stem]
    saved = read_points(points_file(folder, first.stem))
    assert len(saved.positive) == n + 1 and np.allclose(saved.positive[-1], [12.5, 34.5])
    assert points_file(folder, second.stem).read_bytes() == before_second  # nothing written elsewhere


def test_a_refused_save_keeps_the_image_and_its_labels(ws_and_folder):
    ws, folder = ws_and_folder
    rec = ws.record
    ws.set_points(negative=[[ws.shape[0] + 10, 5]])  # outside the image
    with pytest.raises(SteatosisError, match="outside"):
        ws.open_record(3)
    assert ws.record is rec and ws.dirty
    ws.set_mask("steatosis", np.zeros((5, 5), np.uint8))
    ws.set_points(negative=np.zeros((0, 2)))
    with pytest.raises(SteatosisError, match="5x5 px but .* nothing was saved"):
        ws.save()


def test_results_belong_to_one_image(ws_and_folder):
    ws, folder = ws_and_folder
    changed = []
    ws.result_changed.connect(changed.append)
    mask = np.zeros(ws.shape, bool)
    ws.set_result(Result("unet", mask, 1.0))
    with pytest.raises(SteatosisError, match="does not belong"):
        ws.set_result(Result("unet", np.zeros((3, 3), bool), 1.0))
    ws.step(1)
    assert ws.results == {} and changed == ["unet"]


def test_images_outside_a_dataset_and_the_bundled_sample_are_not_written(ws_and_folder, tmp_path):
    ws, folder = ws_and_folder
    ws.open_image(np.full((20, 30, 3), 200, np.uint8), "loose")
    assert ws.record is None and ws.shape == (20, 30)
    ws.set_points(positive=[[1, 1]])
    with pytest.raises(SteatosisError, match="not an image of a dataset"):
        ws.save()
    ws.set_points(positive=np.zeros((0, 2)))
    ws.dirty = False
    ws.open_dataset(sample_data_dir(), read_only=True)
    ws.set_points(positive=[[1, 1]])
    with pytest.raises(SteatosisError, match="read-only"):
        ws.save()


def test_open_path_finds_the_record_of_a_dataset_image(ws_and_folder):
    ws, folder = ws_and_folder
    rec = ws.dataset.records[4]
    ws.open_path(folder / rec.image)
    assert ws.record is rec
    ws.set_points(positive=[[3, 4]])
    ws.save()
    assert len(Dataset.open(folder).read_points(rec).positive) == 1


def test_accepting_a_result_makes_the_image_labelled(ws_and_folder):
    ws, folder = ws_and_folder
    rec = ws.dataset.records[2]
    ws.open_record(rec)
    (folder / "labels" / f"{rec.stem}.steatosis.png").unlink()
    mask = np.zeros(ws.shape, bool)
    mask[10:20, 10:30] = True
    ws.accept_as_labels(mask)
    got = Dataset.open(folder).read_mask(rec, "steatosis")
    assert got is not None and got.sum() == 200 and not ws.dirty
