"""The README's worked example, run command by command as written there (the shipped U-Net),
and the numbers it prints and writes checked against the generated truth.

The one change: the generated slides are 360x480 px instead of the default 720x960, so that
the example runs in about a minute. TensorFlow runs in this process (marker ``tensorflow``).
"""

import contextlib
import csv
import io
import json
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from napari_steatosis.cli import main
from napari_steatosis.data import Dataset
from napari_steatosis.preprocess import tissue_mask

pytestmark = pytest.mark.tensorflow

README = Path(__file__).resolve().parents[1] / "README.md"
PCT_TOLERANCE = 5.0  # percentage points between measured and true steatosis % of tissue, per patient


def readme_worked_example() -> list[list[str]]:
    text = README.read_text()
    block = text.split("### Worked example")[1].split("```bash")[1].split("```")[0]
    commands = [shlex.split(line.split("#")[0]) for line in block.strip().splitlines() if line.strip()]
    assert all(c[0] == "steatosis" for c in commands), commands
    return [c[1:] for c in commands]


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """Runs the worked example in a fresh folder; returns the folder and each command's output."""
    root = tmp_path_factory.mktemp("worked_example")
    outputs = []
    cwd = os.getcwd()
    os.chdir(root)
    try:
        for args in readme_worked_example():
            if args[0] == "sample":
                args = args + ["--size", "360x480"]
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(args)
            assert code == 0, (args, err.getvalue()[-2000:])
            outputs.append((args, out.getvalue(), err.getvalue()))
    finally:
        os.chdir(cwd)
    return root, outputs


def _truth_per_patient(ds):
    """Area-weighted true steatosis % of tissue per patient, from the masks."""
    fat, tissue = {}, {}
    for r in ds:
        t = tissue_mask(ds.read_image(r))
        m = ds.read_mask(r, "steatosis")
        fat[r.patient] = fat.get(r.patient, 0) + int((m & t).sum())
        tissue[r.patient] = tissue.get(r.patient, 0) + int(t.sum())
    return {p: 100.0 * fat[p] / tissue[p] for p in fat}


def test_the_commands_are_the_readmes():
    cmds = readme_worked_example()
    assert [c[0] for c in cmds] == ["sample", "quantify", "predict", "evaluate"]
    assert "--json" not in cmds[-1]  # the example prints the text summary


def test_quantify_report_matches_the_truth(example):
    root, outputs = example
    ds = Dataset.open(root / "study")
    assert len(ds) == 24 and len(ds.patients) == 12
    assert {r.split for r in ds} == {"train", "test"} and {r.extra["stain"] for r in ds} == {"trichrome", "he"}
    truth = _truth_per_patient(ds)
    per_patient = {r["patient"]: r for r in csv.DictReader(open(root / "report" / "per_patient.csv"))}
    assert set(per_patient) == set(truth)
    errors = {p: float(per_patient[p]["steatosis_pct"]) - truth[p] for p in truth}
    assert max(abs(e) for e in errors.values()) < PCT_TOLERANCE, errors
    # the numbers a user reads: grade, physician score, vacuoles, per image and per vacuole
    from napari_steatosis.measure import steatosis_grade

    physician = ds.physician_pct()
    for p, row in per_patient.items():
        assert int(row["steatosis_grade"]) == steatosis_grade(float(row["steatosis_pct"]))
        assert float(row["physician_steatosis_pct"]) == physician[p]
    per_image = list(csv.DictReader(open(root / "report" / "per_image.csv")))
    assert len(per_image) == 24 and {"macro_share_pct", "median_diameter_px"} <= set(per_image[0])
    for r in ds:
        row = next(i for i in per_image if Path(i["image"]).name == Path(r.image).name)
        assert abs(float(row["steatosis_pct"]) - float(r.extra["true_steatosis_pct"])) < 2 * PCT_TOLERANCE
    vacuoles = list(csv.DictReader(open(root / "report" / "vacuoles.csv")))
    assert len(vacuoles) == sum(int(r["n_vacuoles"]) for r in per_image) > 24
    assert len(list((root / "report").glob("*.steatosis.geojson"))) == 24
    # what quantify printed is what it wrote
    _, stdout, _ = outputs[1]
    for p, row in per_patient.items():
        assert re.search(rf"{p}\s+steatosis\s+{float(row['steatosis_pct']):6.2f} % of tissue "
                         rf"\(grade {row['steatosis_grade']}\), physician {physician[p]:g} %, 2 images", stdout), p


def test_evaluate_prints_the_scores_and_json_agrees(example, capsys):
    root, outputs = example
    _, text, _ = outputs[3]
    values = dict(re.findall(r"^(pooled Jaccard|pooled Dice|steatosis % error|R² vs physician)\s+([0-9.]+)", text, re.M))
    assert set(values) == {"pooled Jaccard", "pooled Dice", "steatosis % error", "R² vs physician"}, text
    test_patients = sorted({r.patient for r in Dataset.open(root / "study") if r.split == "test"})
    assert len(test_patients) == 4  # --splits 8,0,4: evaluate scores the 4 held-out patients by default
    assert f"scored the test patients: {', '.join(test_patients)}" in text
    assert "images with masks: 8, from 4 patients" in text
    assert main(["evaluate", str(root / "study"), "--pred", str(root / "pred"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {"jaccard", "dice", "pct_abs_error", "count_abs_error", "r2", "n_images", "n_patients"} <= set(res)
    assert float(values["pooled Jaccard"]) == pytest.approx(res["jaccard"], abs=1e-4)
    assert float(values["pooled Dice"]) == pytest.approx(res["dice"], abs=1e-4)
    assert float(values["steatosis % error"]) == pytest.approx(res["pct_abs_error"], abs=1e-3)
    assert float(values["R² vs physician"]) == pytest.approx(res["r2"], abs=1e-3)
    # and the scores are what the shipped model is worth on generated liver (README: held-out 0.944)
    assert res["jaccard"] > 0.8 and res["pct_abs_error"] < PCT_TOLERANCE and res["r2"] > 0.8
    assert res["n_images"] == 8 and res["n_patients"] == 4
    assert res["split"] == "test" and res["patients"] == test_patients
    files = {p.name for p in (root / "evaluation").iterdir()}
    assert {"evaluation_per_image.csv", "evaluation_per_patient.csv", "per_image_error.png",
            "patients_vs_physician.png"} <= files


def test_predict_wrote_the_masks_the_quantify_report_measured(example, tmp_path):
    """predict (for scoring) and quantify (for the report) apply the shipped model the same way:
    the card's threshold, completed as the card says; --probability adds the map, same masks."""
    import tifffile

    from napari_steatosis.data import read_mask
    from napari_steatosis.unet import default_model
    from napari_steatosis.unet.card import card_path
    from napari_steatosis.unet.detector import Detector

    root, outputs = example
    card = json.loads(card_path(default_model.path()).read_text())
    ds = Dataset.open(root / "study")
    for r in ds:
        mask = read_mask(root / "pred" / f"{r.stem}.steatosis.png")
        tissue = tissue_mask(ds.read_image(r))  # the report counts tissue only
        assert np.array_equal(mask & tissue, read_mask(root / "report" / f"{r.stem}.steatosis.png")), r.stem
    assert f"threshold {card['threshold']:.3f} (from the model card)" in outputs[2][2]
    first = list(ds)[:3]
    assert main(["predict", *(str(ds.image_path(r)) for r in first), "--out", str(tmp_path / "p"),
                 "--probability"]) == 0
    for r in first:
        prob = tifffile.imread(tmp_path / "p" / f"{r.stem}.probability.tif")
        mask = read_mask(tmp_path / "p" / f"{r.stem}.steatosis.png")
        assert prob.dtype == np.float32 and prob.shape == mask.shape
        assert np.array_equal(mask, read_mask(root / "pred" / f"{r.stem}.steatosis.png"))
        assert not (prob >= card["threshold"])[~mask].any()  # the card's threshold, as it says ...
        # ... and, when the card says so, completed to the white regions the detections cover
        assert np.array_equal(mask, Detector(None, card).mask(ds.read_image(r), prob))
