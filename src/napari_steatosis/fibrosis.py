"""Fibrosis: collagen by hue/saturation/value thresholds, tuned by ROC on labelled images.

Hue is OpenCV's 0..179 scale (2 degrees per unit). A hue window with ``hue_min > hue_max``
wraps around red (picrosirius red). Images are percentile-normalised first (the paper's
normalisation), so one setting holds across brighter and darker slides.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Iterable, Sequence

import cv2
import numpy as np

from .errors import SteatosisError
from .measure import pooled_jaccard
from .preprocess import _check_rgb, percent_of_tissue, percentile_normalize, tissue_mask
from .words import count


@dataclass
class FibrosisThresholds:
    """HSV window that marks collagen. Hue 0..179 (wraps when ``hue_min > hue_max``), S and V 0..255."""

    hue_min: int = 95
    hue_max: int = 135
    sat_min: int = 45
    sat_max: int = 255
    val_min: int = 50
    val_max: int = 255
    normalize: bool = True

    def __post_init__(self):
        for f in fields(self):
            if f.name == "normalize":
                continue
            v = getattr(self, f.name)
            top = 179 if f.name.startswith("hue") else 255
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not 0 <= v <= top:
                raise SteatosisError(f"fibrosis threshold {f.name} must be an integer within 0..{top}, got {v!r}")
            setattr(self, f.name, int(v))
        if self.sat_min > self.sat_max:
            raise SteatosisError(f"sat_min ({self.sat_min}) is above sat_max ({self.sat_max})")
        if self.val_min > self.val_max:
            raise SteatosisError(f"val_min ({self.val_min}) is above val_max ({self.val_max})")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FibrosisThresholds":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise SteatosisError(f"unknown fibrosis setting(s): {', '.join(sorted(unknown))}")
        return cls(**d)

    def replace(self, **kw) -> "FibrosisThresholds":
        return FibrosisThresholds(**{**self.to_dict(), **kw})


PRESETS: dict[str, FibrosisThresholds] = {
    # Masson's trichrome: collagen blue, cytoplasm red-purple, nuclei dark
    "trichrome": FibrosisThresholds(hue_min=100, hue_max=135, sat_min=60, val_min=100),
    # picrosirius red: collagen red on a pale yellow background
    "sirius-red": FibrosisThresholds(hue_min=160, hue_max=10, sat_min=70, val_min=40),
}


def preset(name: str) -> FibrosisThresholds:
    try:
        return PRESETS[name].replace()
    except KeyError:
        raise SteatosisError(f"unknown stain preset {name!r}; use one of {', '.join(PRESETS)}") from None


def to_hsv(rgb: np.ndarray, normalize: bool = True, limits: tuple[int, int] | None = None) -> np.ndarray:
    """OpenCV HSV (H 0..179) of an RGB uint8 image, after percentile normalisation if asked
    (with a slide's grey ``limits`` when given, else the image's own percentiles)."""
    rgb = _check_rgb(rgb)
    return cv2.cvtColor(percentile_normalize(rgb, limits=limits) if normalize else rgb, cv2.COLOR_RGB2HSV)


def threshold_hsv(hsv: np.ndarray, t: FibrosisThresholds) -> np.ndarray:
    """Collagen mask (bool) of an HSV image."""
    if t.hue_min <= t.hue_max:
        m = cv2.inRange(hsv, (t.hue_min, t.sat_min, t.val_min), (t.hue_max, t.sat_max, t.val_max))
    else:  # wraps around red
        m = cv2.inRange(hsv, (t.hue_min, t.sat_min, t.val_min), (179, t.sat_max, t.val_max))
        m |= cv2.inRange(hsv, (0, t.sat_min, t.val_min), (t.hue_max, t.sat_max, t.val_max))
    return m > 0


def fibrosis_mask(rgb: np.ndarray, t: FibrosisThresholds | None = None, tissue: np.ndarray | None = None,
                  limits: tuple[int, int] | None = None) -> np.ndarray:
    """Collagen mask of an RGB image (restricted to ``tissue`` if given)."""
    t = t or preset("trichrome")
    m = threshold_hsv(to_hsv(rgb, t.normalize, limits), t)
    return m & tissue if tissue is not None else m


def fibrosis_percent(rgb: np.ndarray, t: FibrosisThresholds | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """``(mask, % of tissue, tissue mask)`` for one image."""
    tissue = tissue_mask(rgb)
    mask = fibrosis_mask(rgb, t, tissue)
    return mask, percent_of_tissue(mask, tissue), tissue


# ----------------------------------------------------------------------------- tuning
@dataclass
class TuningResult:
    """What ROC tuning found: the thresholds, the ROC curve of the chosen hue window, scores."""

    thresholds: FibrosisThresholds
    fpr: np.ndarray
    tpr: np.ndarray
    sat_levels: np.ndarray  # the saturation threshold of each ROC point (-1: everything positive)
    auc: float
    chosen_index: int  # index of the operating point on the curve
    criterion: str
    train_jaccard: float
    heldout_jaccard: float | None = None
    n_train: int = 0
    n_heldout: int = 0
    youden_sat: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        t = self.thresholds
        return dict(
            thresholds=t.to_dict(), auc=round(self.auc, 4), criterion=self.criterion,
            operating_point=dict(fpr=round(float(self.fpr[self.chosen_index]), 4),
                                 tpr=round(float(self.tpr[self.chosen_index]), 4), sat_min=t.sat_min),
            youden_sat_min=self.youden_sat, train_jaccard=round(self.train_jaccard, 4),
            heldout_jaccard=None if self.heldout_jaccard is None else round(self.heldout_jaccard, 4),
            n_train=self.n_train, n_heldout=self.n_heldout, notes=self.notes,
        )


_SAT_BIN, _VAL_BIN = 4, 8


def _histograms(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], normalize: bool):
    """3-D hue x saturation x value histograms of collagen and of other tissue pixels."""
    shape = (180, 256 // _SAT_BIN, 256 // _VAL_BIN)
    pos, neg = np.zeros(shape), np.zeros(shape)
    for k, (rgb, truth) in enumerate(zip(images, masks)):
        truth = np.asarray(truth, bool)
        if truth.shape != rgb.shape[:2]:
            raise SteatosisError(f"fibrosis mask {k} is {truth.shape[::-1]} but its image is {rgb.shape[1::-1]}")
        hsv = to_hsv(rgb, normalize)
        tissue = tissue_mask(rgb)
        for target, m in ((pos, truth), (neg, ~truth)):
            sel = (tissue & m).astype(np.uint8)
            target += cv2.calcHist([hsv], [0, 1, 2], sel, list(shape), [0, 180, 0, 256, 0, 256])
    return pos, neg


def tune_thresholds(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    base: FibrosisThresholds | None = None,
    heldout: Iterable[tuple[np.ndarray, np.ndarray]] = (),
    min_width: int = 8,
    max_width: int = 90,
) -> TuningResult:
    """Choose a hue window, a minimum value and a saturation threshold from labelled images.

    Score of a pixel: its saturation when its hue is inside the window and it is not darker
    than ``val_min`` (dark nuclei share collagen's hue in many stains), else below every
    threshold. For each candidate hue window and value floor the ROC over the saturation
    threshold is computed from histograms; the operating point chosen has the highest pooled
    Jaccard on the training pixels (criterion: maximum Jaccard, i.e. maximum Dice, which suits
    a lesion that covers few pixels better than Youden's J, also reported). Tissue pixels only.
    """
    base = base or preset("trichrome")
    images = [_check_rgb(i, f"image {k}") for k, i in enumerate(images)]
    masks = [np.asarray(m, bool) for m in masks]
    if not images:
        raise SteatosisError("fibrosis tuning needs at least one image with a fibrosis mask")
    if len(images) != len(masks):
        raise SteatosisError(f"{count(len(images), 'image')} but {count(len(masks), 'fibrosis mask')}")
    pos3, neg3 = _histograms(images, masks, base.normalize)
    P, N = pos3.sum(), neg3.sum()
    if P == 0:
        raise SteatosisError("the fibrosis masks mark no tissue pixel; cannot tune on them")
    if N == 0:
        raise SteatosisError("the fibrosis masks cover all tissue; cannot tune on them")

    def window_counts(hist3, v):
        """Counts with value bin >= v and saturation bin >= s, cumulated over hue (doubled to wrap)."""
        hs = hist3[:, :, v:].sum(axis=2)
        hs = np.cumsum(hs[:, ::-1], axis=1)[:, ::-1]
        return np.concatenate([np.zeros((1, hs.shape[1])), np.cumsum(np.vstack([hs, hs]), axis=0)])

    best = (-1.0, 0, 0, 0, 0)
    lo = np.arange(180)
    for v in range(0, 24):  # value floor 0 .. 184
        pos_h, neg_h = window_counts(pos3, v), window_counts(neg3, v)
        for width in range(min_width, max_width + 1, 2):
            tp = pos_h[lo + width] - pos_h[lo]  # window [lo, lo + width - 1]
            fp = neg_h[lo + width] - neg_h[lo]
            jac = tp / np.maximum(P + fp, 1)
            i, s = np.unravel_index(np.argmax(jac), jac.shape)
            if jac[i, s] > best[0]:
                best = (float(jac[i, s]), int(i), width, int(s), v)
    train_jac, lo0, width, s_bin, v = best
    thresholds = base.replace(hue_min=lo0, hue_max=(lo0 + width - 1) % 180, sat_min=s_bin * _SAT_BIN,
                              sat_max=255, val_min=v * _VAL_BIN, val_max=255)
    # ROC of the chosen hue window and value floor over the saturation threshold, ending at (1, 1)
    pos_h, neg_h = window_counts(pos3, v), window_counts(neg3, v)
    tp = pos_h[lo0 + width] - pos_h[lo0]
    fp = neg_h[lo0 + width] - neg_h[lo0]
    levels = np.arange(tp.shape[0] - 1, -1, -1)
    tpr = np.concatenate([[0.0], tp[levels] / P, [1.0]])
    fpr = np.concatenate([[0.0], fp[levels] / N, [1.0]])
    sat_levels = np.concatenate([[256], levels * _SAT_BIN, [-1]])
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    chosen = int(np.nonzero(sat_levels == s_bin * _SAT_BIN)[0][0])
    youden = int(sat_levels[1:-1][np.argmax(tpr[1:-1] - fpr[1:-1])])
    result = TuningResult(thresholds, fpr, tpr, sat_levels, auc, chosen,
                          "maximum pooled Jaccard on the tuning images", train_jac,
                          n_train=len(images), youden_sat=youden)
    heldout = list(heldout)
    if heldout:
        pairs = []
        for rgb, truth in heldout:
            pred, _, tissue = fibrosis_percent(rgb, thresholds)
            pairs.append((pred, np.asarray(truth, bool) & tissue))
        result.heldout_jaccard = pooled_jaccard(pairs)
        result.n_heldout = len(heldout)
    return result


def tune_from_dataset(dataset, base: FibrosisThresholds | None = None, seed: int = 0) -> TuningResult:
    """Tune on the train/val images of a dataset that have fibrosis masks; score on its test images."""
    labelled = [r for r in dataset.records if dataset.has_label(r, "fibrosis")]
    if not labelled:
        raise SteatosisError(f"{dataset.root}: no image has a fibrosis mask (labels/<stem>.fibrosis.png)")
    splits = dataset.splits(seed)
    train = [r for r in labelled if splits[r.stem] != "test"]
    test = [r for r in labelled if splits[r.stem] == "test"]
    notes = []
    if not train:
        train, test = test, []
    if not test:
        notes.append("no labelled test image: the held-out Jaccard is not measured")

    def load(recs):
        for r in recs:
            img = dataset.read_image(r)
            yield img, dataset.read_mask(r, "fibrosis", img.shape[:2])

    tr = list(load(train))
    result = tune_thresholds([i for i, _ in tr], [m for _, m in tr], base, heldout=load(test))
    result.notes += notes
    return result
