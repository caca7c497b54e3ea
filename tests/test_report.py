"""`steatosis evaluate` and `steatosis quantify` on data with known answers."""

import csv
import json

import numpy as np
import pytest

from napari_steatosis.cli import main
from napari_steatosis.data import write_mask


def test_evaluate_perfect_and_empty_predictions(small_dataset, tmp_path, capsys):
    perfect, empty = tmp_path / "perfect", tmp_path / "empty"
    perfect.mkdir()
    empty.mkdir()
    for r in small_dataset:
        m = small_dataset.read_mask(r, "steatosis")
        write_mask(perfect / f"{r.stem}.steatosis.png", m)
        write_mask(empty / f"{r.stem}.steatosis.png", np.zeros_like(m))
    assert main(["evaluate", str(small_dataset.root), "--pred", str(perfect), "--json", "--out", str(tmp_path / "ev")]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {"jaccard", "dice", "pct_abs_error", "count_abs_error", "r2", "n_images", "n_patients"} <= set(res)
    assert res["jaccard"] == 1.0 and res["dice"] == 1.0 and res["pct_abs_error"] == 0 and res["count_abs_error"] == 0
    assert res["n_images"] == 12 and res["n_patients"] == 6
    assert res["r2"] > 0.7  # physician scores are noisy estimates of the truth
    assert (tmp_path / "ev" / "patients_vs_physician.png").stat().st_size > 1000
    rows = list(csv.DictReader(open(tmp_path / "ev" / "evaluation_per_patient.csv")))
    assert len(rows) == 6 and {"steatosis_grade", "physician_grade"} <= set(rows[0])
    assert main(["evaluate", str(small_dataset.root), "--pred", str(empty), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["jaccard"] == 0.0 and res["pct_abs_error"] > 1


def test_evaluate_names_a_missing_prediction(small_dataset, tmp_path, capsys):
    (tmp_path / "p").mkdir()
    assert main(["evaluate", str(small_dataset.root), "--pred", str(tmp_path / "p")]) == 2
    assert "no prediction for labelled image" in capsys.readouterr().err


def test_quantify_with_the_classical_method(small_dataset, tmp_path, capsys):
    model = tmp_path / "c.skops"
    assert main(["train-classical", str(small_dataset.root), "--out", str(model), "--n-iter", "1"]) == 0
    out = tmp_path / "q"
    assert main(["quantify", str(small_dataset.root), "--method", "classical", "--model", str(model), "--out", str(out),
                 "--pixel-size", "0.5", "--fibrosis", "trichrome", "--macro-cutoff", "10"]) == 0
    per_image = list(csv.DictReader(open(out / "per_image.csv")))
    per_patient = list(csv.DictReader(open(out / "per_patient.csv")))
    vac = list(csv.DictReader(open(out / "vacuoles.csv")))
    assert len(per_image) == 12 and len(per_patient) == 6
    assert {"steatosis_pct", "fibrosis_pct", "n_vacuoles", "macro_share_pct", "tissue_mm2"} <= set(per_image[0])
    assert {"steatosis_grade", "physician_steatosis_pct"} <= set(per_patient[0])
    assert len(vac) == sum(int(r["n_vacuoles"]) for r in per_image) and "equivalent_diameter_um" in vac[0]
    assert len(list(out.glob("*.geojson"))) == 12
    # --macro-cutoff 10 with --pixel-size 0.5: macrovesicular from 10 µm (20 px) on
    assert {v["type"] for v in vac} == {"macrovesicular", "microvesicular"}
    assert all((v["type"] == "macrovesicular") == (float(v["equivalent_diameter_um"]) >= 10) for v in vac)
    # scored on the patients the model never saw (train-classical holds out the test patients)
    from napari_steatosis.preprocess import tissue_mask

    splits = small_dataset.splits(0)
    held = {r.patient for r in small_dataset if splits[r.stem] == "test"}
    assert held
    fat, fib, tissue = {}, {}, {}
    for r in small_dataset:
        if r.patient in held:
            t = tissue_mask(small_dataset.read_image(r))
            fat[r.patient] = fat.get(r.patient, 0) + int((small_dataset.read_mask(r, "steatosis") & t).sum())
            fib[r.patient] = fib.get(r.patient, 0) + int((small_dataset.read_mask(r, "fibrosis") & t).sum())
            tissue[r.patient] = tissue.get(r.patient, 0) + int(t.sum())
    for p in per_patient:
        if p["patient"] in held:
            assert float(p["steatosis_pct"]) == pytest.approx(100 * fat[p["patient"]] / tissue[p["patient"]], abs=6)
            assert float(p["fibrosis_pct"]) == pytest.approx(100 * fib[p["patient"]] / tissue[p["patient"]], abs=1.5)


def test_evaluate_text_summary_is_the_json_summary(small_dataset, tmp_path, capsys):
    """The README's worked example prints the text summary: every number in it is the --json one."""
    import re

    pred = tmp_path / "half"
    pred.mkdir()
    for r in small_dataset:
        m = small_dataset.read_mask(r, "steatosis").copy()
        m[:, m.shape[1] // 2:] = False  # right half missed: a prediction with known errors
        write_mask(pred / f"{r.stem}.steatosis.png", m)
    assert main(["evaluate", str(small_dataset.root), "--pred", str(pred), "--split", "all"]) == 0
    text = capsys.readouterr().out
    assert main(["evaluate", str(small_dataset.root), "--pred", str(pred), "--split", "all", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert 0.3 < res["jaccard"] < 0.7 and res["dice"] == pytest.approx(2 * res["jaccard"] / (1 + res["jaccard"]))
    lines = {k.strip(): v for k, v in re.findall(r"^([A-Za-z²% -]+?)\s{2,}(\S+)", text, re.M)}
    assert float(lines["pooled Jaccard"]) == round(res["jaccard"], 4)
    assert float(lines["pooled Dice"]) == round(res["dice"], 4)
    assert float(lines["steatosis % error"]) == round(res["pct_abs_error"], 3)
    assert float(lines["vacuole count error"]) == round(res["count_abs_error"], 2)
    assert float(lines["R² vs physician"]) == round(res["r2"], 3)
    assert f"per-image Dice       {res['dice_per_image_mean']:.4f} ± {res['dice_per_image_sd']:.4f}" in text
    assert f"images with masks: {res['n_images']}, from {res['n_patients']} patients" in text  # not "12 of 6"
    assert res["n_images"] == 12 and res["n_patients"] == 6
