"""`steatosis evaluate` scores the test patients by default when the dataset names them, and says whom it scored."""

import json

import numpy as np

from napari_steatosis.cli import main
from napari_steatosis.data import write_mask
from napari_steatosis.data.synthetic import write_sample_dataset


def test_evaluate_scores_the_test_split_by_default_and_names_the_patients(tmp_path, capsys):
    ds = write_sample_dataset(tmp_path / "ds", patients=4, per_patient=1, size=(128, 160), seed=2, splits=(2, 1, 1))
    test = sorted({r.patient for r in ds if r.split == "test"})
    pred = tmp_path / "pred"
    pred.mkdir()
    for r in ds:  # perfect on the test patients, empty on the others
        m = ds.read_mask(r, "steatosis")
        write_mask(pred / f"{r.stem}.steatosis.png", m if r.split == "test" else np.zeros_like(m))
    assert main(["evaluate", str(ds.root), "--pred", str(pred), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["split"] == "test" and res["patients"] == test and res["jaccard"] == 1.0
    assert main(["evaluate", str(ds.root), "--pred", str(pred)]) == 0
    out = capsys.readouterr().out
    assert f"scored the test patients: {', '.join(test)} (--split all for every patient)" in out
    assert main(["evaluate", str(ds.root), "--pred", str(pred), "--split", "all", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["split"] == "all" and len(res["patients"]) == 4 and res["jaccard"] < 0.6
    assert main(["evaluate", str(ds.root), "--pred", str(pred), "--split", "train", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["patients"] == sorted({r.patient for r in ds if r.split == "train"}) and res["jaccard"] == 0.0
