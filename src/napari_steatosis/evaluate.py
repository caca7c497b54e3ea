"""Dataset-level numbers: evaluation against masks and the physician, and quantification reports."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np

from .data.atomic import output_folder
from .data.dataset import Dataset
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


def evaluate(dataset: Dataset, pred_dir: str | Path, progress: Callable[[int, int], None] | None = None,
             split: str = "all", seed: int = 0) -> dict:
    """Compare ``pred_dir/<stem>.steatosis.png`` with the dataset's masks and physician scores.

    Pixel metrics use the images that have a steatosis mask (pooled Jaccard as in the paper);
    per-patient predicted % uses every image of the patient that has a prediction. ``split``
    (train, val, test: the split column, else the seeded patient split) limits both to its patients.
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
        n_images=len(per_image),
        n_patients=len({r["patient"] for r in per_image}),
        split=split,
        patients=sorted({r["patient"] for r in per_image}),
        per_image=per_image,
        per_patient=patients,
    )


def write_evaluation(result: dict, out: str | Path) -> list[Path]:
    """CSV tables and the two plots of an evaluation."""
    from .plots import save_image_error_png, save_patient_scatter_png  # noqa: PLC0415

    out = output_folder(out)
    written = [out / "evaluation_per_image.csv", out / "evaluation_per_patient.csv"]
    write_table(written[0], result["per_image"], list(result["per_image"][0]))
    write_table(written[1], result["per_patient"], columns_of(result["per_patient"]))
    written.append(save_image_error_png(result["per_image"], out / "per_image_error.png"))
    if result["r2_patients"] >= 3:
        written.append(save_patient_scatter_png(result["per_patient"], result["r2"], out / "patients_vs_physician.png"))
    return written
