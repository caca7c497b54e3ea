"""What a user can get wrong on the command line: one line that says what, exit code 2, no traceback."""

import csv
import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import cv2
import numpy as np
import pytest

from napari_steatosis.cli import main


@pytest.fixture
def files(tmp_path):
    cv2.imwrite(str(tmp_path / "img.png"), np.full((40, 50, 3), (60, 80, 200), np.uint8))
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((40, 50), 120, np.uint8))
    (tmp_path / "junk.keras").write_bytes(b"this is not a model")
    semi = tmp_path / "semi"
    semi.mkdir()
    (semi / "dataset.csv").write_text("image;patient\nimages/img.png;P1\n")
    return tmp_path


@pytest.mark.parametrize("args, message", [
    (["fibrosis", "{tmp}/img.png", "--out", "{tmp}/img.png/out"], "cannot create the folder"),
    (["fibrosis", "{tmp}/img.png", "--out", "{tmp}/img.png"], "a file of that name exists"),
    (["predict", "{tmp}/img.png", "--out", "{tmp}/o", "--tile", "100"], "--tile 100: the U-Net takes tiles of 16k+12"),
    (["predict", "{tmp}/img.png", "--out", "{tmp}/o", "--model", "{tmp}/junk.keras"], "junk.keras: not a Keras model"),
    (["fibrosis", "{tmp}/semi", "--out", "{tmp}/o"], "separated by semicolons"),
    (["fibrosis", "{tmp}/grey.png", "--out", "{tmp}/o"], "grey.png is grey-scale"),
    (["fibrosis", "{tmp}/img.png", "--out", "{tmp}/o", "--workers", "1", "--scheduler", "tcp://h:1"],
     "--scheduler and --workers exclude each other"),
])
def test_user_errors_are_one_line_exit_2(files, capsys, args, message):
    code = main([a.format(tmp=files) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    line = [ln for ln in err.split("\n") if message in ln]
    assert line, err
    assert re.match(r"(steatosis \w+: error: |failed: )", line[0]), line[0]


@pytest.mark.skipif(not Path("/sys").is_dir(), reason="needs Linux /sys, where even root cannot create folders")
def test_an_output_folder_that_cannot_be_created_is_one_line(files, capsys):
    assert main(["fibrosis", str(files / "img.png"), "--out", "/sys/steatosis-out/x"]) == 2
    err = capsys.readouterr().err
    assert "--out /sys/steatosis-out/x: cannot create the folder (permission denied)" in err and "Traceback" not in err


@pytest.mark.parametrize("args, message", [
    (["quantify", "x.png", "--out", "o", "--pixel-size", "0"], "--pixel-size: must be a number above 0"),
    (["quantify", "x.png", "--out", "o", "--macro-cutoff", "-3"], "--macro-cutoff: must be a number above 0"),
    (["quantify", "x.png", "--out", "o", "--workers", "-2"], "--workers: must be a whole number above 0"),
    (["predict", "x.png", "--out", "o", "--scale", "nan"], "--scale: must be a number above 0 or 'auto'"),
    (["sample", "o", "--patients", "-1"], "--patients: must be a whole number above 0"),
    (["train-classical", "d", "--out", "m", "--n-iter", "0"], "--n-iter: must be a whole number above 0"),
])
def test_nonsense_values_are_usage_errors(capsys, args, message):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_excel_bom_and_crlf_dataset_is_read(files, capsys):
    ds = files / "excel"
    (ds / "images").mkdir(parents=True)
    cv2.imwrite(str(ds / "images" / "a.png"), np.full((40, 50, 3), (60, 80, 200), np.uint8))
    (ds / "dataset.csv").write_bytes("\ufeffimage,patient,split\r\nimages/a.png,P1,test\r\n".encode("utf-8"))
    assert main(["fibrosis", str(ds), "--out", str(files / "o")]) == 0
    assert "P1" in (files / "o" / "fibrosis.csv").read_text()


def test_error_is_not_glued_to_the_progress_bar(tmp_path):
    """On a terminal the bar is closed (its line ended) before the error is printed."""
    (tmp_path / "bad.png").write_bytes(b"")
    cv2.imwrite(str(tmp_path / "ok.png"), np.full((40, 50, 3), (60, 80, 200), np.uint8))
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    proc = subprocess.Popen([sys.executable, "-m", "napari_steatosis.cli", "quantify", str(tmp_path / "nowhere"),
                             "--out", str(tmp_path / "o"), "--method", "classical"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(leader)
    text = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 2
    bar, error = text.index("quantify: 0img"), text.index("steatosis quantify: error: ")
    assert bar < error  # the bar was drawn first...
    assert text[error - 1] == "\n", repr(text)  # ...and its line ended before the error
    assert "nowhere: no such file or folder" in text[error:].split("\n")[0]
    assert "Traceback" not in text


def test_a_prediction_of_the_wrong_size_is_named(tmp_path, capsys):
    from napari_steatosis.data import write_mask
    from napari_steatosis.data.synthetic import write_sample_dataset

    ds = write_sample_dataset(tmp_path / "ds", patients=1, per_patient=1, size=(96, 128), seed=1)
    (tmp_path / "pred").mkdir()
    write_mask(tmp_path / "pred" / f"{ds.records[0].stem}.steatosis.png", np.zeros((50, 50), bool))
    assert main(["evaluate", str(ds.root), "--pred", str(tmp_path / "pred")]) == 2
    err = capsys.readouterr().err
    line = [ln for ln in err.split("\n") if "error:" in ln][0]
    assert f"{ds.records[0].stem}.steatosis.png" in line and "Traceback" not in err


def test_fibrosis_on_h_and_e_is_said_per_image_and_in_the_table(tmp_path, capsys):
    """Collagen is not stained apart in H&E: the number is not left to look like a measurement."""
    from napari_steatosis.sample import sample_record

    ds, he = sample_record("he")
    ds, trichrome = sample_record("trichrome")
    he_path, tri_path = ds.image_path(he), ds.image_path(trichrome)
    assert main(["fibrosis", str(he_path), str(tri_path), "--out", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err.split("\n")
    said = [ln for ln in err if ln.startswith("warning: ")]
    assert len(said) == 1 and str(he_path) in said[0] and "looks like H&E" in said[0], err
    rows = {r["image"]: r for r in csv.DictReader(open(tmp_path / "o" / "fibrosis.csv"))}
    assert rows[str(he_path)]["stain"] == "he" and rows[str(tri_path)]["stain"] == "trichrome"


def test_images_in_subfolders_are_measured_as_their_patients_or_pointed_to_not_left_out_unseen(files, capsys):
    """One folder per patient is how many keep a study: a folder holding only such subfolders is measured
    one patient per subfolder; beside images of its own they are not searched, and the run says so."""
    study = files / "study"
    for patient in ("P1", "P2"):
        (study / patient).mkdir(parents=True)
        (study / patient / f"{patient}_a.png").write_bytes((files / "img.png").read_bytes())
    assert main(["fibrosis", str(study), "--out", str(files / "o")]) == 0
    rows = list(csv.DictReader(open(files / "o" / "fibrosis.csv")))
    assert [(Path(r["image"]).name, r["patient"]) for r in rows] == [("P1_a.png", "P1"), ("P2_a.png", "P2")]
    (study / "top.png").write_bytes((files / "img.png").read_bytes())
    assert main(["fibrosis", str(study), "--out", str(files / "o")]) == 0
    assert f"warning: {study}: the images in its subfolders P1, P2 are not measured" in capsys.readouterr().err
    assert main(["fibrosis", *(str(d) for d in sorted(study.iterdir())), "--out", str(files / "all")]) == 0
    assert len((files / "all" / "fibrosis.csv").read_text().splitlines()) == 1 + 3
    (files / "empty" / "sub").mkdir(parents=True)
    assert main(["fibrosis", str(files / "empty"), "--out", str(files / "o")]) == 2
    assert f"{files / 'empty'}: no images or slides" in capsys.readouterr().err
    for patient in ("P1", "P2"):  # the same file name in each patient's folder: the patient's name in front
        (study / patient / "field.png").write_bytes((files / "img.png").read_bytes())
    (study / "top.png").unlink()
    assert main(["fibrosis", str(study), "--out", str(files / "o2")]) == 0
    assert "its outputs are named after the patient or folder, P1_field, P2_field" in capsys.readouterr().err
    assert sorted(p.name for p in (files / "o2").glob("*.png")) == [
        "P1_a.fibrosis.png", "P1_field.fibrosis.png", "P2_a.fibrosis.png", "P2_field.fibrosis.png"]
    rows = list(csv.DictReader(open(files / "o2" / "fibrosis.csv")))
    assert [(r["image"], r["patient"]) for r in rows if "field" in r["image"]] == [
        (str(study / "P1" / "field.png"), "P1"), (str(study / "P2" / "field.png"), "P2")]
    cv2.imwrite(str(study / "P1" / "field.tif"), cv2.imread(str(files / "img.png")))  # one folder, one name twice
    assert main(["fibrosis", str(study), "--out", str(files / "o3")]) == 2
    err = capsys.readouterr().err
    assert (f"several inputs would name their outputs P1_field ({study / 'P1' / 'field.png'}, "
            f"{study / 'P1' / 'field.tif'}): they would overwrite each other") in err, err


def test_a_file_that_is_not_a_model_is_refused_before_keras_is_imported(files):
    """A quick, plain answer; and this test process (Qt loaded by the viewer tests) must never import
    TensorFlow: the two crash together. Run apart, so that what this process imported does not count."""
    code = ("import sys; from napari_steatosis.cli import main; "
            f"rc = main(['predict', {str(files / 'img.png')!r}, '--out', {str(files / 'o')!r}, "
            f"'--model', {str(files / 'junk.keras')!r}]); print(rc, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["2", "False"], (out.stdout, out.stderr)
    assert "junk.keras: not a Keras model" in out.stderr


@pytest.mark.parametrize("backend, named", [("bogus", "Unable to import backend : bogus"),
                                            ("torch", "No module named 'torch'")])
def test_a_keras_backend_that_cannot_load_is_one_line(tmp_path, backend, named):
    """KERAS_BACKEND set to a backend that is misspelt or not installed: exit 2 and a line naming it."""
    import importlib.util

    from napari_steatosis.data.synthetic import write_sample_dataset

    if backend == "torch" and importlib.util.find_spec("torch") is not None:
        pytest.skip("PyTorch is installed here: that backend loads")

    ds = write_sample_dataset(tmp_path / "ds", patients=2, per_patient=1, size=(120, 140), seed=1)
    env = {**os.environ, "KERAS_BACKEND": backend}
    out = subprocess.run([sys.executable, "-m", "napari_steatosis.cli", "train-unet", str(ds.root), "--out",
                          str(tmp_path / "m.keras")], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2, out.stderr[-2000:]
    assert f"KERAS_BACKEND={backend}: Keras cannot run on it ({named})" in out.stderr
    assert "Traceback" not in out.stderr
