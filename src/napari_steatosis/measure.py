"""Overlap metrics between predicted and true masks."""

from __future__ import annotations

from typing import Iterable

import numpy as np


def overlap_counts(pred: np.ndarray, truth: np.ndarray, within: np.ndarray | None = None) -> tuple[int, int, int]:
    """True positives, false positives and false negatives, optionally only ``within`` a mask."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
    if within is not None:
        pred, truth = pred & within, truth & within
    tp = int(np.count_nonzero(pred & truth))
    return tp, int(np.count_nonzero(pred)) - tp, int(np.count_nonzero(truth)) - tp


def jaccard(pred: np.ndarray, truth: np.ndarray, within: np.ndarray | None = None) -> float:
    """Intersection over union; 1.0 when both masks are empty."""
    tp, fp, fn = overlap_counts(pred, truth, within)
    return 1.0 if tp + fp + fn == 0 else tp / (tp + fp + fn)


def pooled_jaccard(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    """Jaccard over all pixels of all images together (the paper's definition)."""
    tp = fp = fn = 0
    for pred, truth in pairs:
        a, b, c = overlap_counts(pred, truth)
        tp, fp, fn = tp + a, fp + b, fn + c
    return 1.0 if tp + fp + fn == 0 else tp / (tp + fp + fn)
