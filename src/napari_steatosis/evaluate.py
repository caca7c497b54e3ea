"""Dataset-level numbers: evaluation against masks and the physician, and quantification reports."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np

from .data.atomic import output_folder
from .data.dataset import Dataset, pixel_size_of
from .data.images import read_mask
from .data.tables import columns_of, write_table
from .errors import SteatosisError
from .measure import dice, image_measurements, overlap_counts, patient_summary, r_squared, split_vacuoles
from .preprocess import tissue_mask


def _pred_path(pred_dir: Path, stem: str) -> Path:
    for suffix in (".png", ".tif", ".tiff"):
        p = pred_dir / f"{stem}.steatosis{suffix}"
        if p.exists():
            return p
    return pred_dir / f"{stem}.steatosis.png"


def default_split(dataset: Dataset) -> str:
    """``test`` when the dataset's split column names test patients (scores on training data flatter), else ``all``."""
    recs = dataset.records
    return "test" if recs and all(r.split for r in recs) and any(r.split == "test" for r in recs) else "all"


BINS_PX = (10, 20, 40, 80)  # diameter bin edges when the pixel size is unknown
BINS_UM = (5, 10, 20, 40)  # ... and in µm when it is known (the same at 0.5 µm/px, a 20x scan)


def _bin_names(edges) -> list[str]:
    return [f"<{edges[0]:g}"] + [f"{a:g}-{b:g}" for a, b in zip(edges, edges[1:])] + [f">={edges[-1]:g}"]


def recall_by_diameter(pred: np.ndarray, truth: np.ndarray, pixel_size_um: float | None = None):
    """Per diameter bin: (true fat pixels, of them predicted). A true vacuole is a connected region
    of the mask; its diameter is that of the disc of the same area."""
    import cv2  # noqa: PLC0415

    n, lab, stats, _ = cv2.connectedComponentsWithStats(np.asarray(truth, np.uint8), connectivity=8)
    area = stats[:, cv2.CC_STAT_AREA].astype(float)
    diam = np.sqrt(4 * area / np.pi) * (pixel_size_um or 1.0)
    which = np.digitize(diam, BINS_UM if pixel_size_um else BINS_PX)
    found = np.bincount(lab.ravel(), weights=np.asarray(pred, bool).ravel(), minlength=n)
    nb = len(BINS_PX) + 1
    total = np.bincount(which[1:], weights=area[1:], minlength=nb)[:nb]
    hit = np.bincount(which[1:], weights=found[1:], minlength=nb)[:nb]
    return total, hit


def evaluate(dataset: Dataset, pred_dir: str | Path, progress: Callable[[int, int], None] | None = None,
             split: str = "all", seed: int = 0, pixel_size_um: float | None = None) -> dict:
    """Compare ``pred_dir/<stem>.steatosis.png`` with the dataset's masks and physician scores.

    Pixel metrics use the images that have a steatosis mask (pooled Jaccard as in the paper);
    per-patient predicted % uses every image of the patient that has a prediction. ``split``
    (train, val, test: the split column, else the seeded patient split) limits both to its patients.
    Recall by vacuole diameter is in µm when the pixel size is known for every labelled image
    (argument, else the dataset's ``pixel_size_um`` column), else in px; the false share is the
    share of predicted pixels that are not fat.
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise SteatosisError(f"--pred {pred_dir}: folder not found")
    physician = dataset.physician_pct("steatosis")
    tp = fp = fn = 0
    per_image, measured = [], []
    records = list(dataset.records) if split == "all" else dataset.records_in(split, seed)
    if not records:
        raise SteatosisError(f"{dataset.root}: no patient is in the {split} split")
    physician = {k: v for k, v in physician.items() if k in {r.patient for r in records}}
    labelled = [r for r in records if dataset.has_label(r, "steatosis")]
    in_um = bool(labelled) and all(pixel_size_um or pixel_size_of(r) for r in labelled)
    nb = len(BINS_PX) + 1
    bin_total, bin_hit = np.zeros(nb), np.zeros(nb)
    for k, rec in enumerate(records):
        path = _pred_path(pred_dir, rec.stem)
        has_truth = dataset.has_label(rec, "steatosis")
        if not path.exists():
            if has_truth:
                raise SteatosisError(f"{path}: no prediction for labelled image {rec.image}")
            continue
        rgb = dataset.read_image(rec)
        shape = rgb.shape[:2]
        pred = read_mask(path, shape)
        tissue = tissue_mask(rgb)
        numbers, _ = image_measurements(pred, tissue)
        measured.append(dict(patient=rec.patient, **numbers))
        if has_truth:
            truth = dataset.read_mask(rec, "steatosis", shape)
            a, b, c = overlap_counts(pred, truth)
            tp, fp, fn = tp + a, fp + b, fn + c
            t_, h_ = recall_by_diameter(pred, truth, (pixel_size_um or pixel_size_of(rec)) if in_um else None)
            bin_total, bin_hit = bin_total + t_, bin_hit + h_
            true_pct = 100.0 * np.count_nonzero(truth & tissue) / max(np.count_nonzero(tissue), 1)
            _, n_true = split_vacuoles(truth & tissue)
            per_image.append(dict(image=rec.image, patient=rec.patient, dice=round(dice(pred, truth), 4),
                                  jaccard=round(a / max(a + b + c, 1), 4) if a + b + c else 1.0,
                                  pred_pct=numbers["steatosis_pct"], true_pct=round(true_pct, 4),
                                  pct_error=round(numbers["steatosis_pct"] - true_pct, 4),
                                  pred_count=numbers["n_vacuoles"], true_count=n_true))
        if progress:
            progress(k + 1, len(records))
    if not per_image:
        raise SteatosisError(f"{dataset.root}: no image has both a steatosis mask and a prediction in {pred_dir}")
    patients = patient_summary(measured, physician)
    pairs = [(p["steatosis_pct"], p["physician_steatosis_pct"]) for p in patients if "physician_steatosis_pct" in p]
    r2 = r_squared(*zip(*pairs)) if len(pairs) >= 3 else float("nan")
    dices = np.array([r["dice"] for r in per_image])
    total = tp + fp + fn
    return dict(
        jaccard=tp / total if total else 1.0,
        dice=2 * tp / (2 * tp + fp + fn) if total else 1.0,
        dice_per_image_mean=float(dices.mean()),
        dice_per_image_sd=float(dices.std(ddof=1)) if len(dices) > 1 else 0.0,
        pct_abs_error=float(np.mean([abs(r["pct_error"]) for r in per_image])),
        count_abs_error=float(np.mean([abs(r["pred_count"] - r["true_count"]) for r in per_image])),
        r2=None if math.isnan(r2) else r2,
        r2_patients=len(pairs),
        false_share=fp / (tp + fp) if tp + fp else 0.0,
        recall_by_diameter=dict(
            unit="µm" if in_um else "px",
            bins=[dict(range=name, fat_share=round(float(t_ / max(bin_total.sum(), 1)), 4),
                       recall=round(float(h_ / t_), 4) if t_ else None)
                  for name, t_, h_ in zip(_bin_names(BINS_UM if in_um else BINS_PX), bin_total, bin_hit)]),
        n_images=len(per_image),
        n_patients=len({r["patient"] for r in per_image}),
        split=split,
        patients=sorted({r["patient"] for r in per_image}),
        per_image=per_image,
        per_patient=patients,
    )


def write_evaluation(result: dict, out: str | Path) -> list[Path]:
    """CSV tables and the plots of an evaluation."""
    from .plots import save_image_error_png, save_patient_scatter_png, save_recall_by_diameter_png  # noqa: PLC0415

    out = output_folder(out)
    written = [out / "evaluation_per_image.csv", out / "evaluation_per_patient.csv"]
    write_table(written[0], result["per_image"], list(result["per_image"][0]))
    write_table(written[1], result["per_patient"], columns_of(result["per_patient"]))
    written.append(save_image_error_png(result["per_image"], out / "per_image_error.png"))
    written.append(save_recall_by_diameter_png(result["recall_by_diameter"], result["false_share"],
                                               out / "recall_by_diameter.png"))
    if result["r2_patients"] >= 3:
        written.append(save_patient_scatter_png(result["per_patient"], result["r2"], out / "patients_vs_physician.png"))
    return written
