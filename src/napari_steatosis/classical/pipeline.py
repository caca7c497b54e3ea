"""The classical pipeline end to end: examples from a dataset, training, prediction."""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from ..errors import Cancelled, SteatosisError
from ..preprocess import percent_of_tissue, tissue_mask
from .candidates import TRAINING_DEFAULT, CandidateParams, find_candidates, grow_back
from .features import region_features, select
from .labels import labels_from_mask, labels_from_points
from .model import ClassicalModel, importances, search


@dataclass
class Examples:
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    n_images: int


def image_examples(rgb, points=None, mask=None, params: CandidateParams | None = None):
    """Features and labels of the labelled candidate regions of one image (points win over a mask)."""
    c = find_candidates(rgb, params)
    if points is not None and len(points):
        y = labels_from_points(c.labels, c.n, points.positive, points.negative, parent=c.parent)
    elif mask is not None:
        y = labels_from_mask(c.labels, c.n, mask)
    else:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int8)
    keep = y >= 0
    if not keep.any():
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int8)
    X, _ = region_features(c)
    return X[keep], y[keep]


def dataset_examples(dataset, records=None, params=None, progress=None, cancelled=None) -> Examples:
    records = list(dataset.records if records is None else records)
    Xs, ys, gs, used = [], [], [], 0
    for k, rec in enumerate(records):
        if cancelled is not None and cancelled():
            raise Cancelled("training cancelled while reading the images; no model was made")
        rgb = dataset.read_image(rec)
        pts = dataset.read_points(rec, rgb.shape[:2])
        mask = dataset.read_mask(rec, "steatosis", rgb.shape[:2]) if pts is None or not len(pts) else None
        X, y = image_examples(rgb, pts, mask, params)
        if len(y):
            Xs.append(X)
            ys.append(y)
            gs.append(np.full(len(y), rec.patient, dtype=object))
            used += 1
        if progress is not None:
            progress(k + 1, len(records))
    if not Xs:
        raise SteatosisError(f"{dataset.root}: no image has point labels or a steatosis mask to learn from")
    return Examples(np.concatenate(Xs), np.concatenate(ys), np.concatenate(gs), used)


def train_classical(dataset, kind="gbt", n_iter=350, seed=0, params=None, progress=None, cancelled=None,
                    split_seed=0) -> ClassicalModel:
    """Train on the dataset's train and val patients (test patients are held out)."""
    splits = dataset.splits(split_seed)
    records = [r for r in dataset.records if splits[r.stem] != "test"]
    params = params or CandidateParams(**TRAINING_DEFAULT)
    ex = dataset_examples(dataset, records, params, cancelled=cancelled,
                          progress=(lambda d, t: progress("features", d, t, None)) if progress else None)
    return fit_examples(ex, kind, n_iter, seed, params, progress, cancelled, source=str(dataset.root))


def train_on_image(rgb, points, kind="gbt", n_iter=50, seed=0, params=None, progress=None, cancelled=None):
    """Train on one image's point labels (cross-validated by region: optimistic, says so)."""
    params = params or CandidateParams(**TRAINING_DEFAULT)
    X, y = image_examples(rgb, points, None, params)
    if not len(y):
        raise SteatosisError("no labelled candidate region: put steatosis and not-steatosis points on white regions")
    ex = Examples(X, y, np.full(len(y), "image", dtype=object), 1)
    return fit_examples(ex, kind, n_iter, seed, params, progress, cancelled, source="current image")


def fit_examples(ex, kind, n_iter, seed, params, progress, cancelled, source) -> ClassicalModel:
    est, score, best = search(ex.X, ex.y, ex.groups, kind, n_iter, seed, cancelled=cancelled,
                              progress=(lambda d, t, s: progress("search", d, t, s)) if progress else None)
    model = ClassicalModel(est, kind, params)
    model.summary = dict(
        cv_f1=round(score, 4), cv="GroupKFold by patient", n_iter=n_iter, best_params={k: _plain(v) for k, v in best.items()},
        n_regions=int(len(ex.y)), n_positive=int((ex.y == 1).sum()), n_negative=int((ex.y == 0).sum()),
        n_images=ex.n_images, n_patients=int(len(np.unique(ex.groups))), dataset=source,
    )
    if len(np.unique(ex.groups)) < 2:
        model.summary["cv"] = "stratified 3-fold by region (one image: optimistic)"
    model.summary["importances"] = importances(model, ex.X, ex.y, seed)
    return model


def _plain(v):
    return v.item() if hasattr(v, "item") else v


@dataclass
class Prediction:
    mask: np.ndarray  # bool (H, W), grown back
    labels: np.ndarray  # int32 (H, W): accepted regions 1..k (grown back)
    table: list  # one dict per accepted region
    probabilities: np.ndarray  # per candidate region
    percent: float  # steatosis % of tissue
    tissue: np.ndarray


def _stop_when(cancelled):
    """A check that raises Cancelled once ``cancelled()`` (None: never)."""
    def check():
        if cancelled is not None and cancelled():
            raise Cancelled("classical prediction cancelled")
    return check


def predict_steatosis(model: ClassicalModel, rgb: np.ndarray, threshold: float | None = None,
                      limits: tuple[int, int] | None = None, levels: tuple[float, float] | None = None,
                      tissue: np.ndarray | None = None, cancelled=None) -> Prediction:
    """``limits``, ``levels`` (see find_candidates) and ``tissue`` (bool, the image's shape) are a
    slide's when the image is one of its blocks: a block alone would judge them by itself.
    ``cancelled()`` turning true stops it (Cancelled) between stages and while the regions are measured."""
    import cv2  # noqa: PLC0415

    check = _stop_when(cancelled)
    check()
    c = find_candidates(rgb, model.candidate_params, limits, levels)
    X, boxes = region_features(c, check)
    check()
    prob = model.predict_proba(select(X, model.features)) if c.n else np.zeros(0)
    check()
    t = model.threshold if threshold is None else threshold
    accept = np.concatenate([[False], prob >= t])
    core = accept[c.labels]
    tissue = tissue_mask(rgb) if tissue is None else tissue
    # glass is white and may look round at a tissue edge; it is never fat (nor in the % of tissue)
    mask = grow_back(core, c.white, model.candidate_params.erosion) & tissue
    n, lab = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    # each output region takes the highest probability of the candidates inside it
    region_prob = np.zeros(n)
    cand_prob = np.concatenate([[0.0], prob])[c.labels]
    np.maximum.at(region_prob, lab.ravel(), cand_prob.ravel())
    area = np.bincount(lab.ravel(), minlength=n)
    ys, xs = np.nonzero(lab)
    cy = np.bincount(lab[ys, xs], weights=ys, minlength=n) / np.maximum(area, 1)
    cx = np.bincount(lab[ys, xs], weights=xs, minlength=n) / np.maximum(area, 1)
    table = [dict(region=i, area_px=int(area[i]), equivalent_diameter_px=round(float(np.sqrt(4 * area[i] / np.pi)), 2),
                  probability=round(float(region_prob[i]), 4), centroid_row=round(float(cy[i]), 1),
                  centroid_col=round(float(cx[i]), 1)) for i in range(1, n)]
    return Prediction(mask, lab, table, prob, percent_of_tissue(mask, tissue), tissue)
