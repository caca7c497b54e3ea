"""The `steatosis` command line, run the way a user runs it."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from napari_steatosis.cli import main
from napari_steatosis.data import Dataset, read_mask


def test_help_explains_every_subcommand(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("demo", "sample", "fibrosis"):
        assert cmd in out


def test_sample_then_fibrosis_with_tuning(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "ds"), "--patients", "5", "--per-patient", "1", "--size", "160x200",
                 "--seed", "3"]) == 0
    ds = Dataset.open(tmp_path / "ds")
    assert len(ds) == 5
    assert main(["fibrosis", str(tmp_path / "ds"), "--out", str(tmp_path / "out"), "--tune"]) == 0
    out = capsys.readouterr().out
    assert "AUC" in out and "held-out Jaccard" in out
    tuning = json.loads((tmp_path / "out" / "fibrosis_tuning.json").read_text())
    assert {"auc", "criterion", "heldout_jaccard", "thresholds"} <= set(tuning)
    assert (tmp_path / "out" / "fibrosis_roc.png").stat().st_size > 1000
    rows = list(csv.DictReader(open(tmp_path / "out" / "fibrosis.csv")))
    assert len(rows) == 5 and all(0 <= float(r["fibrosis_pct"]) <= 100 for r in rows)
    for r in ds:
        m = read_mask(tmp_path / "out" / f"{r.stem}.fibrosis.png", (160, 200))
        assert m.dtype == bool
    # the saved settings reproduce the same masks on a folder of plain images
    assert main(["fibrosis", str(tmp_path / "ds" / "images"), "--out", str(tmp_path / "out2"),
                 "--settings", str(tmp_path / "out" / "fibrosis_settings.json")]) == 0
    for r in ds:
        a = read_mask(tmp_path / "out" / f"{r.stem}.fibrosis.png")
        b = read_mask(tmp_path / "out2" / f"{r.stem}.fibrosis.png")
        assert np.array_equal(a, b)


@pytest.mark.parametrize("args, message", [
    (["fibrosis", "{tmp}/nowhere", "--out", "{tmp}/o"], "nowhere: no such file or folder"),
    (["fibrosis", "{tmp}/empty", "--out", "{tmp}/o"], "no images"),
    (["fibrosis", "{tmp}/img.png", "--out", "{tmp}/o", "--settings", "{tmp}/junk.json"], "junk.json: not a fibrosis settings file"),
    (["fibrosis", "{tmp}/img.png", "--out", "{tmp}/o", "--tune"], "--tune needs exactly one dataset"),
    (["fibrosis", "{tmp}/broken.png", "--out", "{tmp}/o"], "broken.png: cannot read image"),
])
def test_bad_input_is_a_clear_message_not_a_traceback(tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG but not really")
    import cv2

    cv2.imwrite(str(tmp_path / "img.png"), np.zeros((20, 20, 3), np.uint8))
    code = main([a.format(tmp=tmp_path) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err


def test_bad_size_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["sample", "x", "--size", "big"])
    assert e.value.code == 2
    assert "--size must look like 720x960" in capsys.readouterr().err


def test_demo_headless_writes_overlays_and_numbers(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run([sys.executable, "-m", "napari_steatosis.cli", "demo", "--out", str(tmp_path / "demo")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "no display found" in proc.stderr
    assert str(tmp_path / "demo") in proc.stdout
    rows = list(csv.DictReader(open(tmp_path / "demo" / "demo_results.csv")))
    assert len(rows) == 12
    assert any(r["fibrosis_pct"] for r in rows)
    assert len(list((tmp_path / "demo").glob("*.overlay.png"))) == 12
    # headless means headless: neither napari, Qt nor TensorFlow were needed
    assert "Traceback" not in proc.stderr
