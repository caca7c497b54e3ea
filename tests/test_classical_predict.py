"""Classical prediction: what is never fat whatever the classifier says."""

import cv2
import numpy as np
from sklearn.dummy import DummyClassifier

from napari_steatosis.classical.candidates import CandidateParams
from napari_steatosis.classical.features import FEATURES
from napari_steatosis.classical.model import ClassicalModel
from napari_steatosis.classical.pipeline import predict_steatosis


def test_glass_is_never_fat_even_when_the_classifier_accepts_every_region():
    rng = np.random.default_rng(0)
    rgb = np.clip(np.array((215, 140, 185), np.float32) * (1 + 0.05 * rng.normal(0, 1, (200, 200, 1))), 0, 255)
    rgb[:, :40] = 245  # glass: a fifth of the image, beyond the tissue edge
    rgb[5, 100] = 0
    vacuole = np.zeros((200, 200), np.uint8)
    cv2.circle(vacuole, (120, 100), 15, 1, -1)
    rgb[vacuole > 0] = 245
    X = np.zeros((4, len(FEATURES)))
    always = DummyClassifier(strategy="constant", constant=1).fit(X, [0, 1, 0, 1])
    pred = predict_steatosis(ClassicalModel(always, "gbt", CandidateParams(local_level=60)), rgb.astype(np.uint8))
    assert not pred.mask[:, :38].any()
    assert pred.mask[vacuole > 0].mean() > 0.98
    assert len(pred.table) == 1 and pred.table[0]["area_px"] == int(pred.mask.sum())


def test_a_format_2_model_predicts_on_its_own_23_features_and_regions_unsplit():
    from sklearn.linear_model import LogisticRegression

    from napari_steatosis.classical.candidates import find_candidates
    from napari_steatosis.classical.features import FEATURES_2, region_features

    rgb = np.full((160, 160, 3), (215, 140, 185), np.uint8)
    rgb[0, 0] = 0
    cv2.circle(rgb, (50, 50), 20, (245, 245, 245), -1)
    cv2.line(rgb, (68, 50), (150, 20), (245, 245, 245), 4)  # a channel attached: split in format 3, not in 2
    cv2.circle(rgb, (110, 120), 12, (245, 245, 245), -1)
    params = CandidateParams(local_level=60)  # a format-2 file loads with split 0
    c = find_candidates(rgb, params)
    X = region_features(c)[0][:, [FEATURES.index(k) for k in FEATURES_2]]
    est = LogisticRegression().fit(X, np.arange(len(X)) % 2)
    pred = predict_steatosis(ClassicalModel(est, "logreg", params, features=list(FEATURES_2)), rgb)
    assert c.n == 2 and find_candidates(rgb, CandidateParams(local_level=60, split=50)).n == 3
    assert len(FEATURES_2) == 23 < len(FEATURES)
    np.testing.assert_allclose(pred.probabilities, est.predict_proba(X)[:, 1])
