"""Classifier search, importances, saving and safe loading (classical/model.py).

The search is watched through its public ``scoring`` argument: a scorer that records which
setting it scores on which held-out rows and returns a score chosen by the test, so the
expected best setting, folds and progress are known exactly. Joblib runs the folds in threads
here so that the records stay in this process (the search itself asks for 2 processes).
"""

import json
import re
import zipfile

import numpy as np
import pytest
from joblib import parallel_config

from napari_steatosis.classical.candidates import CandidateParams
from napari_steatosis.classical.features import FEATURES, FEATURES_2
from napari_steatosis.classical.model import (ClassicalModel, importances, is_safe_type, load_classifier,
                                              make_estimator, save_classifier, search, stored_types)
from napari_steatosis.errors import SteatosisError


# ----------------------------------------------------------------------------------------------- search
def _rows(n_groups, per_group=6):
    """Column 0 numbers the rows (to see the folds), column 1 separates the classes."""
    n = n_groups * per_group
    y = np.arange(n) % 2
    X = np.column_stack([np.arange(n), y + 0.1 * np.sin(np.arange(n))]).astype(float)
    groups = np.repeat([f"p{g}" for g in range(n_groups)], per_group).astype(object)
    return X, y, groups


class Recorder:
    """A scorer: notes (C, held-out rows) and scores a setting by how close log10(C) is to 1."""

    def __init__(self, score=None):
        self.calls = []
        self.score = score or (lambda C: -abs(np.log10(C) - 1))

    def __call__(self, est, X, y):
        C = est.get_params()["clf__C"]
        self.calls.append((C, frozenset(X[:, 0].astype(int).tolist())))
        return self.score(C)

    def settings(self):
        """The C of each setting, in the order scored."""
        return list(dict.fromkeys(c for c, _ in self.calls))

    def folds(self, C):
        return [rows for c, rows in self.calls if c == C]


def _search(X, y, groups, rec, **kw):
    with parallel_config(backend="threading"):
        return search(X, y, groups, kind="logreg", scoring=rec, **kw)


@pytest.mark.parametrize("n_groups, n_folds", [(7, 5), (3, 3), (2, 2)])
def test_search_holds_out_whole_patients_in_at_most_5_folds(n_groups, n_folds):
    X, y, groups = _rows(n_groups)
    rec = Recorder()
    _search(X, y, groups, rec, n_iter=4)
    assert len(rec.settings()) == 4
    for C in rec.settings():
        folds = rec.folds(C)
        assert len(folds) == n_folds
        assert sorted(r for f in folds for r in f) == list(range(len(y)))  # every row held out once
        held = [{groups[r] for r in f} for f in folds]
        for f, pts in zip(folds, held):  # a patient is held out whole: all its rows in one fold
            assert f == {r for r in range(len(y)) if groups[r] in pts}


def test_search_keeps_the_best_setting_and_refits_it_on_all_rows():
    X, y, groups = _rows(7)
    rec = Recorder()
    seen = []
    est, score, params = _search(X, y, groups, rec, n_iter=6, progress=lambda *a: seen.append(a))
    Cs = rec.settings()
    best = max(Cs, key=rec.score)
    assert params == {"clf__C": best} and score == pytest.approx(rec.score(best))
    assert est.get_params()["clf__C"] == best
    assert est.named_steps["scale"].n_samples_seen_ == len(y)  # fitted on every row, not a fold
    np.testing.assert_array_equal(est.predict(X), y)
    running = np.maximum.accumulate([rec.score(C) for C in Cs])
    assert [s[:2] for s in seen] == [(k, 6) for k in range(1, 7)]
    assert [s[2] for s in seen] == pytest.approx(list(running))
    # the settings are drawn from the seed: the same seed draws the same ones, another seed others
    again = Recorder()
    _search(X, y, groups, again, n_iter=2)
    assert again.settings() == Cs[:2]
    other = Recorder()
    _search(X, y, groups, other, n_iter=2, seed=1)
    assert other.settings() != Cs[:2]


def test_search_keeps_the_first_of_equal_scores():
    X, y, groups = _rows(3)
    rec = Recorder(score=lambda C: 0.5)
    _, score, params = _search(X, y, groups, rec, n_iter=3)
    assert params == {"clf__C": rec.settings()[0]} and score == 0.5


def test_cancel_between_settings_keeps_the_best_so_far():
    X, y, groups = _rows(3)
    asked = []
    rec = Recorder()
    seen = []
    _, score, params = _search(X, y, groups, rec, n_iter=6, progress=lambda *a: seen.append(a),
                               cancelled=lambda: asked.append(1) or len(asked) > 2)
    Cs = rec.settings()
    assert len(Cs) == 2 and [s[:2] for s in seen] == [(1, 6), (2, 6)]
    assert params == {"clf__C": max(Cs, key=rec.score)}
    with pytest.raises(SteatosisError, match="^cancelled before any setting was scored$"):
        _search(X, y, groups, Recorder(), n_iter=6, cancelled=lambda: True)


def test_search_on_one_image_uses_3_shuffled_stratified_folds_of_regions():
    X, y, _ = _rows(1, per_group=24)
    one = np.full(len(y), "image", dtype=object)

    def folds(seed):
        rec = Recorder()
        _search(X, y, one, rec, n_iter=1, seed=seed)
        return rec.folds(rec.settings()[0])

    f = folds(0)
    assert len(f) == 3 and sorted(r for fold in f for r in fold) == list(range(24))
    assert all(sum(y[r] for r in fold) == 4 and len(fold) == 8 for fold in f)  # 4 of each class per fold
    # shuffled: not the unshuffled folds (the first, second and last 4 rows of each class)
    assert set(f) != {frozenset(range(8 * k, 8 * k + 8)) for k in range(3)}
    assert set(folds(0)) == set(f) and set(folds(1)) != set(f)  # the seed decides the shuffle


def test_search_refuses_too_few_examples():
    X, y, groups = _rows(2)
    with pytest.raises(SteatosisError, match=r"both positive and negative examples \(got 12 positive, 0 negative"):
        search(X, np.ones(12, int), groups, kind="logreg", n_iter=1)
    with pytest.raises(SteatosisError, match=r"\(got 0 positive, 12 negative"):
        search(X, np.zeros(12, int), groups, kind="logreg", n_iter=1)
    one = np.full(6, "image", dtype=object)
    y5 = np.array([1, 1, 0, 0, 0, 0])
    with pytest.raises(SteatosisError, match="^need at least 3 positive and 3 negative labelled regions$"):
        search(X[:6], y5, one, kind="logreg", n_iter=1)
    with pytest.raises(SteatosisError, match="need at least 3 positive and 3 negative"):
        search(X[:6], 1 - y5, one, kind="logreg", n_iter=1)
    _, _, params = _search(X[:6], np.array([1, 1, 1, 0, 0, 0]), one, Recorder(), n_iter=1)  # 3 and 3 suffice
    assert set(params) == {"clf__C"}


@pytest.mark.parametrize("labels", [[1] * 6 + [0] * 6, [1, 0, 1, 0, 1, 0] + [1] * 6])
def test_patients_that_hold_one_class_are_named_before_any_fit(labels):
    """A fold trained on one patient with only positive (or negative) regions cannot be fitted."""
    X, _, groups = _rows(2)
    with pytest.raises(SteatosisError, match=r"^cross-validation by patient \(2 patients\) needs positive and "
                                             "negative regions among the training patients of every fold; "
                                             "label both kinds on more patients$"):
        search(X, np.array(labels), groups, kind="logreg", n_iter=1)


def test_search_scores_f1_by_default_and_seeds_the_estimator():
    X, y, groups = _rows(3, per_group=40)
    with parallel_config(backend="threading"):
        est, score, params = search(X[:, 1:], y, groups, kind="rf", n_iter=1, seed=5)
    assert score == 1.0  # column 1 separates the classes: F1 1 on every held-out patient
    assert est.random_state == 5 and est.get_params()["n_estimators"] == params["n_estimators"]
    from sklearn.ensemble import HistGradientBoostingClassifier

    with parallel_config(backend="threading"):
        est, _, _ = search(X[:, 1:], y, groups, n_iter=1)
    assert isinstance(est, HistGradientBoostingClassifier)  # gradient-boosted trees unless told otherwise


# -------------------------------------------------------------------------------------------- estimators
def test_each_kind_is_the_documented_estimator():
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    gbt, _ = make_estimator("gbt", 3)
    assert isinstance(gbt, HistGradientBoostingClassifier) and gbt.random_state == 3
    assert make_estimator("gbt")[0].random_state == 0  # reproducible unless another seed is asked for
    rf, _ = make_estimator("rf", 4)
    assert isinstance(rf, RandomForestClassifier) and rf.random_state == 4 and rf.n_jobs == 1
    svm, _ = make_estimator("svm", 6)
    assert [n for n, _ in svm.steps] == ["scale", "clf"] and type(svm["clf"]).__name__ == "SVC"
    assert svm["clf"].kernel == "rbf" and svm["clf"].probability is True and svm["clf"].random_state == 6
    logreg, _ = make_estimator("logreg")
    assert [n for n, _ in logreg.steps] == ["scale", "clf"] and type(logreg["clf"]).__name__ == "LogisticRegression"
    assert logreg["clf"].max_iter == 2000
    for est in (gbt, rf, svm["clf"], logreg["clf"]):  # rare classes weigh as much as common ones
        assert est.class_weight == "balanced"
    with pytest.raises(SteatosisError, match="^unknown classifier 'knn'; use one of gbt, rf, svm, logreg$"):
        make_estimator("knn")


# The search space as the README states it: (low, high) of each parameter (integers: both included).
SPACE = {
    "gbt": {"learning_rate": (0.01, 0.3, "log"), "max_iter": (50, 399), "max_leaf_nodes": (8, 63),
            "min_samples_leaf": (5, 59), "l2_regularization": (1e-4, 10.0, "log")},
    "rf": {"n_estimators": (50, 299), "max_depth": [None, 6, 10, 16, 24], "min_samples_leaf": (1, 19),
           "max_features": ["sqrt", 0.3, 0.6]},
    "svm": {"clf__C": (1e-2, 1e3, "log"), "clf__gamma": (1e-4, 1.0, "log")},
    "logreg": {"clf__C": (1e-3, 1e3, "log")},
}


@pytest.mark.parametrize("kind", list(SPACE))
def test_search_space_is_the_documented_one(kind):
    est, space = make_estimator(kind)
    assert set(space) == set(SPACE[kind])
    assert set(space) <= set(est.get_params())  # every name is a parameter of the estimator
    for name, want in SPACE[kind].items():
        got = space[name]
        if isinstance(want, list):
            assert got == want, name
            continue
        assert got.support() == pytest.approx(want[:2]), name
        if len(want) == 3:  # log-uniform: the median is the geometric mean of the bounds
            assert got.median() == pytest.approx(np.sqrt(want[0] * want[1])), name
        else:
            assert got.rvs(size=50, random_state=0).dtype.kind == "i", name


# ------------------------------------------------------------------------------------------- importances
def _stump(cut=0.5):
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    X = rng.random((60, len(FEATURES)))
    X[:, 0] = (rng.permutation(60) + 0.5) / 60  # evenly spread: a share 1 - cut of them is above the cut
    y = (X[:, 0] > cut).astype(int)
    return ClassicalModel(DecisionTreeClassifier(max_depth=1).fit(X, y), "gbt", CandidateParams()), X, y


def test_importances_are_the_drop_in_f1_largest_first():
    model, X, y = _stump()
    imp = importances(model, X, y)
    assert list(imp)[0] == "hu1" and set(imp) == set(FEATURES)
    assert all(v == 0.0 for k, v in imp.items() if k != "hu1")  # the stump never looks at them
    assert 0.3 < imp["hu1"] <= 1.0 and imp["hu1"] == round(imp["hu1"], 4) != round(imp["hu1"], 2)
    assert importances(model, X, y, seed=0) == imp  # the seed (0 unless given) fixes the shuffles


def test_importances_are_drops_in_f1_not_in_accuracy():
    model, X, y = _stump(cut=0.9)  # 1 in 10 positive: shuffled, hardly a positive is found (F1 ~0.1),
    assert 0.05 < y.mean() < 0.15  # while the accuracy stays above 0.8
    assert importances(model, X, y)["hu1"] > 0.6


def test_predict_proba_is_the_positive_column_and_empty_for_no_regions():
    model, X, y = _stump()
    np.testing.assert_array_equal(model.predict_proba(X), y.astype(float))
    out = model.predict_proba(np.zeros((0, len(FEATURES))))
    assert out.shape == (0,)


# ------------------------------------------------------------------------------------------- save / load
def _fitted(kind="logreg"):
    model, X, y = _stump()
    est, _ = make_estimator(kind)
    return est.fit(X, y), X


def test_a_saved_classifier_comes_back_whole(tmp_path):
    import skops.io as sio

    est, X = _fitted()
    params = CandidateParams(sat_max=40, val_min=200, erosion=2, min_area=15)
    model = ClassicalModel(est, "logreg", params, summary={"cv_f1": np.float32(0.25), "n_regions": 3},
                           threshold=0.37)
    path = save_classifier(model, str(tmp_path / "m.skops"))
    assert path == tmp_path / "m.skops" and [p.name for p in tmp_path.iterdir()] == ["m.skops"]
    back = load_classifier(path)
    assert (back.classifier, back.candidate_params, back.threshold) == ("logreg", params, 0.37)
    assert back.summary == {"cv_f1": 0.25, "n_regions": 3} and back.features == list(FEATURES)
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X)[:, 1])
    meta = json.loads(sio.load(path, trusted=sio.get_untrusted_types(file=path))["meta"])
    assert (meta["format"], meta["version"]) == ("napari-steatosis-classical", 3)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", meta["saved"])


def test_a_gradient_boosting_file_loads_with_its_allowed_types(tmp_path):
    import skops.io as sio

    est, X = _fitted("gbt")
    path = save_classifier(ClassicalModel(est, "gbt", CandidateParams()), tmp_path / "m.skops")
    assert sio.get_untrusted_types(file=path)  # skops alone would refuse them; the allow-list admits them
    np.testing.assert_array_equal(load_classifier(path).predict_proba(X), est.predict_proba(X)[:, 1])


def _dump(path, meta, est=None):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    sio.dump({"meta": meta if isinstance(meta, str) else json.dumps(meta),
              "estimator": LogisticRegression() if est is None else est}, path)
    return path


def test_a_file_without_threshold_or_summary_gets_the_defaults(tmp_path):
    meta = dict(format="napari-steatosis-classical", classifier="rf", features=list(FEATURES),
                candidate_params=CandidateParams().to_dict())
    model = load_classifier(_dump(tmp_path / "m.skops", meta))
    assert model.threshold == 0.5 and model.summary == {} and model.classifier == "rf"


def test_format_1_2_and_3_files_load_and_newer_ones_are_refused(tmp_path):
    old = CandidateParams(sat_max=40).to_dict()
    del old["local_level"], old["split"]  # format 1 had neither: it was trained with the fixed white rule, unsplit
    meta = dict(format="napari-steatosis-classical", classifier="rf", features=FEATURES_2, candidate_params=old)
    for version in ({}, {"version": 1}):
        model = load_classifier(_dump(tmp_path / "v1.skops", dict(meta, **version)))
        assert model.candidate_params == CandidateParams(sat_max=40, local_level=0, split=0)
    v2 = CandidateParams(local_level=60).to_dict()
    del v2["split"]  # format 2 had local_level, not split
    back = load_classifier(_dump(tmp_path / "v2.skops", dict(meta, version=2, candidate_params=v2)))
    assert (back.candidate_params.local_level, back.candidate_params.split, back.features) == (60, 0, FEATURES_2)
    meta.update(candidate_params=CandidateParams(local_level=60, split=50).to_dict(), features=list(FEATURES))
    assert load_classifier(_dump(tmp_path / "v3.skops", dict(meta, version=3))).candidate_params.split == 50
    for version, shown in [(4, "4"), ("2", "'2'"), (2.0, "2.0")]:
        p = _dump(tmp_path / "new.skops", dict(meta, version=version))
        with pytest.raises(SteatosisError) as err:
            load_classifier(p)
        assert str(err.value) == (f"{p}: made by a newer napari-steatosis (classifier format {shown}, this version "
                                  "reads up to 3); update napari-steatosis")


def test_bad_classifier_files_get_one_clear_line(tmp_path):
    good = dict(format="napari-steatosis-classical", classifier="rf", features=list(FEATURES),
                candidate_params=CandidateParams().to_dict())
    missing = tmp_path / "none.skops"
    with pytest.raises(SteatosisError, match=f"^{re.escape(str(missing))}: classifier file not found$"):
        load_classifier(missing)
    with pytest.raises(SteatosisError, match="classifier file not found"):
        load_classifier(tmp_path)  # a folder
    text = tmp_path / "text.skops"
    text.write_text("hello")
    with pytest.raises(SteatosisError, match=f"^{re.escape(str(text))}: not a napari-steatosis classifier "
                                             r"\(BadZipFile: "):
        load_classifier(text)
    p = _dump(tmp_path / "notjson.skops", "{not json")
    with pytest.raises(SteatosisError, match=f"^{re.escape(str(p))}: cannot read classifier \\(JSONDecodeError: "):
        load_classifier(p)
    for name, meta in [("list", [good]), ("other", dict(good, format="something-else")), ("none", {})]:
        p = _dump(tmp_path / f"{name}.skops", meta)
        with pytest.raises(SteatosisError, match=f"^{re.escape(str(p))}: not a napari-steatosis classifier$"):
            load_classifier(p)
    p = _dump(tmp_path / "old.skops", dict(good, features=list(FEATURES)[:-1]))
    with pytest.raises(SteatosisError, match=rf"made with another feature set \({len(FEATURES) - 1} features\); retrain"):
        load_classifier(p)
    p = _dump(tmp_path / "nofeat.skops", {k: v for k, v in good.items() if k != "features"})
    with pytest.raises(SteatosisError, match=r"another feature set \(0 features\)"):
        load_classifier(p)


def test_foreign_types_are_refused_before_loading_and_named(tmp_path):
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.dummy import DummyClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier

    foreign = [MLPClassifier(), KNeighborsClassifier(), GaussianNB(), DummyClassifier(),
               LinearDiscriminantAnalysis(), PCA(), KMeans()]
    p = _dump(tmp_path / "foreign.skops", {}, est=foreign)
    first5 = ("sklearn.cluster._kmeans.KMeans, sklearn.decomposition._pca.PCA, "
              "sklearn.discriminant_analysis.LinearDiscriminantAnalysis, sklearn.dummy.DummyClassifier, "
              "sklearn.naive_bayes.GaussianNB")  # sorted, the first five
    with pytest.raises(SteatosisError) as err:
        load_classifier(p)
    assert str(err.value) == (f"{p}: refused to load: it holds types that are not part of a steatosis classifier "
                              f"({first5}); it may have been tampered with")


def test_stored_types_reads_every_class_in_the_schema(tmp_path):
    schema = {"__class__": "dict", "__module__": "builtins", "content": {
        "a": {"__class__": "A", "__module__": "m.n", "content": [
            {"__class__": "B", "__module__": "evil"}, [{"x": {"__class__": "C", "__module__": "o"}}]]},
        "b": {"__class__": "only-a-class"}, "c": {"__module__": "only-a-module"}}}
    p = tmp_path / "s.skops"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("schema.json", json.dumps(schema))
    assert stored_types(p) == {"builtins.dict", "m.n.A", "evil.B", "o.C"}


@pytest.mark.parametrize("name, safe", [
    ("builtins.dict", True), ("builtins.NoneType", True), ("builtins.eval", False), ("builtins.object", False),
    ("numpy.ndarray", True), ("numpyx.core", False), ("os.system", False),
    ("sklearn.utils._bunch.Bunch", True), ("collections.OrderedDict", True), ("collections.defaultdict", False),
    ("sklearn.neighbors._classification.KNeighborsClassifier", False), ("sklearn.ensemble._gb.GradientBoostingClassifier", False),
])
def test_allow_list(name, safe):
    assert is_safe_type(name) is safe
