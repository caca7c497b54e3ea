"""White pixels of the classical candidates: the fixed rule, and each region against its surroundings."""

import cv2
import numpy as np
import pytest

from napari_steatosis.classical.candidates import CandidateParams, find_candidates
from napari_steatosis.classical.white import image_levels, local_white
from napari_steatosis.errors import SteatosisError

PINK = (215, 140, 185)


def _disk(shape, centre, r):
    m = np.zeros(shape, np.uint8)
    cv2.circle(m, centre, r, 1, -1)
    return m > 0


def _tissue(seed=0, shape=(160, 160)):
    rng = np.random.default_rng(seed)
    rgb = np.array(PINK, np.float32) * (1 + 0.05 * rng.normal(0, 1, shape + (1,)))
    rgb[0, 0] = 0  # a dark pixel, so the normalisation has both ends
    return rgb


def _hazy_and_clear():
    """A clear white disk (r 12) and a hazy one (r 30: 70 % white over the pink), on noisy tissue."""
    rgb = _tissue()
    clear, hazy = _disk((160, 160), (30, 30), 12), _disk((160, 160), (100, 100), 30)
    rgb[clear] = 245
    rgb[hazy] = 0.3 * rgb[hazy] + 0.7 * 245
    return np.clip(rgb, 0, 255).astype(np.uint8), clear, hazy


def test_a_hazy_vacuole_is_found_whole_by_its_contrast_only():
    rgb, clear, hazy = _hazy_and_clear()
    fixed = find_candidates(rgb, CandidateParams()).white
    assert (fixed & hazy).mean() < 0.3 * hazy.mean()  # the fixed rule misses most of it
    local = find_candidates(rgb, CandidateParams(local_level=60)).white
    for disk in (clear, hazy):
        inside = (local & disk).sum() / disk.sum()
        assert inside > 0.97
    # and nothing of the tissue around them
    assert (local & ~clear & ~hazy).sum() < 0.01 * (clear | hazy).sum()


def test_a_pale_halo_around_a_white_hole_is_not_taken():
    rgb = _tissue(1)
    hole, halo = _disk((160, 160), (80, 80), 20), _disk((160, 160), (80, 80), 26)
    rgb[halo & ~hole] = 0.55 * rgb[halo & ~hole] + 0.45 * 245  # paler than tissue, far from white
    rgb[hole] = 245
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    white = find_candidates(rgb, CandidateParams(local_level=60)).white
    assert abs(int(white.sum()) - int(hole.sum())) < 0.05 * hole.sum()


def test_the_level_moves_the_edge_of_a_hazy_region():
    rgb, _, hazy = _hazy_and_clear()
    rgb = cv2.GaussianBlur(rgb, (0, 0), 2.0)  # a soft edge: where it is cut depends on the level
    loose = find_candidates(rgb, CandidateParams(local_level=50)).white & hazy
    tight = find_candidates(rgb, CandidateParams(local_level=90)).white & hazy
    assert tight.sum() < 0.95 * loose.sum()


def test_level_zero_is_exactly_the_fixed_rule():
    rgb, _, _ = _hazy_and_clear()
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    expected = cv2.inRange(hsv, (0, 0, 190), (180, 45, 255)) > 0
    np.testing.assert_array_equal(local_white(rgb, hsv, 45, 190, 0), expected)


def test_image_levels():
    darkest = np.array([100] * 60 + [240] * 60, np.uint8)
    clear = darkest > 200
    assert image_levels(darkest, clear) == (100.0, 240.0)
    few = np.zeros_like(clear)
    few[:10] = True  # too few clearly white pixels to measure white: 255
    assert image_levels(darkest, few)[1] == 255.0


def test_local_level_is_a_percentage():
    with pytest.raises(SteatosisError, match="local_level"):
        CandidateParams(local_level=101)


def _tiny_model(params):
    from sklearn.linear_model import LogisticRegression

    from napari_steatosis.classical.features import FEATURES
    from napari_steatosis.classical.model import ClassicalModel

    X = np.random.default_rng(0).random((20, len(FEATURES)))
    return ClassicalModel(LogisticRegression().fit(X, X[:, 0] > 0.5), "logreg", params)


def test_a_model_keeps_its_white_rule_and_older_files_keep_the_fixed_one(tmp_path):
    import json

    import skops.io as sio

    from napari_steatosis.classical.model import load_classifier, save_classifier

    path = save_classifier(_tiny_model(CandidateParams(local_level=60)), tmp_path / "new.skops")
    assert load_classifier(path).candidate_params.local_level == 60
    # a version-1 file, saved before local_level existed: no such key, loads with the fixed rule
    obj = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    meta = json.loads(obj["meta"])
    del meta["candidate_params"]["local_level"]
    meta["version"] = 1
    sio.dump({"meta": json.dumps(meta), "estimator": obj["estimator"]}, tmp_path / "old.skops")
    assert load_classifier(tmp_path / "old.skops").candidate_params == CandidateParams()
    meta["version"] = 99
    sio.dump({"meta": json.dumps(meta), "estimator": obj["estimator"]}, tmp_path / "future.skops")
    with pytest.raises(SteatosisError, match="future.skops: made by a newer napari-steatosis"):
        load_classifier(tmp_path / "future.skops")


def test_training_uses_the_local_rule(monkeypatch):
    from napari_steatosis.classical import pipeline
    from napari_steatosis.data.dataset import PointLabels

    seen = {}
    monkeypatch.setattr(pipeline, "fit_examples", lambda ex, kind, n_iter, seed, params, *a, **k: seen.update(p=params))
    rgb, clear, hazy = _hazy_and_clear()
    pipeline.train_on_image(rgb, PointLabels([[100, 100]], [[30, 30]]))
    assert seen["p"].local_level == 60


@pytest.mark.parametrize("flag, field, default", [("--white-level", "local_level", 60), ("--split", "split", 50)])
def test_train_classical_takes_the_white_level_and_the_split_from_the_command_line(flag, field, default, tmp_path,
                                                                                   monkeypatch, capsys):
    from napari_steatosis.classical import pipeline
    from napari_steatosis.classical.model import load_classifier
    from napari_steatosis.cli import main
    from napari_steatosis.data import Dataset

    Dataset.create(tmp_path / "d")
    seen = []

    def fake_train(dataset, kind, n_iter, seed, params=None, **kw):
        seen.append(params)
        m = _tiny_model(params)
        m.summary = dict(cv_f1=1.0, cv="x", n_iter=1, n_regions=2, n_positive=1, n_negative=1, n_images=1,
                         n_patients=1, importances={})
        return m

    monkeypatch.setattr(pipeline, "train_classical", fake_train)
    for argv, level in (([], default), ([flag, "0"], 0), ([flag, "85"], 85)):
        out = tmp_path / f"m{level}.skops"
        assert main(["train-classical", str(tmp_path / "d"), "--out", str(out), "--n-iter", "1", *argv]) == 0
        assert getattr(seen[-1], field) == level and getattr(load_classifier(out).candidate_params, field) == level
        other = {"local_level": "split", "split": "local_level"}[field]  # the other option keeps its default
        assert getattr(seen[-1], other) == {"local_level": 60, "split": 50}[other]
    for bad in ("101", "-1", "half"):
        with pytest.raises(SystemExit) as e:
            main(["train-classical", str(tmp_path / "d"), "--out", str(tmp_path / "x.skops"), flag, bad])
        assert e.value.code == 2
    assert f"{flag}: " in capsys.readouterr().err and not (tmp_path / "x.skops").exists()
