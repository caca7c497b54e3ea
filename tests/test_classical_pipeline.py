"""The classical pipeline end to end on hand-drawn images (classical/pipeline.py).

The images hold white shapes whose pixels, areas and centroids are known by construction; a
stand-in classifier gives each candidate region a chosen probability (in candidate order: the
regions numbered in raster order), so the accepted regions, the table a user reads and the
steatosis % are exact. Searches run in joblib threads, once, on tiny inputs.
"""

import cv2
import numpy as np
import pytest
from joblib import parallel_config

from napari_steatosis.classical.candidates import TRAINING_DEFAULT, CandidateParams, find_candidates
from napari_steatosis.classical.features import FEATURES, region_features
from napari_steatosis.classical.model import ClassicalModel
from napari_steatosis.classical.pipeline import (Examples, dataset_examples, fit_examples, image_examples,
                                                 predict_steatosis, train_classical, train_on_image)
from napari_steatosis.data.dataset import Dataset, PointLabels
from napari_steatosis.errors import Cancelled, SteatosisError

PINK = (160, 70, 150)
WHITE = (250, 250, 250)


def _shapes():
    """Truth masks of three white shapes on a 120 x 160 image, in raster order of their tops."""
    ell = np.zeros((120, 160), bool)  # an L: 20 x 10 px plus 7 x 20 px = 340 px
    ell[10:30, 10:20] = True
    ell[23:30, 20:40] = True
    disk = np.zeros((120, 160), np.uint8)
    cv2.circle(disk, (100, 60), 8, 1, -1)  # centre row 60, column 100
    small = np.zeros((120, 160), np.uint8)
    cv2.circle(small, (40, 90), 5, 1, -1)  # centre row 90, column 40
    return ell, disk.astype(bool), small.astype(bool)


def _image(shapes=None, colour=WHITE):
    rgb = np.full((120, 160, 3), PINK, np.uint8)
    for m in shapes if shapes is not None else _shapes():
        rgb[m] = colour
    return rgb


class StandIn:
    """A classifier that gives candidate k the probability p[k] (and checks it got one row per candidate)."""

    def __init__(self, p):
        self.p = np.asarray(p, float)

    def predict_proba(self, X):
        assert X.shape == (len(self.p), len(FEATURES))
        return np.column_stack([1 - self.p, self.p])


def _model(p, threshold=0.5, params=None):
    return ClassicalModel(StandIn(p), "gbt", params or CandidateParams(), threshold=threshold)


# -------------------------------------------------------------------------------------------- prediction
def test_prediction_table_mask_and_percent_are_exact():
    ell, disk, small = _shapes()
    pred = predict_steatosis(_model([0.912345, 0.6, 0.2]), _image())
    np.testing.assert_array_equal(pred.probabilities, [0.912345, 0.6, 0.2])
    assert pred.tissue.all()  # no glass: every pixel is tissue
    np.testing.assert_array_equal(pred.mask, ell | disk)  # grown back to the drawn shapes, small one rejected
    assert pred.labels.dtype == np.int32
    np.testing.assert_array_equal(pred.labels, ell * 1 + disk * 2)
    a = int(disk.sum())
    assert pred.table == [
        # the L: rows (200 * 19.5 + 140 * 26) / 340 = 22.18, columns (200 * 14.5 + 140 * 29.5) / 340 = 20.68
        dict(region=1, area_px=340, equivalent_diameter_px=20.81, probability=0.9123, centroid_row=22.2,
             centroid_col=20.7),
        dict(region=2, area_px=a, equivalent_diameter_px=round(np.sqrt(4 * a / np.pi), 2), probability=0.6,
             centroid_row=60.0, centroid_col=100.0),
    ]
    assert pred.percent == pytest.approx(100 * (340 + a) / (120 * 160))


def test_the_threshold_is_inclusive_and_the_argument_overrides_the_model():
    ell, disk, small = _shapes()
    rgb = _image()
    assert predict_steatosis(_model([0.9, 0.6, 0.2]), rgb, threshold=0.6).mask.sum() == ell.sum() + disk.sum()
    assert predict_steatosis(_model([0.9, 0.6, 0.2]), rgb, threshold=0.61).mask.sum() == ell.sum()
    assert predict_steatosis(_model([0.9, 0.6, 0.2], threshold=0.6), rgb).mask.sum() == ell.sum() + disk.sum()
    everything = predict_steatosis(_model([0.9, 0.6, 0.2], threshold=0.95), rgb, threshold=0.2)
    np.testing.assert_array_equal(everything.mask, ell | disk | small)
    assert [r["centroid_row"] for r in everything.table] == [22.2, 60.0, 90.0]
    nothing = predict_steatosis(_model([0.9, 0.6, 0.2], threshold=0.95), rgb)
    assert not nothing.mask.any() and not nothing.labels.any() and nothing.table == [] and nothing.percent == 0


def test_candidates_joined_again_by_growing_back_are_one_region_with_the_higher_probability():
    a = np.zeros((120, 160), np.uint8)
    cv2.circle(a, (60, 60), 12, 1, -1)
    b = np.zeros_like(a)
    cv2.circle(b, (84, 60), 12, 1, -1)  # touches the first one: the erosion cuts the thin neck
    both = (a | b).astype(bool)
    pred = predict_steatosis(_model([0.55, 0.8]), _image([both]))
    assert len(pred.probabilities) == 2
    np.testing.assert_array_equal(pred.mask, both)
    assert len(pred.table) == 1 and pred.table[0]["probability"] == 0.8
    assert pred.table[0]["area_px"] == both.sum()


def test_the_slide_grey_levels_replace_the_image_own_ones():
    grey = _image(colour=(185, 185, 185))  # light grey: white only once the image is stretched
    assert len(predict_steatosis(_model([0.9, 0.6, 0.2]), grey).table) == 2
    none = predict_steatosis(_model([]), grey, limits=(0, 255))  # 185 stays below the 190 floor
    assert none.probabilities.shape == (0,) and none.table == [] and not none.mask.any()


def test_the_model_candidate_parameters_are_used():
    ell, disk, small = _shapes()
    pred = predict_steatosis(_model([0.9], params=CandidateParams(min_area=200)), _image())  # the L only
    np.testing.assert_array_equal(pred.mask, ell)
    pred = predict_steatosis(_model([0.9, 0.6, 0.2], params=CandidateParams(erosion=2)), _image())
    np.testing.assert_array_equal(pred.mask, ell | disk)  # eroded by 2, grown back by 2


def test_a_one_pixel_region_sits_on_its_pixel():
    rgb = _image()
    rgb[50, 70] = WHITE  # between the L and the disk in raster order
    pred = predict_steatosis(_model([0.1, 0.9, 0.1, 0.1], params=CandidateParams(erosion=0, min_area=1)), rgb)
    assert pred.table == [dict(region=1, area_px=1, equivalent_diameter_px=1.13, probability=0.9, centroid_row=50.0,
                               centroid_col=70.0)]


# ------------------------------------------------------------------------------------------------ examples
def test_image_examples_take_the_labelled_regions_points_first():
    ell, disk, small = _shapes()
    rgb = _image()
    X_all, _ = region_features(find_candidates(rgb))
    pts = PointLabels(positive=[[20, 15]], negative=[[90, 40]])  # on the L, on the small disk
    X, y = image_examples(rgb, pts, mask=disk)  # points win over the mask
    assert y.tolist() == [1, 0]
    np.testing.assert_array_equal(X, X_all[[0, 2]])
    X, y = image_examples(rgb, PointLabels(), mask=ell | disk)  # no points: the mask
    assert y.tolist() == [1, 1, 0]
    np.testing.assert_array_equal(X, X_all)
    X, y = image_examples(rgb, pts, None, CandidateParams(min_area=200))  # the small disk is no candidate now
    assert y.tolist() == [1] and X.shape == (1, len(FEATURES))
    for pts, mask in [(None, None), (PointLabels(), None), (PointLabels(positive=[[110, 150]]), None)]:
        X, y = image_examples(rgb, pts, mask)  # nothing labelled
        assert X.shape == (0, 0) and X.dtype == np.float32 and y.shape == (0,) and y.dtype == np.int8


def _dataset(root, splits=(None, None, None)):
    """Three patients a, b, c with one image each: points on a, a mask on b, nothing on c."""
    ell, disk, small = _shapes()
    root.mkdir()
    srcs = []
    for k, name in enumerate("abc"):
        srcs.append(root / f"{name}.png")
        cv2.imwrite(str(srcs[-1]), _image()[..., ::-1])
    ds = Dataset.create(root / "ds")
    for src, patient, split in zip(srcs, "abc", splits):
        ds.add_image(src, patient, split)
    ds.write_points(ds.records[0], PointLabels(positive=[[20, 15], [60, 100]], negative=[[90, 40]]))
    ds.write_mask(ds.records[1], "steatosis", ell)
    return ds


def test_dataset_examples_pool_labelled_images_with_their_patients(tmp_path):
    ds = _dataset(tmp_path / "d")
    seen = []
    ex = dataset_examples(ds, progress=lambda *a: seen.append(a))
    assert isinstance(ex, Examples) and ex.n_images == 2 and seen == [(1, 3), (2, 3), (3, 3)]
    assert ex.y.tolist() == [1, 1, 0] + [1, 0, 0]  # a: points; b: the mask holds the L only
    assert ex.groups.tolist() == ["a"] * 3 + ["b"] * 3 and ex.X.shape == (6, len(FEATURES))
    one = dataset_examples(ds, records=[ds.records[1]])
    assert one.groups.tolist() == ["b"] * 3 and one.n_images == 1
    with pytest.raises(Cancelled, match="^training cancelled while reading the images; no model was made$"):
        dataset_examples(ds, cancelled=lambda: True)
    with pytest.raises(SteatosisError, match=f"^{ds.root}: no image has point labels or a steatosis mask"):
        dataset_examples(ds, records=[ds.records[2]])
    assert dataset_examples(ds, params=CandidateParams(min_area=200)).y.tolist() == [1, 1]  # only the Ls
    ds.write_points(ds.records[1], PointLabels())  # every point deleted: b's mask counts again
    assert dataset_examples(ds, records=[ds.records[1]]).y.tolist() == [1, 0, 0]
    ds.write_points(ds.records[1], PointLabels(positive=[[90, 40]]))  # points win over b's mask
    assert dataset_examples(ds, records=[ds.records[1]]).y.tolist() == [1]


def test_labels_that_do_not_fit_their_image_are_named(tmp_path):
    ds = _dataset(tmp_path / "d")
    ds.write_points(ds.records[0], PointLabels(positive=[[20, 15], [130, 20]]))  # row 130 of 120
    with pytest.raises(SteatosisError, match=r"points\.csv: 1 steatosis point\(s\) lie outside the 160x120 px image"):
        dataset_examples(ds)
    ds.write_mask(ds.records[1], "steatosis", np.ones((10, 20), bool))
    with pytest.raises(SteatosisError, match=r"mask is 20x10 px but its image is 160x120 px"):
        dataset_examples(ds, records=ds.records[1:])


# ------------------------------------------------------------------------------------------------ training
def _fit(fn, *args, **kw):
    with parallel_config(backend="threading"):
        return fn(*args, **kw)


def test_training_leaves_the_test_patients_out_and_reports_what_it_did(tmp_path):
    ds = _dataset(tmp_path / "d", splits=("train", "val", "test"))
    ds.write_points(ds.records[2], PointLabels(positive=[[20, 15]], negative=[[90, 40]]))
    seen = []
    model = _fit(train_classical, ds, kind="logreg", n_iter=2, progress=lambda *a: seen.append(a))
    assert model.classifier == "logreg" and model.candidate_params == CandidateParams(**TRAINING_DEFAULT)
    s = model.summary
    assert (s["n_images"], s["n_patients"], s["n_regions"], s["n_positive"], s["n_negative"]) == (2, 2, 6, 3, 3)
    assert s["cv"] == "GroupKFold by patient" and s["n_iter"] == 2 and s["dataset"] == str(ds.root)
    assert [a[:3] for a in seen] == [("features", 1, 2), ("features", 2, 2), ("search", 1, 2), ("search", 2, 2)]
    assert seen[0][3] is None and seen[-1][3] == pytest.approx(s["cv_f1"], abs=1e-4)
    # the given candidate parameters make the examples: with min_area 200 only the Ls, all positive, remain
    with pytest.raises(SteatosisError, match="both positive and negative examples"):
        train_classical(ds, n_iter=1, params=CandidateParams(min_area=200))
    with pytest.raises(Cancelled, match="while reading the images"):
        train_classical(ds, n_iter=1, cancelled=lambda: True)
    asked = []  # cancelled once both images are read: in the search, before any setting
    with pytest.raises(SteatosisError, match="^cancelled before any setting was scored$"):
        train_classical(ds, n_iter=1, cancelled=lambda: asked.append(1) or len(asked) > 2)  # gbt unless told


def test_without_a_split_column_the_test_patients_are_those_of_seed_0(tmp_path):
    """evaluate --split test scores the patients of the seed-0 split: training must not see them."""
    ds = _dataset(tmp_path / "d")
    # labelled (positive, negative) regions per patient: a (1, 1), b (1, 2) from the mask, c (2, 1); what
    # is left tells which patient was held out
    counts = {"a": (1, 1), "b": (1, 2), "c": (2, 1)}
    ds.write_points(ds.records[0], PointLabels(positive=[[20, 15]], negative=[[90, 40]]))
    ds.write_points(ds.records[2], PointLabels(positive=[[20, 15], [60, 100]], negative=[[90, 40]]))
    held = {r.patient for r in ds.records_in("test", 0)}
    assert len(held) == 1 and held != {r.patient for r in ds.records_in("test", 1)}  # the seed matters here
    model = _fit(train_classical, ds, kind="logreg", n_iter=1)
    pos, neg = counts[held.pop()]
    assert (model.summary["n_positive"], model.summary["n_negative"]) == (4 - pos, 4 - neg)


def _one_image():
    rgb = np.full((100, 160, 3), PINK, np.uint8)
    centres = [(20 + 40 * i, 25 + 50 * j) for i in range(4) for j in range(2)]  # 8 disks, 2 rows of 4
    for x, y in centres:
        cv2.circle(rgb, (x, y), 7 if y < 50 else 4, WHITE, -1)
    big = [(y, x) for x, y in centres if y < 50]
    small = [(y, x) for x, y in centres if y >= 50]
    return rgb, PointLabels(positive=big, negative=small)


def test_training_on_one_image_says_it_is_optimistic():
    rgb, pts = _one_image()
    seen = []
    model = _fit(train_on_image, rgb, pts, kind="logreg", n_iter=2, progress=lambda *a: seen.append(a))
    assert model.classifier == "logreg" and model.candidate_params == CandidateParams(**TRAINING_DEFAULT)
    assert [a[:3] for a in seen] == [("search", 1, 2), ("search", 2, 2)]
    s = model.summary
    assert s["cv"] == "stratified 3-fold by region (one image: optimistic)"
    assert (s["n_images"], s["n_patients"], s["n_positive"], s["n_negative"], s["dataset"]) == (1, 1, 4, 4, "current image")
    chosen = _fit(train_on_image, rgb, pts, kind="logreg", n_iter=1, params=CandidateParams(min_area=11))
    assert chosen.candidate_params == CandidateParams(min_area=11)
    with pytest.raises(SteatosisError, match="both positive and negative examples"):  # min_area 100: no small disk
        train_on_image(rgb, pts, kind="logreg", n_iter=1, params=CandidateParams(min_area=100))
    with pytest.raises(SteatosisError, match="^no labelled candidate region: put steatosis"):
        train_on_image(rgb, PointLabels(positive=[[50, 150]]), kind="logreg", n_iter=1)
    with pytest.raises(SteatosisError, match="^cancelled before any setting was scored$"):
        train_on_image(rgb, pts, n_iter=1, cancelled=lambda: True)  # gbt unless told otherwise


def test_the_seed_decides_the_search_and_the_importances(tmp_path):
    from napari_steatosis.classical.model import importances

    rgb, pts = _one_image()
    a, b, c = (_fit(train_on_image, rgb, pts, kind="logreg", n_iter=2, seed=s) for s in (3, 3, 4))
    assert a.summary == b.summary and a.summary["best_params"] != c.summary["best_params"]
    assert type(a.summary["best_params"]["clf__C"]) is float  # NumPy's float64 made plain, for JSON
    X, y = image_examples(rgb, pts, None, a.candidate_params)
    assert a.summary["importances"] == importances(a, X, y, seed=3)
    ds = _dataset(tmp_path / "d", splits=("train", "val", "test"))
    a, b = (_fit(train_classical, ds, kind="logreg", n_iter=2, seed=3) for _ in range(2))
    assert a.summary == b.summary


def test_fit_examples_summary():
    rng = np.random.default_rng(0)
    X = rng.random((24, len(FEATURES)))
    y = (X[:, 3] > 0.5).astype(np.int8)
    groups = np.repeat(["p", "q", "r"], 8).astype(object)
    model = _fit(fit_examples, Examples(X, y, groups, 3), "rf", 2, 0, CandidateParams(), None, None, "here")
    s = model.summary
    assert (s["n_regions"], s["n_positive"], s["n_negative"]) == (24, int(y.sum()), 24 - int(y.sum()))
    assert (s["n_images"], s["n_patients"], s["dataset"], s["n_iter"]) == (3, 3, "here", 2)
    assert set(s["best_params"]) == {"n_estimators", "max_depth", "min_samples_leaf", "max_features"}
    assert all(type(v) in (int, float, str, type(None)) for v in s["best_params"].values())  # plain, for JSON
    assert s["cv_f1"] == round(s["cv_f1"], 4) and 0.5 < s["cv_f1"] <= 1
    assert list(s["importances"])[0] == FEATURES[3] and set(s["importances"]) == set(FEATURES)


def test_few_positives_spread_over_patients_are_cross_validated_by_patient():
    """2 positives in all: too few for folds of regions, enough for one fold per patient."""
    X = np.array([[1.0], [0.0], [0.1], [0.9], [0.2], [0.05]]) @ np.ones((1, len(FEATURES)))
    y = np.array([1, 0, 0, 1, 0, 0], np.int8)
    groups = np.array(["p"] * 3 + ["q"] * 3, dtype=object)
    model = _fit(fit_examples, Examples(X, y, groups, 2), "logreg", 1, 0, CandidateParams(), None, None, "here")
    assert model.summary["cv"] == "GroupKFold by patient" and model.summary["n_positive"] == 2


def test_a_cancelled_prediction_stops_while_the_regions_are_measured(monkeypatch):
    from napari_steatosis.classical import features

    rgb = np.full((264, 264, 3), PINK, np.uint8)
    for y in range(12, 264, 24):
        for x in range(12, 264, 24):
            cv2.circle(rgb, (x, y), 5, WHITE, -1)  # 11 x 11 = 121 white disks: 121 candidate regions
    model = _model([0.9] * 121)
    measured = []
    real = features.shape_features
    monkeypatch.setattr(features, "shape_features", lambda m: measured.append(1) or real(m))
    with pytest.raises(Cancelled, match="^classical prediction cancelled$"):
        predict_steatosis(model, rgb, cancelled=lambda: len(measured) >= 10)
    assert len(measured) == features.CHECK_EVERY  # stopped at the first check after the 10th region, not at the end
    measured.clear()
    pred = predict_steatosis(model, rgb, cancelled=lambda: False)
    assert len(measured) == 121 and len(pred.table) == 121
    measured.clear()
    with pytest.raises(Cancelled):  # cancelled before it started: nothing is measured
        predict_steatosis(model, rgb, cancelled=lambda: True)
    assert measured == []
