"""The `steatosis` command line, run the way a user runs it."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_steatosis.cli import build_parser, main
from napari_steatosis.data import Dataset, read_mask


README = Path(__file__).resolve().parents[1] / "README.md"


def readme_usage() -> dict[str, list[str]]:
    """Subcommand -> the options the README's usage block lists for it."""
    block = README.read_text().split("## Command line")[1].split("```text")[1].split("```")[0]
    lines: dict[str, str] = {}
    current = None
    shared = []
    for line in block.splitlines():
        if line.startswith("#"):  # "# predict, quantify and fibrosis also take: [--workers N] ..."
            names, _, options = line[1:].partition("also take:")
            shared.append((re.findall(r"[a-z][a-z-]+", names.replace(" and ", ",")), options))
            continue
        if line.startswith("steatosis "):
            current = line.split()[1]
            lines[current] = line
        elif line.strip() and current:
            lines[current] += " " + line.strip()
    for names, options in shared:
        for cmd in names:
            lines[cmd] += " " + options
    return {cmd: re.findall(r"(--[a-z][a-z-]*)", text) for cmd, text in lines.items()}


def test_help_explains_every_subcommand(capsys):
    usage = readme_usage()
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "%%" not in out
    subcommands = set(build_parser()._subparsers._group_actions[0].choices)
    assert set(usage) == subcommands  # the README lists every subcommand, and only those
    for cmd in subcommands:
        assert re.search(rf"^\s+{cmd}\s+\S", out, re.M), cmd  # listed with a line of help
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        text = capsys.readouterr().out
        assert text.startswith(f"usage: steatosis {cmd}")
        assert "%%" not in text, cmd  # argparse formats an option's help, not a description
        for opt in usage[cmd]:  # every option the README shows exists and is explained
            assert re.search(rf"^\s+{opt}\b.*\S", text, re.M), (cmd, opt)


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


STEATOSIS_TOLERANCE = 5.0  # percentage points per image, shipped U-Net against the generated truth
FIBROSIS_TOLERANCE = 0.5  # percentage points per image, ROC-tuned thresholds against the masks


def test_demo_headless_writes_overlays_and_numbers_close_to_the_truth(tmp_path):
    from napari_steatosis.measure import grade_name
    from napari_steatosis.preprocess import tissue_mask
    from napari_steatosis.sample import sample_dataset

    # --headless never opens a window, even where a display is said to exist
    env = {**os.environ, "DISPLAY": ":987654"}
    proc = subprocess.run([sys.executable, "-m", "napari_steatosis.cli", "demo", "--headless", "--out",
                           str(tmp_path / "demo")], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "no display found" not in proc.stderr and "Traceback" not in proc.stderr
    # TensorFlow's C++ start-up lines (absl, oneDNN, 'failed call to cuInit' without a GPU) are not the user's
    assert "absl::InitializeLog" not in proc.stderr and not re.search(r"^[IWE]\d{4} ", proc.stderr, re.M), proc.stderr
    assert str(tmp_path / "demo") in proc.stdout
    rows = {r["image"]: r for r in csv.DictReader(open(tmp_path / "demo" / "demo_results.csv"))}
    ds = sample_dataset()
    assert len(rows) == len(ds) == 12
    assert len(list((tmp_path / "demo").glob("*.overlay.png"))) == 12
    for r in ds:
        row = rows[r.image]
        # the printed line is the written row
        assert re.search(rf"{re.escape(r.image)}\s+{r.patient}\s+{r.extra['stain']}\s+steatosis\s+"
                         rf"{float(row['steatosis_pct']):6.2f} %", proc.stdout)
        assert abs(float(row["steatosis_pct"]) - float(r.extra["true_steatosis_pct"])) < STEATOSIS_TOLERANCE, row
        if ds.has_label(r, "fibrosis"):
            rgb = ds.read_image(r)
            tissue = tissue_mask(rgb)
            truth = 100.0 * (ds.read_mask(r, "fibrosis") & tissue).sum() / tissue.sum()
            assert abs(float(row["fibrosis_pct"]) - truth) < FIBROSIS_TOLERANCE, (r.image, row["fibrosis_pct"], truth)
        else:
            assert row["fibrosis_pct"] == ""  # H&E: no fibrosis number rather than a wrong one
    patients = {p["patient"]: p for p in csv.DictReader(open(tmp_path / "demo" / "demo_patients.csv"))}
    physician = ds.physician_pct()
    for p, row in patients.items():
        assert float(row["physician_steatosis_pct"]) == physician[p]
        pct = float(row["steatosis_pct"])
        assert f"patient {p}: steatosis {pct:.1f} % of tissue, {grade_name(pct)}; physician" in proc.stdout
    assert "(fibrosis -: H&E, where collagen is not stained apart" in proc.stdout  # what the dash means
    assert Path(re.search(r"^open (\S+\.overlay\.png) to see what was measured$", proc.stdout, re.M)[1]).is_file()


def test_demo_without_a_display_runs_headless(monkeypatch):
    from napari_steatosis import demo

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert not demo.display_available()
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert demo.display_available()
    monkeypatch.delenv("WAYLAND_DISPLAY")

    class RanHeadless(Exception):
        pass

    def headless(out, progress=None):
        raise RanHeadless(out)

    monkeypatch.setattr(demo, "run_headless", headless)
    with pytest.raises(RanHeadless, match="somewhere"):
        main(["demo", "--out", "somewhere"])


def test_sample_options_from_the_readme(tmp_path):
    assert main(["sample", str(tmp_path / "s"), "--patients", "3", "--per-patient", "1", "--size", "96x128",
                 "--seed", "2", "--stain", "he", "--image-format", "tif", "--zoom", "1.5,1.5", "--splits", "1,1,1"]) == 0
    ds = Dataset.open(tmp_path / "s")
    assert sorted(r.split for r in ds) == ["test", "train", "val"]
    assert {r.extra["stain"] for r in ds} == {"he"} and {r.extra["zoom"] for r in ds} == {"1.500"}
    for r in ds:
        assert r.image.endswith(".tif") and ds.read_image(r).shape == (96, 128, 3)
        assert ds.has_label(r, "steatosis") and not ds.has_label(r, "fibrosis")  # no collagen stain in H&E
    assert main(["sample", str(tmp_path / "m"), "--patients", "4", "--per-patient", "1", "--size", "96x128",
                 "--stain", "mixed", "--image-format", "jpg"]) == 0
    ds = Dataset.open(tmp_path / "m")
    assert [r.extra["stain"] for r in ds] == ["trichrome", "he", "trichrome", "he"]
    assert all(r.image.endswith(".jpg") and r.split is None for r in ds)
    # the same seed writes the same slides
    assert main(["sample", str(tmp_path / "s2"), "--patients", "3", "--per-patient", "1", "--size", "96x128",
                 "--seed", "2", "--stain", "he", "--image-format", "tif", "--zoom", "1.5,1.5", "--splits", "1,1,1"]) == 0
    again = Dataset.open(tmp_path / "s2")
    first = Dataset.open(tmp_path / "s")
    for a, b in zip(first, again):
        assert np.array_equal(first.read_image(a), again.read_image(b))


def test_fibrosis_with_the_sirius_red_preset(tmp_path):
    import cv2

    from napari_steatosis.fibrosis import preset

    rgb = np.full((80, 100, 3), (225, 205, 120), np.uint8)  # pale yellow parenchyma
    rgb[:, :25] = (190, 30, 50)  # a red collagen septum: 25 % of the tissue
    rgb[0, 0] = 0
    cv2.imwrite(str(tmp_path / "psr.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert main(["fibrosis", str(tmp_path / "psr.png"), "--out", str(tmp_path / "o"), "--stain", "sirius-red"]) == 0
    settings = json.loads((tmp_path / "o" / "fibrosis_settings.json").read_text())
    assert settings["thresholds"] == preset("sirius-red").to_dict()
    row = next(csv.DictReader(open(tmp_path / "o" / "fibrosis.csv")))
    assert float(row["fibrosis_pct"]) == pytest.approx(25.0, abs=0.5)
    assert main(["fibrosis", str(tmp_path / "psr.png"), "--out", str(tmp_path / "t")]) == 0  # trichrome: not blue
    assert float(next(csv.DictReader(open(tmp_path / "t" / "fibrosis.csv")))["fibrosis_pct"]) < 0.5
