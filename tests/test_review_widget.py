"""Review and correct: reject a false detection, add a missed vacuole with the wand, save as labels."""

import shutil
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from qtpy.QtWidgets import QLabel

from napari_steatosis.data import Dataset
from napari_steatosis.sample import sample_data_dir
from napari_steatosis.wand import review_click, wand
from napari_steatosis.widgets.layers import RESULT_LAYERS


def components(mask):
    n, lab, stats, cent = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    return [(lab == i, stats[i, 4], cent[i]) for i in range(1, n)]


def inside_point(comp, centroid):
    ys, xs = np.nonzero(comp)
    j = np.argmin((ys - centroid[1]) ** 2 + (xs - centroid[0]) ** 2)
    return ys[j], xs[j]


def test_wand_grows_to_the_vacuole_and_a_click_rejects_or_adds():
    ds = Dataset.open(sample_data_dir())
    rec = ds.records[0]
    rgb, truth = ds.read_image(rec), ds.read_mask(rec, "steatosis")
    scores = []
    for comp, area, cent in components(truth)[:30]:
        if area >= 30:
            m = wand(rgb, inside_point(comp, cent))
            scores.append((m & comp).sum() / (m | comp).sum())
    assert np.median(scores) > 0.8  # measured 0.87 on this image (tolerance 14)
    from napari_steatosis.preprocess import tissue_mask

    tissue = tissue_mask(rgb)
    comp, _, cent = max(components(truth), key=lambda c: c[1])  # the largest, open to the background
    p = inside_point(comp, cent)
    removed, what = review_click(truth, rgb, p)
    assert what == "rejected" and not (removed & comp).any() and removed.sum() == truth.sum() - comp.sum()
    added, what = review_click(removed, rgb, p, within=tissue)
    new = added & ~removed
    assert what == "added" and (new & comp).sum() / (new | comp).sum() > 0.9  # measured 0.94
    with pytest.raises(Exception, match="outside"):
        review_click(truth, rgb, (-5, 3))


def click(widget, viewer, row, col):
    """A left click without drag at data (row, col), through the dock's napari mouse callback."""
    layer = widget.view.image_layer()
    event = SimpleNamespace(position=tuple(layer.data_to_world((row, col))), button=1, modifiers=(),
                            type="mouse_press")
    gen = widget.on_click(viewer, event)
    next(gen)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)


def test_review_end_to_end_saves_the_corrected_mask_as_labels(make_napari_viewer, tmp_path, monkeypatch):
    from napari_steatosis.widgets import jobs
    from napari_steatosis.widgets.steatosis_dock import SteatosisDock
    from napari_steatosis.workspace import Result

    shown = []
    monkeypatch.setattr(jobs, "notify_error", lambda exc: shown.append(jobs.user_message(exc)))
    folder = tmp_path / "study"
    shutil.copytree(sample_data_dir(), folder)
    viewer = make_napari_viewer()
    dock = SteatosisDock(viewer)
    viewer.window.add_dock_widget(dock)
    ws = dock.ws
    ws.open_dataset(folder)
    rec = ws.record
    truth = ws.masks["steatosis"] > 0
    (folder / "labels" / f"{rec.stem}.steatosis.png").unlink()  # this image is not labelled yet
    comps = sorted(components(truth), key=lambda c: -c[1])
    missed, _, missed_c = comps[0]
    detected = truth & ~missed
    false = np.zeros_like(truth)
    false[5:25, 5:25] = True
    false &= ~truth
    ws.set_result(Result("unet", detected | false, 10.0))

    review = dock.show_tab("Review")
    review.start_btn.click()
    assert "no unet result" not in " ".join(shown) and review.reviewing
    click(review, viewer, 15, 15)  # the false detection: rejected
    assert not (review.mask & false).any()
    before = review.mask.copy()
    click(review, viewer, *inside_point(missed, missed_c))  # the missed vacuole: the wand adds it
    new = review.mask & ~before
    assert (new & missed).sum() / (new | missed).sum() > 0.8
    assert review.counts == {"rejected": 1, "added": 1}
    assert RESULT_LAYERS["review"][0] in viewer.layers
    corrected = review.mask.copy()
    review.accept_btn.click()
    assert not shown, shown
    saved = Dataset.open(folder).read_mask(rec, "steatosis")
    assert saved is not None and np.array_equal(saved, corrected)  # the image counts as labelled now
    assert not review.reviewing and not ws.dirty
    assert review.on_click not in viewer.mouse_drag_callbacks
    assert "it now counts as labelled" in review.status.text()


def two_fields():
    """Two pink fields side by side on darker tissue, ``gap`` ΔE apart (the wand's units: L* 0..100, a* and b*
    centred): ``(image, gap)``; the left field is [20:70, 10:50], the right one [20:70, 50:90]."""
    def lab(rgb):
        v = cv2.cvtColor(np.uint8([[rgb]]), cv2.COLOR_RGB2LAB)[0, 0].astype(float)
        return np.array([v[0] * 100 / 255, v[1] - 128, v[2] - 128])

    a = (215, 150, 185)
    b = next(c for c in ((215 - k, 150 - k, 185 - k) for k in range(40)) if np.linalg.norm(lab(c) - lab(a)) >= 10)
    img = np.full((90, 120, 3), (120, 60, 110), np.uint8)
    img[20:70, 10:50] = a
    img[20:70, 50:90] = b
    return img, float(np.linalg.norm(lab(b) - lab(a)))


def test_the_wand_tolerance_says_its_unit_and_means_that_colour_difference(make_napari_viewer):
    """The tolerance box says ΔE (CIELAB colour difference), and a click grows over a neighbouring colour
    exactly when that colour is within the tolerance of the clicked one, in those units."""
    from qtpy.QtWidgets import QFormLayout

    from napari_steatosis.widgets.steatosis_dock import SteatosisDock
    from napari_steatosis.workspace import Result

    img, gap = two_fields()
    viewer = make_napari_viewer()
    dock = SteatosisDock(viewer)
    ws = dock.ws
    ws.open_image(img, "fields")
    review = dock.show_tab("Review")
    form = review.layout().itemAt(0).layout()
    assert isinstance(form, QFormLayout)
    label = form.labelForField(review.tolerance).text()
    assert "ΔE" in label and review.tolerance.suffix().strip() == "ΔE", label
    assert "CIELAB" in review.tolerance.toolTip()
    for tolerance, grows_over_b in ((gap + 3, True), (gap - 3, False)):
        ws.set_result(Result("unet", np.zeros(img.shape[:2], bool), 0.0))
        review.tolerance.setValue(tolerance)
        review.start_btn.click()
        click(review, viewer, 45, 25)
        assert review.mask[45, 25] and review.mask[45, 70] == grows_over_b, (tolerance, gap)
        assert not review.mask[10, 10]  # the tissue around stays out
        review.stop()


def test_annotates_wand_has_the_tolerance_box_too_and_it_decides_what_a_click_fills(make_napari_viewer):
    """Annotate's wand takes its tolerance from its own box (the same box as Review's): the click on the left
    field fills the right one too exactly when their colour difference is within the tolerance."""
    from napari_steatosis.widgets.layers import STEATOSIS_MASK
    from napari_steatosis.widgets.qt_rows import WAND_TOLERANCE_LABEL
    from napari_steatosis.widgets.steatosis_dock import SteatosisDock

    img, gap = two_fields()
    viewer = make_napari_viewer()
    dock = SteatosisDock(viewer)
    dock.ws.open_image(img, "fields")
    ann = dock.show_tab("Annotate")
    assert ann.tolerance.suffix().strip() == "ΔE" and "CIELAB" in ann.tolerance.toolTip()
    assert any(w.text() == WAND_TOLERANCE_LABEL for w in ann.findChildren(QLabel))
    ann.wand_box.setChecked(True)
    layer = viewer.layers[STEATOSIS_MASK]
    for tolerance, grows_over_b in ((gap + 3, True), (gap - 3, False)):
        layer.data = np.zeros(img.shape[:2], np.uint8)
        ann.tolerance.setValue(tolerance)
        click(ann, viewer, 45, 25)
        filled = np.asarray(layer.data) > 0
        assert filled[45, 25] and filled[45, 70] == grows_over_b, (tolerance, gap)
        assert filled[22:68, 12:48].all() and not filled[10, 10]  # the left field (bar its blurred rim), not the tissue
