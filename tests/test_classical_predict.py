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
