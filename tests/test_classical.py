"""The classical pipeline: features on shapes with known values, labelling rules, safe models, CLI path."""


import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from napari_steatosis.classical.candidates import CandidateParams, find_candidates, grow_back
from napari_steatosis.classical.features import FEATURES, log_hu, shape_features
from napari_steatosis.classical.labels import labels_from_mask, labels_from_points
from napari_steatosis.classical.model import load_classifier, save_classifier
from napari_steatosis.cli import main
from napari_steatosis.errors import SteatosisError

REAL_TILES = Path(os.environ.get("STEATOSIS_REAL_TILES", Path(__file__).resolve().parents[2] / "shared" / "real-tiles"))


def _disk(r=30, size=100):
    m = np.zeros((size, size), np.uint8)
    cv2.circle(m, (size // 2, size // 2), r, 1, -1)
    return m


def test_disk_features():
    f = shape_features(_disk())
    assert f["circularity"] == pytest.approx(1.0, abs=0.03)
    assert f["solidity"] == pytest.approx(1.0, abs=0.03)
    assert f["eccentricity"] < 0.1
    assert f["hull_dist_mean"] < 0.5
    assert f["hole_fraction"] == 0
    assert f["hu1"] == pytest.approx(-np.log10(1 / (2 * np.pi)), abs=0.01)  # hu1 of a disk is 1/(2 pi)
    assert f["log_area"] == pytest.approx(np.log(np.pi * 30**2), abs=0.05)


def test_ellipse_and_square_features():
    e = np.zeros((120, 160), np.uint8)
    cv2.ellipse(e, (80, 60), (50, 25), 0, 0, 360, 1, -1)
    f = shape_features(e)
    assert f["eccentricity"] == pytest.approx(np.sqrt(1 - 0.25), abs=0.02)
    assert f["hu1"] == pytest.approx(-np.log10((2 + 0.5) / (4 * np.pi)), abs=0.01)
    sq = np.zeros((100, 100), np.uint8)
    sq[20:81, 20:81] = 1
    f = shape_features(sq)
    assert f["circularity"] == pytest.approx(np.pi / 4, abs=0.02)
    assert f["extent"] == pytest.approx(1.0, abs=0.01) and f["solidity"] == pytest.approx(1.0, abs=0.01)
    assert f["hu1"] == pytest.approx(-np.log10(1 / 6), abs=0.01)
    assert f["eccentricity"] < 0.05


def test_merged_vacuoles_are_concave_and_holes_are_seen():
    m = np.zeros((100, 160), np.uint8)
    cv2.circle(m, (55, 50), 30, 1, -1)
    cv2.circle(m, (105, 50), 30, 1, -1)
    f = shape_features(m)
    assert f["hull_dist_mean"] > 1.0 and f["solidity"] < 0.97
    ring = _disk(30)
    cv2.circle(ring, (50, 50), 10, 0, -1)
    assert shape_features(ring)["hole_fraction"] == pytest.approx(100 / 900, abs=0.02)


def test_hu_moments_are_rotation_invariant():
    e = np.zeros((200, 200), np.uint8)
    cv2.ellipse(e, (100, 100), (60, 20), 0, 0, 360, 1, -1)
    r = np.zeros_like(e)
    cv2.ellipse(r, (100, 100), (60, 20), 37, 0, 360, 1, -1)
    np.testing.assert_allclose(log_hu(e)[:2], log_hu(r)[:2], atol=0.05)  # hu3.. of an ellipse are ~0: log unstable


def test_candidates_find_white_regions_and_grow_back():
    rgb = np.full((120, 120, 3), (160, 70, 150), np.uint8)
    rgb[0, 0] = 0
    cv2.circle(rgb, (40, 40), 15, (250, 250, 250), -1)
    cv2.circle(rgb, (90, 90), 2, (250, 250, 250), -1)  # too small after erosion
    c = find_candidates(rgb, CandidateParams(erosion=1, min_area=20))
    assert c.n == 1
    region = c.labels == 1
    grown = grow_back(region, c.white, 1)
    truth = np.zeros((120, 120), np.uint8)
    cv2.circle(truth, (40, 40), 15, 1, -1)
    assert (grown == truth.astype(bool)).mean() > 0.998


def test_labelling_rules():
    labels = np.zeros((50, 50), np.int32)
    labels[5:15, 5:15] = 1
    labels[20:30, 20:30] = 2
    labels[35:45, 35:45] = 3
    y = labels_from_points(labels, 4, positive=[[10, 10], [40, 40], [16.5, 30]], negative=[[25, 25], [40, 41]])
    assert y.tolist() == [1, 0, -1, -1]  # region 3 has both: ambiguous; region 4 no point; (16.5,30) snaps nowhere
    y = labels_from_points(labels, 3, positive=[[16, 10]], negative=[])  # 1 px off region 1: snapped
    assert y.tolist() == [1, -1, -1]
    mask = np.zeros((50, 50), bool)
    mask[5:15, 5:15] = True  # region 1 fully in
    mask[20:23, 20:30] = True  # region 2: 30 % in -> unlabelled
    y = labels_from_mask(labels, 3, mask)
    assert y.tolist() == [1, -1, 0]


@pytest.fixture(scope="module")
def trained(small_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("cls") / "model.skops"
    assert main(["train-classical", str(small_dataset.root), "--out", str(out), "--n-iter", "2"]) == 0
    return out


def test_train_and_predict_through_the_cli(trained, small_dataset, tmp_path, capsys):
    model = load_classifier(trained)
    assert model.summary["n_positive"] > 50 and model.summary["n_negative"] > 5
    assert set(model.summary["importances"]) == set(FEATURES)
    # trained on the train and val patients only: the test patients are held out
    splits = small_dataset.splits(0)
    seen = [r for r in small_dataset if splits[r.stem] != "test"]
    held = [r for r in small_dataset if splits[r.stem] == "test"]
    assert held and model.summary["n_images"] == len(seen)
    assert model.summary["n_patients"] == len({r.patient for r in seen}) < len(small_dataset.patients)
    out = tmp_path / "pred"
    assert main(["predict", *(str(small_dataset.image_path(r)) for r in held), "--method", "classical",
                 "--model", str(trained), "--out", str(out)]) == 0
    from napari_steatosis.data import read_mask
    from napari_steatosis.measure import pooled_jaccard

    pairs = [(read_mask(out / f"{r.stem}.steatosis.png"), small_dataset.read_mask(r, "steatosis")) for r in held]
    assert pooled_jaccard(pairs) > 0.6  # on patients it never saw
    values = np.unique(cv2.imread(str(out / f"{held[0].stem}.steatosis.png"), cv2.IMREAD_UNCHANGED))
    assert set(values) <= {0, 255}


@pytest.mark.real
def test_a_real_tile_saved_as_12_bit_gets_the_steatosis_of_the_8_bit_tile(trained, tmp_path, capsys):
    """A camera's 12-bit data in a 16-bit TIFF: scaled by 65535 it was near-black (refused as grey-scale); scaled
    by 4095 the classical detector finds the same vacuoles as on the 8-bit tile."""
    import tifffile

    from napari_steatosis.data import read_image, read_mask

    tile = REAL_TILES / "delineate_test_000.png"
    if not tile.is_file():
        pytest.skip(f"{tile} not present")
    rgb = read_image(tile)[:256, :256]
    cv2.imwrite(str(tmp_path / "eight.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    tifffile.imwrite(tmp_path / "twelve.tif", (rgb.astype(np.uint32) * 4095 // 255).astype(np.uint16),
                     photometric="rgb")
    assert main(["predict", str(tmp_path / "eight.png"), str(tmp_path / "twelve.tif"), "--method", "classical",
                 "--model", str(trained), "--out", str(tmp_path / "out")]) == 0
    eight, twelve = (read_mask(tmp_path / "out" / f"{n}.steatosis.png") for n in ("eight", "twelve"))
    assert eight.sum() > 200  # vacuoles found (a model trained on synthetic liver: the number is not the point)
    assert np.logical_xor(eight, twelve).mean() < 0.002
    assert "twelve.tif: 16-bit image scaled to 8 bits from 0..4095" in capsys.readouterr().err


def test_tampered_and_foreign_model_files_are_refused(trained, tmp_path):
    import skops.io as sio
    from sklearn.neighbors import KNeighborsClassifier

    foreign = tmp_path / "foreign.skops"
    sio.dump({"meta": "{}", "estimator": KNeighborsClassifier()}, foreign)
    with pytest.raises(SteatosisError, match="refused to load.*KNeighborsClassifier"):
        load_classifier(foreign)
    pickled = tmp_path / "model.pkl"
    import pickle

    pickled.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(SteatosisError, match="not a napari-steatosis classifier"):
        load_classifier(pickled)
    # a real skops file whose metadata was edited to claim another feature set
    edited = tmp_path / "edited.skops"
    obj = load_classifier(trained)
    obj.features = obj.features[:-1]
    save_classifier(obj, edited)
    with pytest.raises(SteatosisError, match="another feature set"):
        load_classifier(edited)


def test_training_without_labels_is_a_clear_error(tmp_path, small_dataset):
    from napari_steatosis.classical.pipeline import train_classical
    from napari_steatosis.data import Dataset

    ds = Dataset.create(tmp_path / "d", [(small_dataset.image_path(r), r.patient) for r in small_dataset.records[:2]])
    with pytest.raises(SteatosisError, match="no image has point labels"):
        train_classical(ds, n_iter=1)


@pytest.mark.parametrize("kind", ["gbt", "rf", "svm", "logreg"])
def test_every_classifier_kind_saves_and_loads_safely(kind, tmp_path):
    from napari_steatosis.classical.model import ClassicalModel, make_estimator

    rng = np.random.default_rng(0)
    X = rng.random((80, len(FEATURES)))
    y = (X[:, 0] > 0.5).astype(int)
    est, _ = make_estimator(kind)
    est.fit(X, y)
    save_classifier(ClassicalModel(est, kind, CandidateParams()), tmp_path / "m.skops")
    back = load_classifier(tmp_path / "m.skops")
    np.testing.assert_allclose(back.predict_proba(X), est.predict_proba(X)[:, 1])


def test_widget_trains_on_a_dataset_and_runs_on_the_image(make_napari_viewer, qtbot, small_dataset, monkeypatch):
    from napari_steatosis.widgets import jobs
    from napari_steatosis.widgets.classical_widget import RESULT_LAYER, ClassicalWidget

    shown = []
    monkeypatch.setattr(jobs, "notify_error", lambda exc: shown.append(jobs.user_message(exc)))
    viewer = make_napari_viewer()
    viewer.open_sample("napari-steatosis", "trichrome")
    w = ClassicalWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.n_iter.setValue(2)
    job = w.train_from_dataset(str(small_dataset.root))
    assert not w.run_btn.isEnabled() and w.cancel_btn.isEnabled()
    qtbot.waitUntil(lambda: job.finished, timeout=120000)
    assert w.model is not None and "cross-validated F1" in w.summary.text() and not shown
    assert w.run_btn.isEnabled() and not w.cancel_btn.isEnabled()
    w.run_btn.click()  # a background job: the buttons wait, Cancel is offered
    assert not w.run_btn.isEnabled() and w.run_cancel_btn.isEnabled()
    qtbot.waitUntil(lambda: w.job.finished, timeout=120000)
    layer = viewer.layers[RESULT_LAYER]
    assert layer.data.shape == viewer.layers[0].data.shape[:2] and layer.data.max() > 10
    from napari_steatosis.plots import COLOURS

    fat = np.array(COLOURS["steatosis predicted"]) / 255
    region = int(layer.data.max())
    assert np.allclose(layer.colormap.map(region)[..., :3].ravel(), fat, atol=1 / 255)  # class colour, not random
    pct = w.last_prediction.percent
    assert w.readout.text().startswith(f"Steatosis: {pct:.1f} % of tissue, S")
    assert "What it looks at:" in w.summary.text() and "hu1" not in w.summary.text()


def test_widget_cancel_and_image_training(make_napari_viewer, qtbot, small_dataset, monkeypatch):
    from napari_steatosis.widgets import jobs
    from napari_steatosis.widgets.classical_widget import ClassicalWidget

    infos, errors = [], []
    monkeypatch.setattr(jobs, "notify_info", infos.append)
    monkeypatch.setattr(jobs, "notify_error", lambda exc: errors.append(jobs.user_message(exc)))
    viewer = make_napari_viewer()
    viewer.open_sample("napari-steatosis", "trichrome")
    w = ClassicalWidget(viewer)
    w.n_iter.setValue(500)
    # Cancel while the images are read: no model, and the user is told so
    job = w.train_from_dataset(str(small_dataset.root))
    w.cancel_btn.click()
    qtbot.waitUntil(lambda: job.finished, timeout=120000)
    assert w.model is None and not errors
    assert any("cancelled" in i and "no model was made" in i for i in infos), infos
    assert w.train_ds_btn.isEnabled()  # usable again
    # Cancel once the search has scored a setting: the best setting so far is kept
    job = w.train_from_dataset(str(small_dataset.root))
    qtbot.waitUntil(lambda: w.progress.maximum() == 500 and w.progress.value() >= 1, timeout=120000)
    w.cancel_btn.click()
    qtbot.waitUntil(lambda: job.finished, timeout=120000)
    assert w.model is not None and not errors
    assert "cross-validated F1" in w.summary.text()
    w.n_iter.setValue(2)
    job = w.train_from_image()
    qtbot.waitUntil(lambda: job.finished, timeout=120000)
    assert "one image: optimistic" in w.summary.text()


def test_train_classical_options_classifier_and_seed(tmp_path, capsys):
    from napari_steatosis.data.synthetic import write_sample_dataset

    ds = write_sample_dataset(tmp_path / "tiny", patients=3, per_patient=1, size=(160, 200), seed=9)
    models = []
    for k in range(2):
        out = tmp_path / f"m{k}.skops"
        assert main(["train-classical", str(ds.root), "--out", str(out), "--classifier", "rf", "--n-iter", "2",
                     "--seed", "7"]) == 0
        models.append(load_classifier(out))
    a, b = models
    assert a.classifier == b.classifier == "rf"
    assert a.summary["best_params"] == b.summary["best_params"] and a.summary["cv_f1"] == b.summary["cv_f1"]
    assert a.summary["n_iter"] == 2
    assert "rf: cross-validated F1" in capsys.readouterr().out
