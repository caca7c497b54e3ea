"""Every dock shares one current image: a click is saved into the file of the image on screen, whichever
dock (or File > Open) put it there. Driven the way a user drives napari."""

import csv
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

from napari_steatosis.data import Dataset, read_points, write_mask
from napari_steatosis.sample import sample_data_dir
from napari_steatosis.widgets.layers import RESULT_LAYERS, STEATOSIS_MASK, STEATOSIS_POINTS


@pytest.fixture
def messages(monkeypatch):
    from napari_steatosis.widgets import annotation_widget, jobs, workspace_view

    shown = []
    monkeypatch.setattr(jobs, "notify_error", lambda exc: shown.append(jobs.user_message(exc)))
    monkeypatch.setattr(workspace_view, "notify_error", lambda exc: shown.append(jobs.user_message(exc)))
    monkeypatch.setattr(annotation_widget, "notify_error", lambda exc: shown.append(jobs.user_message(exc)))
    monkeypatch.setattr(annotation_widget, "notify_info", shown.append)
    return shown


@pytest.fixture
def study(make_napari_viewer, tmp_path, messages):
    from napari_steatosis.widgets.steatosis_dock import SteatosisDock

    folder = tmp_path / "study"
    shutil.copytree(sample_data_dir(), folder)
    viewer = make_napari_viewer()
    dock = SteatosisDock(viewer)
    viewer.window.add_dock_widget(dock, name="Steatosis")
    dock.panels["Annotate"].open_dataset(str(folder))
    return viewer, dock, folder


def press(viewer, key: str):
    """Press a key the way napari dispatches it to the viewer's bindings."""
    for binding, func in viewer.keymap.items():
        if str(binding) == key:
            return func(viewer)
    raise AssertionError(f"{key} is not bound")


def snapshot(folder):
    return {p.name: p.read_bytes() for p in (folder / "labels").iterdir()}


def click_and_save(viewer, dock, folder, expected_stem):
    """Add a fat point where the user clicks, save with Ctrl+Shift+S, and check where it went."""
    ws = dock.ws
    assert ws.record.stem == expected_stem
    assert viewer.layers.selection.active.name == expected_stem  # the image on screen
    before = snapshot(folder)
    press(viewer, "1")  # key 1: add fat points
    layer = viewer.layers[STEATOSIS_POINTS]
    assert viewer.layers.selection.active is layer and layer.mode == "add"
    layer.add([[11.25, 22.5]])
    press(viewer, "Ctrl+Shift+S")
    after = snapshot(folder)
    changed = {name for name in after if before.get(name) != after[name]}
    assert changed == {f"{expected_stem}.points.csv"}, changed
    pts = read_points(folder / "labels" / f"{expected_stem}.points.csv")
    assert np.any(np.all(np.isclose(pts.positive, [11.25, 22.5], atol=0.01), axis=1))


def fake_report(folder, out, ds):
    """The files `steatosis quantify` leaves for the Report dock (per image, per patient, masks)."""
    out.mkdir()
    rows = []
    for rec in ds.records:
        m = np.zeros(ds.read_image(rec).shape[:2], bool)
        m[5:15, 5:15] = True
        write_mask(out / f"{rec.stem}.steatosis.png", m)
        rows.append(dict(image=str(ds.image_path(rec)), patient=rec.patient, steatosis_pct=12.345, method="unet"))
    for name, data in (("per_image.csv", rows), ("per_patient.csv", [dict(patient="P01", steatosis_pct=12.3)])):
        with open(out / name, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(data[0]))
            w.writeheader()
            w.writerows(data)


def test_a_row_chosen_in_the_report_receives_the_click(study, tmp_path, messages):
    viewer, dock, folder = study
    ds = dock.ws.dataset
    report = dock.panels["Report"]
    report.dataset_root = ds.root
    fake_report(folder, tmp_path / "report", ds)
    report.out_dir = tmp_path / "report"
    report.load_results(tmp_path / "report")
    row = next(i for i in range(report.image_table.rowCount()) if report.image_table.item(i, 0).text() == "P04_01")
    report.image_table.cellClicked.emit(row, 0)
    assert dock.panels["Annotate"].current.stem == "P04_01"  # the Annotation dock follows
    assert RESULT_LAYERS["report"][0] in viewer.layers
    assert report.image_table.item(row, 2).text() == "12.3"  # one decimal
    click_and_save(viewer, dock, folder, "P04_01")
    assert not messages


def test_the_report_shows_diameters_in_um_and_the_stain_when_quantify_wrote_them(study, tmp_path, messages):
    """quantify writes median_diameter_um (pixel size known) and the stain (fibrosis measured): the table shows
    them, so a fibrosis % of an H&E image is not read as a measurement."""
    viewer, dock, folder = study
    report = dock.panels["Report"]
    out = tmp_path / "report"
    out.mkdir()
    (out / "per_image.csv").write_text("image,patient,steatosis_pct,median_diameter_px,median_diameter_um,fibrosis_pct,"
                                       "stain,method\nimages/P02_01.jpg,P02,12.0,20.0,10.0,0.6,he,unet\n")
    (out / "per_patient.csv").write_text("patient,steatosis_pct\nP02,12.0\n")
    report.load_results(out)
    headers = [report.image_table.horizontalHeaderItem(j).text() for j in range(report.image_table.columnCount())]
    cells = dict(zip(headers, (report.image_table.item(0, j).text() for j in range(len(headers)))))
    assert cells["median diameter (µm)"] == "10.0" and cells["stain (fibrosis on H&E: not measurable)"] == "he"


def test_the_annotation_table_next_and_file_open_each_receive_the_click(study, messages):
    viewer, dock, folder = study
    ann = dock.panels["Annotate"]
    ann.table.selectRow(5)
    click_and_save(viewer, dock, folder, dock.ws.dataset.records[5].stem)
    ann.next_btn.click()
    click_and_save(viewer, dock, folder, dock.ws.dataset.records[6].stem)
    rec = dock.ws.dataset.records[9]
    viewer.open(str(folder / rec.image), plugin="napari")  # File > Open
    click_and_save(viewer, dock, folder, rec.stem)
    assert len([l for l in viewer.layers if l.name == rec.stem]) == 1
    assert not messages


def test_keys_2_to_5_choose_the_layer_and_the_tool(study):
    viewer, dock, folder = study
    from napari_steatosis.widgets.layers import FIBROSIS_MASK, NOT_STEATOSIS_POINTS

    for key, name, mode in (("2", NOT_STEATOSIS_POINTS, "add"), ("3", STEATOSIS_MASK, "paint"),
                            ("4", FIBROSIS_MASK, "paint")):
        press(viewer, key)
        assert viewer.layers.selection.active.name == name and viewer.layers.selection.active.mode == mode
    press(viewer, "5")
    assert viewer.layers.selection.active.name == FIBROSIS_MASK and viewer.layers.selection.active.mode == "erase"


def test_the_wand_paints_a_whole_vacuole_into_the_mask(study):

    import cv2

    viewer, dock, folder = study
    ann = dock.panels["Annotate"]
    ws = dock.ws
    truth = ws.masks["steatosis"] > 0
    n, lab, stats, cent = cv2.connectedComponentsWithStats(truth.astype(np.uint8))
    i = 1 + int(np.argmax(stats[1:, 4] * (stats[1:, 0] > 5) * (stats[1:, 1] > 5)))
    vacuole = lab == i
    ws.masks["steatosis"][vacuole] = 0  # unlabelled: the user wands it back
    ann.wand_box.setChecked(True)
    ys, xs = np.nonzero(vacuole)
    j = np.argmin((ys - cent[i][1]) ** 2 + (xs - cent[i][0]) ** 2)
    event = SimpleNamespace(position=tuple(dock.view.image_layer().data_to_world((ys[j], xs[j]))), button=1,
                            modifiers=(), type="mouse_press")
    gen = ann.on_click(viewer, event)
    next(gen)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    filled = viewer.layers[STEATOSIS_MASK].data > 0
    assert (filled & vacuole).sum() / vacuole.sum() > 0.85 and ws.dirty
    assert (filled & ~truth).sum() < 0.2 * vacuole.sum()  # no flood beyond the vacuole
    ann.wand_box.setChecked(False)
    assert ann.on_click not in viewer.mouse_drag_callbacks


def test_changing_image_drops_the_previous_results_and_saves_unsaved_paint(study):
    from napari_steatosis.workspace import Result

    viewer, dock, folder = study
    ws = dock.ws
    first = ws.record
    ws.set_result(Result("unet", np.ones(ws.shape, bool), 35.22, probability=np.ones(ws.shape, np.float32)))
    assert RESULT_LAYERS["unet"][0] in viewer.layers and RESULT_LAYERS["unet"][1] in viewer.layers
    viewer.layers[STEATOSIS_MASK].paint((40, 40), 1)
    assert "unsaved" in dock.current.text()
    dock.panels["Annotate"].next_btn.click()
    names = [l.name for l in viewer.layers]
    assert not set(RESULT_LAYERS["unet"]) & set(names)
    assert first.stem not in names and names.count(ws.record.stem) == 1
    assert Dataset.open(folder).read_mask(first, "steatosis")[40, 40]


def test_closing_napari_saves_and_closing_the_dock_unbinds_the_keys(make_napari_viewer, tmp_path, messages, qtbot):
    from napari_steatosis.widgets.annotation_widget import AnnotationWidget

    folder = tmp_path / "study"
    shutil.copytree(sample_data_dir(), folder)
    viewer = make_napari_viewer()
    w = AnnotationWidget(viewer)
    dock_widget = viewer.window.add_dock_widget(w, name="Annotation")
    w.open_dataset(str(folder))
    assert {"1", "5", "Ctrl+Shift+S"} <= {str(k) for k in viewer.keymap}
    viewer.window.remove_dock_widget(dock_widget)  # the dock's close button
    assert not {"1", "2", "3", "4", "5", "Ctrl+Shift+S"} & {str(k) for k in viewer.keymap}

    w2 = AnnotationWidget(viewer)
    viewer.window.add_dock_widget(w2, name="Annotation")
    stem = w2.current.stem
    viewer.layers[STEATOSIS_POINTS].add([[7.5, 8.5]])
    assert w2.dirty
    viewer.close()
    qtbot.wait(50)  # Qt deletes the closed window's widgets from the event loop
    pts = read_points(folder / "labels" / f"{stem}.points.csv")
    assert np.any(np.all(np.isclose(pts.positive, [7.5, 8.5], atol=0.01), axis=1))


def test_a_multiscale_slide_can_be_the_current_image(study, messages, monkeypatch):
    """What the slide reader hands the workspace: a list of levels; docks that need a field say so."""
    from napari_steatosis.widgets import workspace_view

    viewer, dock, folder = study
    level0 = np.full((2048, 3072, 3), 220, np.uint8)
    monkeypatch.setattr(workspace_view, "SLIDE_MASK_MAX_PX", 2048 * 3072 - 1)  # a slide too big to paint whole
    dock.ws.open_image([level0, level0[::4, ::4]], "slide-01", pixel_size_um=0.5)
    layer = dock.view.image_layer()
    assert layer.multiscale and layer.name == "slide-01" and tuple(layer.scale) == (0.5, 0.5)
    assert viewer.scale_bar.visible  # µm known
    assert STEATOSIS_MASK not in viewer.layers  # no full-size label arrays for a slide this big...
    assert tuple(viewer.layers[STEATOSIS_POINTS].scale) == (0.5, 0.5)  # ...but points on its level-0 grid
    dock.ws.set_points(positive=[[10, 20]])
    assert not dock.ws.dirty  # a slide's labels go into the dataset with its regions: they hold nothing up
    assert dock.ws.shape == (2048, 3072) and dock.ws.record is None
    run = dock.panels["U-Net"].run_panel
    run.run_btn.click()
    assert "whole slide" in messages[-1] and run.job is None


def test_the_demo_opens_the_sample_in_the_steatosis_dock(qtbot):
    from napari_steatosis.demo import open_viewer

    viewer, dock = open_viewer(show=False, run_unet=False)
    try:
        qtbot.wait(100)  # the sample's own label layers give way to the workspace's
        assert len([l for l in viewer.layers if l.name.startswith("steatosis mask")]) == 1
        ws = dock.ws
        assert ws.record is not None and ws.read_only and ws.record.extra["stain"] == "trichrome"
        assert viewer.layers.selection.active.name == ws.record.stem
        assert dock.panels["Annotate"].table.rowCount() == len(ws.dataset)
        assert "P01" in dock.current.text()
        ws.set_points(positive=[[1, 1]])
        assert not dock.panels["Annotate"].save()  # the bundled sample is never written
    finally:
        viewer.close()


def test_grey_scale_images_are_refused_by_the_detectors(study, messages):
    from napari_steatosis.classical.candidates import CandidateParams
    from napari_steatosis.classical.model import ClassicalModel

    viewer, dock, folder = study
    rgb = dock.ws.rgb
    viewer.add_image(np.repeat(rgb.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2), rgb=True, name="grey")
    assert dock.ws.name == "grey"
    dock.panels["U-Net"].run_panel.run_btn.click()
    assert "grey is grey-scale" in messages[-1] and dock.panels["U-Net"].run_panel.job is None
    classical = dock.panels["Classical"]
    classical.model = ClassicalModel(None, "gbt", CandidateParams())
    classical.run_btn.click()
    assert "grey is grey-scale" in messages[-1] and classical.job is None


def test_file_open_of_an_rgba_or_a_grey_file_is_converted_or_refused_by_name(study, messages, tmp_path):
    """RGBA is read as RGB, as on the command line; a grey file is named as refused, and the docks do not
    go on measuring the previous image as if it were the one on screen without saying so."""
    import cv2

    viewer, dock, folder = study
    rgb = dock.ws.rgb
    cv2.imwrite(str(tmp_path / "rgba.png"), cv2.cvtColor(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),
                                                          cv2.COLOR_RGBA2BGRA))
    viewer.open(str(tmp_path / "rgba.png"))
    assert not messages, messages
    assert dock.ws.name == "rgba" and dock.ws.rgb.shape == rgb.shape and np.array_equal(dock.ws.rgb, rgb)
    cv2.imwrite(str(tmp_path / "grey.png"), rgb[..., 1])
    viewer.open(str(tmp_path / "grey.png"))
    assert messages == ["grey is grey-scale: steatosis and fibrosis are measured on stained (colour) sections; "
                        "the docks stay on rgba"], messages
    assert dock.current.text().startswith("rgba ")


def test_a_plain_click_edits_and_a_drag_or_other_button_does_not():
    """The wand and the review share one click rule: a drag pans the view, a right or modified click is napari's."""
    from napari_steatosis.widgets.workspace_view import plain_click

    layer = SimpleNamespace(world_to_data=lambda pos: np.asarray(pos) + 0.5)
    view = SimpleNamespace(image_layer=lambda: layer)
    got = []

    def drive(types, button=1, modifiers=()):
        event = SimpleNamespace(position=(3.0, 4.0), button=button, modifiers=modifiers, type="mouse_press")
        gen = plain_click(view, event, got.append)
        for t in [None, *types]:
            if t is not None:
                event.type = t
            try:
                next(gen)
            except StopIteration:
                return

    drive(["mouse_move", "mouse_move", "mouse_release"])
    assert got == []
    drive(["mouse_release"])
    assert len(got) == 1 and list(got[0]) == [3.5, 4.5]  # in data coordinates
    drive(["mouse_release"], button=2)
    drive(["mouse_release"], modifiers=("Shift",))
    assert len(got) == 1


def test_the_demo_window_shows_the_whole_image(make_napari_viewer, monkeypatch, qtbot):
    """The dock narrows the canvas after napari fitted the image to it: the demo showed a strip of its middle."""
    import napari

    from napari_steatosis.demo import open_viewer

    monkeypatch.setattr(napari, "Viewer", make_napari_viewer)  # a shown window, set up and closed by the fixture
    viewer, dock = open_viewer(show=True, run_unet=False)
    qtbot.wait(300)
    h, w = viewer.layers[dock.ws.record.stem].data.shape[:2]
    ch, cw = viewer.canvas.size  # (height, width) in screen px
    zoom = viewer.camera.zoom  # screen px per image px
    assert w * zoom <= cw + 1 and h * zoom <= ch + 1, (w * zoom, cw, h * zoom, ch)


def test_a_point_clicked_on_a_rotated_phone_jpeg_is_the_pixel_the_command_line_measures(study, messages, tmp_path):
    """napari's own reader shows a JPEG as stored, ignoring its EXIF Orientation; the docks and the command line
    read it upright (as photo viewers show it). Opened with File > Open, the layer is shown upright too, so the
    point a user clicks on the red block is saved on the pixel of the red block the command line measures."""
    from PIL import Image

    from napari_steatosis.data import read_image

    viewer, dock, _ = study
    stored = np.full((40, 60, 3), 235, np.uint8)
    stored[2:14, 40:56] = (200, 30, 30)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view: upright it is 60 tall, 40 wide
    Image.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=95)
    Image.fromarray(stored).save(tmp_path / "first.png")  # the dataset opens on another image
    ds = Dataset.create(tmp_path / "phone", [(tmp_path / "first.png", "P1"), (tmp_path / "phone.jpg", "P1")])
    dock.panels["Annotate"].open_dataset(str(ds.root))
    assert dock.ws.name == "first"
    viewer.open(str(ds.root / "images" / "phone.jpg"), plugin="napari")  # File > Open, napari's reader
    measured = read_image(ds.root / "images" / "phone.jpg")  # what predict/quantify/fibrosis analyse
    assert measured.shape == (60, 40, 3)
    red = np.argwhere((measured[..., 0] > 150) & (measured[..., 1] < 80))
    row, col = red.mean(axis=0)
    shown = viewer.layers.selection.active
    assert shown.name == "phone" and shown.data.shape == measured.shape
    assert tuple(np.asarray(shown.data)[int(row), int(col)]) == tuple(measured[int(row), int(col)])
    press(viewer, "1")
    viewer.layers[STEATOSIS_POINTS].add([[row, col]])  # the user clicks the red block on screen
    press(viewer, "Ctrl+Shift+S")
    saved = read_points(ds.root / "labels" / "phone.points.csv").positive
    assert len(saved) == 1
    r, c = np.round(saved[0]).astype(int)
    assert measured[r, c, 0] > 150 and measured[r, c, 1] < 80  # the red block, in the frame the CLI reads
    assert not messages, messages


@pytest.mark.parametrize("kind", ["planar", "palette"])
def test_a_colour_tiff_napari_reads_as_grey_planes_is_shown_and_measured_in_colour(study, messages, tmp_path, qtbot,
                                                                                    kind):
    """napari's own reader shows planar RGB (3, H, W) as three grey planes and a palette TIFF as its indices;
    the command line reads both in colour, so the docks do too, on an RGB layer that replaces napari's."""
    import tifffile

    from napari_steatosis.data import read_image

    viewer, dock, _ = study
    rgb = dock.ws.rgb[:48, :64].copy()
    path = tmp_path / f"{kind}.tif"
    if kind == "planar":
        tifffile.imwrite(path, np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    else:
        colours = np.zeros((3, 256), np.uint16)
        colours[:, 1], colours[:, 2] = (200, 60, 150), (250, 250, 250)
        tifffile.imwrite(path, np.where(rgb[..., 1] > 200, 2, 1).astype(np.uint8), photometric="palette",
                         colormap=colours * 257)
    viewer.open(str(path), plugin="napari")
    qtbot.waitUntil(lambda: dock.ws.name == kind, timeout=5000)
    shown = viewer.layers.selection.active
    assert shown.rgb and np.array_equal(shown.data, read_image(path)) and np.array_equal(dock.ws.rgb, shown.data)
    assert [l.name for l in viewer.layers].count(kind) == 1
    assert not messages, messages


def test_file_open_of_an_imagej_stack_is_refused_by_name_and_the_docks_stay(study, messages, tmp_path):
    """napari shows an RGB ImageJ stack with a slider; the docks measure one image, so they refuse it in one line
    (as the command line does) instead of taking the whole stack for their image."""
    import tifffile

    viewer, dock, _ = study
    before = dock.ws.name
    rgb = dock.ws.rgb[:48, :64]
    tifffile.imwrite(tmp_path / "stack.tif", np.stack([rgb, rgb[::-1]]), imagej=True, photometric="rgb")
    viewer.open(str(tmp_path / "stack.tif"), plugin="napari")
    assert len(messages) == 1 and messages[0].startswith(f"{tmp_path / 'stack.tif'}: an ImageJ hyperstack of several "
                                                         "images"), messages
    assert dock.ws.name == before and dock.ws.rgb.ndim == 3


def test_file_open_of_12_bit_camera_data_shows_the_pixels_the_docks_measure(study, messages, tmp_path):
    """napari shows a 16-bit file's raw values; the docks measure it scaled by its 12-bit range: the layer on
    screen becomes the 8-bit image measured, so what the user paints on is what is analysed."""
    import tifffile

    from napari_steatosis.data import read_image

    viewer, dock, _ = study
    rgb = dock.ws.rgb[:48, :64]
    tifffile.imwrite(tmp_path / "cam12.tif", (rgb.astype(np.uint32) * 4095 // 255).astype(np.uint16),
                     photometric="rgb")
    viewer.open(str(tmp_path / "cam12.tif"), plugin="napari")
    shown = viewer.layers.selection.active
    assert dock.ws.name == "cam12" and shown.name == "cam12"
    assert shown.data.dtype == np.uint8 and np.array_equal(shown.data, read_image(tmp_path / "cam12.tif"))
    assert np.abs(shown.data.astype(int) - rgb).max() <= 1 and tuple(shown.contrast_limits) == (0, 255)
    assert not messages, messages
