"""A slide's visible region (from napari's camera) and "Add visible region to the dataset" (viewer tests: no
TensorFlow here)."""

import csv
import shutil

import numpy as np
import pytest

from napari_steatosis.data import Dataset
from napari_steatosis.data.images import read_image
from napari_steatosis.data.slides import open_slide
from napari_steatosis.errors import SteatosisError
from napari_steatosis.sample import sample_data_dir, sample_slide_path
from napari_steatosis.slide_region import visible_box


def test_visible_box_from_camera_in_um_clipped_and_capped():
    # 0.5 µm per px, camera on (row 1000 px, col 3000 px), 2 screen px per µm: 400x200 screen px show 200x100 µm
    box = visible_box((500.0, 1500.0), 2.0, (200, 400), (5000, 8000), scale=(0.5, 0.5))
    assert (box.r0, box.c0, box.r1, box.c1, box.capped) == (900, 2800, 1100, 3200, False)
    translated = visible_box((510.0, 1500.0), 2.0, (200, 400), (5000, 8000), scale=(0.5, 0.5), translate=(10, 0))
    assert (translated.r0, translated.c0) == (900, 2800)
    clipped = visible_box((10.0, 10.0), 1.0, (100, 100), (5000, 8000))  # half the view lies left of and above it
    assert (clipped.r0, clipped.c0, clipped.r1, clipped.c1) == (0, 0, 60, 60)
    capped = visible_box((2500.0, 4000.0), 0.01, (800, 600), (5000, 8000), max_side=1000)
    assert capped.capped and capped.shape == (1000, 1000) and (capped.r0, capped.c0) == (2000, 3500)
    assert "larger than 1000x1000" in capped.message(1000)
    with pytest.raises(SteatosisError, match="no part"):
        visible_box((-500.0, 10.0), 1.0, (100, 100), (5000, 8000))


@pytest.fixture
def slide_and_dataset(make_napari_viewer, tmp_path, monkeypatch):
    from napari_steatosis.widgets import annotation_widget, jobs
    from napari_steatosis.widgets.steatosis_dock import SteatosisDock

    shown = []
    monkeypatch.setattr(annotation_widget, "notify_info", shown.append)
    monkeypatch.setattr(jobs, "notify_error", lambda exc: shown.append(jobs.user_message(exc)))
    folder = tmp_path / "study"
    shutil.copytree(sample_data_dir(), folder)
    viewer = make_napari_viewer()
    dock = SteatosisDock(viewer)
    viewer.window.add_dock_widget(dock, name="Steatosis")
    annotate = dock.panels["Annotate"]
    annotate.open_dataset(str(folder))
    assert not annotate.add_region_btn.isEnabled()  # a field of the dataset is on screen, not a slide
    (layer,) = viewer.open_sample("napari-steatosis", "slide")  # File > Open Sample > liver whole slide
    return viewer, dock, annotate, folder, layer, shown


def test_add_visible_region_writes_the_level0_crop_and_its_source(slide_and_dataset):
    viewer, dock, annotate, folder, layer, shown = slide_and_dataset
    assert dock.ws.multiscale and annotate.add_region_btn.isEnabled()
    mpp = layer.scale[-1]
    # the user pans to (row 900, col 2100) px and zooms to 1 screen px per level-0 px
    viewer.camera.center = (900 * mpp, 2100 * mpp)
    viewer.camera.zoom = 1 / mpp
    h, w = viewer.canvas.size
    r0, c0 = int(np.floor(900 - h / 2)), int(np.floor(2100 - w / 2))
    n_before = len(Dataset.open(folder))
    annotate.add_region_btn.click()
    name = f"liver_r{r0}_c{c0}"
    assert any(f"images/{name}.png" in m for m in shown), shown
    crop = read_image(folder / "images" / f"{name}.png")
    assert crop.shape[:2] == (int(np.ceil(900 + h / 2)) - r0, int(np.ceil(2100 + w / 2)) - c0)
    with open(folder / "dataset.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    row = rows[-1]
    assert len(rows) == n_before + 1 and row["image"] == f"images/{name}.png" and row["patient"] == "liver"
    assert (row["source_slide"], int(row["source_row"]), int(row["source_col"])) == ("liver.ome.tif", r0, c0)
    with open_slide(sample_slide_path()) as slide:
        assert np.array_equal(crop, slide.read(r0, c0, r0 + crop.shape[0], c0 + crop.shape[1]))
    ds = Dataset.open(folder)  # reopened: the crop is a normal image, its source kept
    rec = ds.record(name)
    assert rec.extra["source_row"] == str(r0) and float(rec.extra["pixel_size_um"]) == pytest.approx(mpp)
    assert dock.view.image_layer() is layer  # the slide stays on screen for the next region
    annotate.show_image(ds.records.index(rec))  # then opened for annotation like any image
    assert dock.ws.record.stem == name and not dock.ws.multiscale and dock.ws.shape == crop.shape[:2]


def test_add_visible_region_refuses_without_a_slide_or_twice(slide_and_dataset):
    viewer, dock, annotate, folder, layer, shown = slide_and_dataset
    viewer.camera.center = (500.0, 900.0)
    viewer.camera.zoom = 2.0
    annotate.add_visible_region(patient="P9")
    before = (folder / "dataset.csv").read_bytes()
    annotate.add_visible_region(patient="P9")  # the same region again: refused, nothing changed
    assert "already in" in shown[-1] and (folder / "dataset.csv").read_bytes() == before
    annotate.show_image(0)  # a field, not a slide
    assert not annotate.add_region_btn.isEnabled()
    annotate.add_visible_region()
    assert "open a whole slide first" in shown[-1]


def test_fibrosis_runs_on_the_visible_region_and_lands_on_the_slide(slide_and_dataset, look_at, qtbot):
    from napari_steatosis.fibrosis import fibrosis_mask
    from napari_steatosis.preprocess import tissue_mask
    from napari_steatosis.widgets.fibrosis_widget import REGION_LAYER

    viewer, dock, annotate, folder, layer, shown = slide_and_dataset
    fib = dock.show_tab("Fibrosis")
    assert fib.region_btn.isEnabled() and "whole slide" in fib.readout.text()
    r0, c0, r1, c1 = look_at(viewer, layer, 1300, 1700)
    fib.region_btn.click()  # read in the background: napari stays responsive
    assert not fib.region_btn.isEnabled()
    qtbot.waitUntil(lambda: REGION_LAYER in viewer.layers, timeout=30000)
    region_layer = viewer.layers[REGION_LAYER]
    assert region_layer.data.shape == (r1 - r0, c1 - c0)
    # pixel (0, 0) of the result sits on level-0 pixel (r0, c0) of the slide, in world (µm) coordinates
    assert np.allclose(region_layer.data_to_world((0, 0)), layer.data_to_world((r0, c0)))
    assert np.allclose(region_layer.data_to_world((10, 20)), layer.data_to_world((r0 + 10, c0 + 20)))
    with open_slide(sample_slide_path()) as slide:
        rgb = slide.read(r0, c0, r1, c1)
    expected = fibrosis_mask(rgb, fib.thresholds(), tissue_mask(rgb))
    assert expected.any() and np.array_equal(region_layer.data > 0, expected)
    assert "% of tissue in the visible region" in fib.readout.text()
    fib.sliders["sat_min"].setValue(fib.sliders["sat_min"].value() + 60)  # the sliders stay live on the region
    assert viewer.layers[REGION_LAYER] is region_layer
    assert np.array_equal(region_layer.data > 0, fibrosis_mask(rgb, fib.thresholds(), tissue_mask(rgb)))
    assert (region_layer.data > 0).sum() < expected.sum()
    annotate.show_image(0)  # another image: the region's result goes with the slide
    assert REGION_LAYER not in viewer.layers and not fib.region_btn.isEnabled()


def test_labels_drawn_on_the_slide_go_with_the_region(slide_and_dataset, look_at):
    """Points and a painted mask on the slide's level-0 grid become the added region's labels: points inside it,
    shifted by its offset; the mask cropped to it. Reopened, the crop shows them where they were drawn."""
    from napari_steatosis.widgets.layers import FIBROSIS_MASK, NOT_STEATOSIS_POINTS, STEATOSIS_MASK, STEATOSIS_POINTS

    viewer, dock, annotate, folder, layer, shown = slide_and_dataset
    view = dock.view
    assert view.layer(STEATOSIS_MASK).data.shape == (2560, 3584)  # the slide's level 0, painted in µm like it
    assert "the labels in the region go with it" in annotate.status.text()
    assert np.allclose(view.layer(STEATOSIS_POINTS).scale, layer.scale)
    r0, c0, r1, c1 = look_at(viewer, layer, 900, 2100)
    # the user clicks points (stored in level-0 px, drawn in µm like the slide) and paints
    view.layer(STEATOSIS_POINTS).add((r0 + 5, c0 + 7))
    view.layer(STEATOSIS_POINTS).add((r1 + 40, c0 + 7))  # below the region: not carried
    view.layer(NOT_STEATOSIS_POINTS).add((r1 - 3, c1 - 2))
    mask = view.layer(STEATOSIS_MASK)
    mask.paint((r0 + 20, c0 + 30), 1)  # a brush stroke at level-0 px
    mask.paint((r0 - 2, c0 + 30), 1)  # partly above the region
    painted = np.asarray(mask.data) > 0
    assert dock.ws.points.positive.shape == (2, 2) and dock.ws.masks["steatosis"] is mask.data
    assert not dock.ws.dirty
    rec = annotate.add_visible_region()
    assert "with its points, steatosis" in shown[-1], shown
    ds = Dataset.open(folder)
    pts = ds.read_points(ds.record(rec.stem))
    assert np.allclose(pts.positive, [[5, 7]]) and np.allclose(pts.negative, [[r1 - 3 - r0, c1 - 2 - c0]])
    crop = ds.read_mask(ds.record(rec.stem), "steatosis")
    assert crop.shape == (r1 - r0, c1 - c0) and np.array_equal(crop, painted[r0:r1, c0:c1]) and crop.any()
    assert painted[:r0].any()  # the part above the region stayed behind
    assert ds.read_mask(ds.record(rec.stem), "fibrosis") is None  # nothing painted: no empty mask file
    assert view.layer(FIBROSIS_MASK) is not None
    annotate.show_image(ds.records.index(ds.record(rec.stem)))
    assert np.allclose(dock.ws.points.positive, [[5, 7]]) and np.array_equal(dock.ws.masks["steatosis"] > 0, crop)
