"""Cohorts: dask workers, bad files among good ones, kills and --resume, file modes."""

import csv
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from napari_steatosis.batch import BLOCK_TOPIC
from napari_steatosis.cli import main
from napari_steatosis.data.synthetic import write_sample_dataset

TABLES = ("per_image.csv", "per_patient.csv", "vacuoles.csv")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Four small images of two patients, a quickly trained classical model, and a clean single-process run."""
    root = tmp_path_factory.mktemp("study")
    ds = write_sample_dataset(root / "ds", patients=2, per_patient=2, size=(160, 200), seed=5)
    model = root / "cls.skops"
    assert main(["train-classical", str(ds.root), "--out", str(model), "--n-iter", "1", "--classifier", "logreg"]) == 0
    clean = root / "clean"
    assert main(["quantify", str(ds.root), "--out", str(clean), "--method", "classical", "--model", str(model)]) == 0
    return ds, model, clean


def _bad_files(folder: Path, like: Path) -> list[Path]:
    folder.mkdir()
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.png").write_text("not an image at all")
    (folder / "cut.png").write_bytes(like.read_bytes()[:400])
    return sorted(folder.iterdir())


def _same_outputs(a: Path, b: Path, stems) -> None:
    for name in TABLES:
        assert (a / name).read_text() == (b / name).read_text(), name
    for stem in stems:
        for suffix in (".steatosis.png", ".steatosis.geojson"):
            assert (a / f"{stem}{suffix}").read_bytes() == (b / f"{stem}{suffix}").read_bytes(), stem + suffix


def test_two_dask_workers_give_the_same_tables_and_masks_and_bad_files_do_not_stop_them(study, tmp_path, capsys):
    ds, model, clean = study
    bad = _bad_files(tmp_path / "bad", ds.image_path(ds.records[0]))
    out = tmp_path / "cluster"
    code = main(["quantify", str(ds.root), str(tmp_path / "bad"), "--out", str(out), "--method", "classical",
                 "--model", str(model), "--workers", "2"])
    err = capsys.readouterr().err
    assert code == 1  # the good images are finished, the run still says something went wrong
    _same_outputs(clean, out, [r.stem for r in ds])
    lines = err.split("\n")
    for f in bad:
        assert any(line.startswith("failed: ") and str(f) in line for line in lines), err
        assert not list(out.glob(f"{f.stem}.*")) and not list((out / "records").glob(f"{f.stem}.*"))
    assert "4 done, 3 failed" in err and "Traceback" not in err
    rows = list(csv.DictReader(open(out / "failures.csv")))
    assert sorted(r["image"] for r in rows) == sorted(str(f) for f in bad)
    assert any("file is empty" in r["error"] for r in rows)


def test_a_run_where_every_image_failed_writes_no_table_and_names_them_on_one_line(study, tmp_path, capsys):
    """Unreadable and grey inputs only: no 'wrote per_image.csv' over empty tables, but exit code 2 and one
    error line naming the files; the tables of an earlier run in that folder stay as they were."""
    ds, model, clean = study
    bad = _bad_files(tmp_path / "bad", ds.image_path(ds.records[0]))
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), cv2.imread(str(ds.image_path(ds.records[0])), cv2.IMREAD_GRAYSCALE))
    inputs = [*map(str, bad), str(grey)]
    for cmd, tables, extra in (("quantify", TABLES, ["--method", "classical", "--model", str(model)]),
                               ("fibrosis", ("fibrosis.csv", "fibrosis_settings.json"), []),
                               ("predict", (), ["--method", "classical", "--model", str(model)])):
        out = tmp_path / cmd
        out.mkdir()
        for name in tables:  # an earlier run's results
            (out / name).write_text(f"earlier {name}\n")
        assert main([cmd, *inputs, "--out", str(out), *extra]) == 2
        cap = capsys.readouterr()
        errors = [ln for ln in cap.err.split("\n") if ln.startswith(f"steatosis {cmd}: error: ")]
        assert len(errors) == 1 and "every image failed" in errors[0], cap.err
        assert all(f in errors[0] for f in inputs), errors[0]
        assert "wrote" not in cap.out and "Traceback" not in cap.err, cap.out
        for name in tables:
            assert (out / name).read_text() == f"earlier {name}\n"
        assert sorted(r["image"] for r in csv.DictReader(open(out / "failures.csv"))) == sorted(inputs)


def test_a_grey_scale_image_is_refused_not_measured_and_fibrosis_on_h_and_e_is_said(study, tmp_path, capsys):
    """A grey field still gets a steatosis % from a detector; the docks refuse it, so do predict and quantify.
    Fibrosis asked of an H&E image is measured but said, on a line and in the table."""
    from napari_steatosis.sample import sample_record

    ds, model, _ = study
    good = ds.image_path(ds.records[0])
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), cv2.imread(str(good), cv2.IMREAD_GRAYSCALE))
    _, he = sample_record("he")
    he_path = sample_record("he")[0].image_path(he)
    for cmd in ("predict", "quantify"):
        out = tmp_path / cmd
        extra = ["--fibrosis", "trichrome"] if cmd == "quantify" else []
        code = main([cmd, str(good), str(grey), str(he_path), "--out", str(out), "--method", "classical",
                     "--model", str(model), *extra])
        err = capsys.readouterr().err
        assert code == 1 and "2 done, 1 failed" in err, err
        assert f"failed: {grey} is grey-scale" in err and not list(out.glob("grey.*")), err
        if cmd == "quantify":
            warned = [ln for ln in err.split("\n") if "looks like H&E" in ln]
            assert len(warned) == 1 and warned[0].startswith(f"warning: {he_path}: "), err
            rows = {r["image"]: r for r in csv.DictReader(open(out / "per_image.csv"))}
            assert [rows[str(good)]["stain"], rows[str(he_path)]["stain"]] == ["trichrome", "he"]


def test_the_same_file_name_in_two_patients_folders_is_measured_under_each_patients_name(study, tmp_path, capsys):
    """Scanners name files alike: study/P1/slide1.png and study/P2/slide1.png are two patients' images. Their
    outputs get the patient in front only where names clash (P1_slide1.steatosis.png), the tables keep the
    path as given and the patient, and predict names its masks the same way."""
    import shutil

    ds, model, clean = study
    originals = {"P1": ds.records[0], "P2": ds.records[2]}
    for patient, rec in originals.items():
        (tmp_path / "study" / patient).mkdir(parents=True)
        shutil.copy(ds.image_path(rec), tmp_path / "study" / patient / "slide1.png")
    shutil.copy(ds.image_path(ds.records[1]), tmp_path / "study" / "P2" / "other.png")
    out = tmp_path / "q"
    assert main(["quantify", str(tmp_path / "study"), "--out", str(out), "--method", "classical",
                 "--model", str(model)]) == 0
    err = capsys.readouterr().err
    assert "several folders hold a file named slide1: its outputs are named after the patient or folder, " \
           "P1_slide1, P2_slide1" in err, err
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    study = tmp_path / "study"
    assert [(r["image"], r["patient"]) for r in rows] == [
        (str(study / "P1" / "slide1.png"), "P1"), (str(study / "P2" / "other.png"), "P2"),
        (str(study / "P2" / "slide1.png"), "P2")]
    assert sorted(p.name for p in out.glob("*.steatosis.png")) == [
        "P1_slide1.steatosis.png", "P2_slide1.steatosis.png", "other.steatosis.png"]  # no prefix where none clash
    for patient, rec in originals.items():  # each is its own image's mask, as in the run on the dataset
        assert (out / f"{patient}_slide1.steatosis.png").read_bytes() == \
            (clean / f"{rec.stem}.steatosis.png").read_bytes(), patient
    assert sorted(r["patient"] for r in csv.DictReader(open(out / "per_patient.csv"))) == ["P1", "P2"]
    assert main(["quantify", str(study), "--out", str(out), "--method", "classical", "--model", str(model),
                 "--resume"]) == 0
    assert "3 done (3 from an earlier run), 0 failed" in capsys.readouterr().err  # the renamed records are found
    pred = tmp_path / "p"
    assert main(["predict", str(study / "P1"), str(study / "P2"), "--out", str(pred), "--method", "classical",
                 "--model", str(model)]) == 0
    assert sorted(p.name for p in pred.glob("*.steatosis.png")) == [
        "P1_slide1.steatosis.png", "P2_slide1.steatosis.png", "other.steatosis.png"]


def test_warnings_of_a_worker_are_one_line_as_in_one_process(tmp_path, capfd):
    rgb = np.full((60, 80, 3), (200, 60, 120), np.uint8)
    rgba = np.dstack([rgb, np.full((60, 80), 255, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), rgba)  # RGBA: converted with a warning
    assert main(["fibrosis", str(tmp_path / "a.png"), "--out", str(tmp_path / "o"), "--workers", "1"]) == 0
    err = capfd.readouterr().err
    assert any(ln.startswith(f"warning: {tmp_path / 'a.png'}: RGBA image converted") for ln in err.split("\n")), err
    assert "ImageConversionWarning" not in err and "return to_rgb" not in err, err


def test_quantify_takes_the_pixel_size_from_dataset_csv_and_says_when_there_is_none(study, tmp_path, capsys):
    """The dataset's pixel_size_um column (docs/dataset.md) gives µm sizes and the 15 µm macrovesicular cutoff;
    without one the sizes are px, and the run says so instead of passing a px cutoff off as a measurement."""
    import shutil

    ds, model, clean = study
    root = tmp_path / "ds"
    shutil.copytree(ds.root, root)
    lines = (root / "dataset.csv").read_text().splitlines()
    (root / "dataset.csv").write_text("\n".join([lines[0] + ",pixel_size_um"] + [ln + ",0.5" for ln in lines[1:]]))
    assert main(["quantify", str(root), "--out", str(tmp_path / "um"), "--method", "classical", "--model", str(model)]) == 0
    assert "state no pixel size" not in capsys.readouterr().err
    rows = list(csv.DictReader(open(tmp_path / "um" / "per_image.csv")))
    px_rows = {Path(r["image"]).name: r for r in csv.DictReader(open(clean / "per_image.csv"))}
    for r in rows:
        assert float(r["pixel_size_um"]) == 0.5
        assert float(r["median_diameter_um"]) == pytest.approx(0.5 * float(r["median_diameter_px"]), abs=0.01)
        assert r["median_diameter_px"] == px_rows[Path(r["image"]).name]["median_diameter_px"]
    assert main(["quantify", str(ds.root), "--out", str(tmp_path / "px"), "--method", "classical",
                 "--model", str(model)]) == 0
    assert "all 4 images state no pixel size: vacuole sizes are in px" in capsys.readouterr().err


def test_images_in_one_folder_per_patient_are_that_patient_and_the_run_says_so(study, tmp_path, capsys):
    """study/P01, study/P02 without dataset.csv (as a scanner export is sorted): `quantify study` and
    `quantify study/*` give one per_patient.csv row per folder, say the rule once; one folder alone or
    images given one by one stay each their own patient, and the run says that too."""
    import shutil

    ds, model, clean = study
    images = [ds.image_path(r) for r in ds.records]
    folders = {"P01": images[:3], "P02": images[3:]}
    for patient, files in folders.items():
        (tmp_path / "study" / patient).mkdir(parents=True)
        for k, f in enumerate(files):  # names that say nothing of the patient
            shutil.copy(f, tmp_path / "study" / patient / f"{patient.lower()}_field{k}{f.suffix}")
    want_pct = {r["image"]: float(r["steatosis_pct"]) for r in csv.DictReader(open(clean / "per_image.csv"))}
    study_dir = tmp_path / "study"
    for name, inputs in (("whole", [study_dir]), ("glob", sorted(study_dir.glob("*")))):
        out = tmp_path / name
        assert main(["quantify", *map(str, inputs), "--out", str(out), "--method", "classical",
                     "--model", str(model)]) == 0
        said = capsys.readouterr().out
        assert said.count("patients (no dataset.csv): one patient per folder: P01 (3 images), P02 (1 image)") == 1
        rows = list(csv.DictReader(open(out / "per_patient.csv")))
        assert [(r["patient"], r["n_images"]) for r in rows] == [("P01", "3"), ("P02", "1")], said
        per_image = list(csv.DictReader(open(out / "per_image.csv")))
        assert [r["patient"] for r in per_image] == ["P01"] * 3 + ["P02"]
        for r, src in zip(per_image, images):  # the same numbers as in the dataset, only grouped by folder
            assert float(r["steatosis_pct"]) == want_pct[str(src)]
    assert main(["quantify", str(study_dir / "P01"), "--out", str(tmp_path / "one"), "--method", "classical",
                 "--model", str(model)]) == 0
    said = capsys.readouterr().out
    assert "patients (no dataset.csv): 3 images given one by one or in a single folder, each its own patient" in said
    assert len(list(csv.DictReader(open(tmp_path / "one" / "per_patient.csv")))) == 3
    assert main(["quantify", str(ds.root), "--out", str(tmp_path / "ds"), "--method", "classical",
                 "--model", str(model)]) == 0
    assert "no dataset.csv" not in capsys.readouterr().out  # a dataset says its patients itself


def test_counts_of_one_are_said_in_the_singular(study, tmp_path, capsys):
    """'1 images', '1 patients' read as a slip: every count is said with its noun in the right number."""
    ds, model, _ = study
    one = re.compile(r"\b1 (images|patients|masks|steatosis masks|vacuoles|files)\b")
    img = ds.image_path(ds.records[0])
    assert main(["quantify", str(img), "--out", str(tmp_path / "q"), "--method", "classical",
                 "--model", str(model)]) == 0
    cap = capsys.readouterr()
    assert re.search(rf"^  {img.stem}\s+steatosis .*, 1 image$", cap.out, re.M), cap.out
    assert "no dataset.csv" not in cap.out  # one image is one patient: no rule to say
    assert "the image states no pixel size" in cap.err
    assert main(["fibrosis", str(img), "--out", str(tmp_path / "f")]) == 0
    assert main(["sample", str(tmp_path / "s"), "--patients", "1", "--per-patient", "1", "--size", "96x128"]) == 0
    cap2 = capsys.readouterr()
    assert "wrote 1 mask, fibrosis.csv" in cap2.out and "wrote 1 image of 1 patient to" in cap2.out
    for text in (cap.out, cap.err, cap2.out, cap2.err):
        assert not one.search(text), text


def test_a_running_scheduler_gets_the_work_and_progress_counts_images_as_they_finish(study, tmp_path, capsys):
    from distributed import Client, LocalCluster

    from napari_steatosis.quantify import quantify

    ds, model, clean = study
    with LocalCluster(n_workers=3, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        # through the command line, as a user with a running cluster would
        assert main(["quantify", str(ds.root), "--out", str(tmp_path / "cli"), "--method", "classical",
                     "--model", str(model), "--scheduler", cluster.scheduler_address]) == 0
        _same_outputs(clean, tmp_path / "cli", [r.stem for r in ds])
        err = capsys.readouterr().err
        assert re.search(r"^(dask dashboard: http://\S+/status|no dask dashboard: it needs bokeh)", err, re.M), err
        # predict and fibrosis go the same way and write what they write in one process
        for cmd, extra in (("predict", ["--method", "classical", "--model", str(model)]), ("fibrosis", [])):
            for where, how in (("one", []), ("many", ["--scheduler", cluster.scheduler_address])):
                assert main([cmd, str(ds.root), "--out", str(tmp_path / f"{cmd}-{where}"), *extra, *how]) == 0
            names = sorted(p.name for p in (tmp_path / f"{cmd}-one").glob("*.*"))
            assert names and names == sorted(p.name for p in (tmp_path / f"{cmd}-many").glob("*.*"))
            for name in names:
                assert (tmp_path / f"{cmd}-one" / name).read_bytes() == (tmp_path / f"{cmd}-many" / name).read_bytes()
        # the images in reverse order, so they finish in another order than in the clean run
        seen = []
        with Client(cluster) as client:
            res = quantify([str(ds.image_path(r)) for r in reversed(ds.records)], tmp_path / "o",
                           method="classical", model=str(model), client=client,
                           progress=lambda done, total: seen.append((done, total)))
    assert seen == [(k, 4) for k in range(5)]
    assert [r["image"] for r in res["per_image"]] == [str(ds.image_path(r)) for r in reversed(ds.records)]
    want = {r["image"]: r for r in csv.DictReader(open(clean / "per_image.csv"))}
    for row in csv.DictReader(open(tmp_path / "o" / "per_image.csv")):
        ref = want[row["image"]]  # the patient column differs: plain images are their own patients
        assert {k: v for k, v in row.items() if k != "patient"} == {k: v for k, v in ref.items() if k != "patient"}


def test_resume_skips_complete_images_and_recomputes_the_rest(study, tmp_path, capsys):
    ds, model, clean = study
    out = tmp_path / "r"
    args = ["quantify", str(ds.root), "--out", str(out), "--method", "classical", "--model", str(model)]
    assert main(args) == 0
    a, b, c, _ = [r.stem for r in ds]
    (out / "records" / f"{a}.quantify.json").unlink()  # stopped before its record: incomplete
    (out / f"{b}.steatosis.geojson").unlink()  # an output gone: incomplete
    (out / f"{c}.steatosis.png").write_bytes(b"stale")  # complete by its record: kept as it is
    for name in TABLES:
        (out / name).unlink()
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    capsys.readouterr()
    assert main(args + ["--resume"]) == 0
    assert "4 done (2 from an earlier run), 0 failed" in capsys.readouterr().err
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert after[f"{a}.steatosis.png"] != before[f"{a}.steatosis.png"]
    assert after[f"{c}.steatosis.png"] == before[f"{c}.steatosis.png"]
    for name in TABLES:
        assert (out / name).read_text() == (clean / name).read_text()
    # other settings are another computation: nothing is reused
    assert main(args + ["--resume", "--macro-cutoff", "5"]) == 0
    assert "4 done, 0 failed" in capsys.readouterr().err
    assert (out / f"{c}.steatosis.png").read_bytes() == (clean / f"{c}.steatosis.png").read_bytes()


@pytest.fixture(scope="module")
def images(study, tmp_path_factory):
    """Twelve images: enough that a kill lands mid-run."""
    ds = study[0]
    folder = tmp_path_factory.mktemp("imgs")
    src = ds.read_image(ds.records[0])
    for k in range(12):
        cv2.imwrite(str(folder / f"img{k:02d}.png"), np.ascontiguousarray(np.roll(src, 7 * k, axis=1)[:, :, ::-1]))
    return folder


def _visible(folder: Path, pattern: str = "*") -> list[Path]:
    """The files a user sees: an atomic writer's hidden temporary (``.name.XXXX.tmp.ext``) is not one."""
    return [p for p in folder.glob(pattern) if not p.name.startswith(".")]


def _wait_for_records(out: Path, n: int, proc) -> None:
    deadline = time.monotonic() + 120
    while len(_visible(out / "records", "*.json")) < n and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)


def test_ctrl_c_on_a_cluster_cancels_the_rest_and_keeps_finished_images(study, images, tmp_path):
    ds, model, clean = study
    out = tmp_path / "o"
    proc = subprocess.Popen([sys.executable, "-m", "napari_steatosis.cli", "quantify", str(images), "--out", str(out),
                             "--method", "classical", "--model", str(model), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _wait_for_records(out, 2, proc)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole process group
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, err
    assert "interrupted; finished images keep their outputs" in err and "Traceback" not in err
    done = {p.name.split(".")[0] for p in _visible(out / "records", "*.json")}
    assert 2 <= len(done) < 12
    assert {p.name.split(".")[0] for p in _visible(out, "*.steatosis.png")} == done  # whole images only
    assert {p.name.split(".")[0] for p in _visible(out, "*.steatosis.geojson")} == done


def test_sigkill_leaves_only_whole_files_and_resume_finishes_the_table(study, images, tmp_path):
    ds, model, clean = study
    out = tmp_path / "o"
    def command(folder):
        return [sys.executable, "-m", "napari_steatosis.cli", "quantify", str(images), "--out", str(folder),
                "--method", "classical", "--model", str(model)]

    cmd = command(out)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_records(out, 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = _visible(out / "records", "*.json")
    assert 3 <= len(done) < 12, "the kill should land mid-run"
    assert not (out / "per_image.csv").exists()
    for p in _visible(out):  # every visible file is whole (a killed writer's hidden temporary may be empty)
        if p.suffix == ".png":
            assert cv2.imread(str(p), cv2.IMREAD_UNCHANGED) is not None, p
        elif p.suffix == ".geojson":
            json.loads(p.read_text())
    for p in done:
        json.loads(p.read_text())
    proc = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"12 done ({len(done)} from an earlier run), 0 failed" in proc.stderr
    assert not list(out.glob(".*.tmp*")), "temporary files of the killed run are cleaned up"
    again = tmp_path / "again"
    subprocess.run(command(again), check=True, capture_output=True, timeout=300)
    for name in TABLES:
        assert (out / name).read_text() == (again / name).read_text()


def test_outputs_and_labels_follow_the_umask(tmp_path):
    from napari_steatosis.data import Dataset, write_mask

    old = os.umask(0o007)
    try:
        img = tmp_path / "a.png"
        cv2.imwrite(str(img), np.full((40, 50, 3), (200, 80, 60), np.uint8))
        assert main(["fibrosis", str(img), "--out", str(tmp_path / "o")]) == 0
        for name in ("a.fibrosis.png", "fibrosis.csv", "fibrosis_settings.json", "records/a.fibrosis.json"):
            assert (tmp_path / "o" / name).stat().st_mode & 0o777 == 0o660, name
        ds = Dataset.create(tmp_path / "ds", [(img, "P1")])
        rec = ds.records[0]
        path = ds.write_mask(rec, "steatosis", np.ones((40, 50), bool))
        assert path.stat().st_mode & 0o777 == 0o660
        assert (ds.root / "dataset.csv").stat().st_mode & 0o777 == 0o660
        os.chmod(path, 0o644)  # replacing a file keeps the mode its owner gave it
        write_mask(path, np.zeros((40, 50), bool))
        assert path.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_each_worker_loads_the_model_once_not_per_image(study, images, tmp_path, monkeypatch):
    import shutil

    from distributed import Client, LocalCluster

    import napari_steatosis.classical.model as model_module
    from napari_steatosis.quantify import quantify

    ds, model, clean = study
    fresh = tmp_path / "fresh.skops"  # a file this process has not loaded yet
    shutil.copyfile(model, fresh)
    loads = []
    real = model_module.load_classifier
    monkeypatch.setattr(model_module, "load_classifier", lambda path: loads.append(path) or real(path))
    # two worker threads of this one process: one process, one load, whatever the number of images
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        res = quantify([images], tmp_path / "o", method="classical", model=str(fresh), client=client)
    assert len(res["per_image"]) == 12
    assert loads == [str(fresh)]


def _sum_chunk(shared, chunk):
    from distributed import get_worker

    time.sleep(0.05)  # a block takes a while
    return sum(shared[i] for i in chunk), get_worker().name


def _sum_all(data, out):
    from napari_steatosis.batch import fan_out

    return fan_out(_sum_chunk, data, [range(k, k + 10) for k in range(0, len(data), 10)])


def test_blocks_of_one_task_fan_out_over_the_workers_and_come_back_in_order():
    """What spreads one big slide's blocks over the cluster: a task's chunks run on every worker."""
    from distributed import Client, LocalCluster

    from napari_steatosis.batch import fan_out

    data = list(range(200))
    here = fan_out(lambda shared, chunk: sum(shared[i] for i in chunk), data, [range(k, k + 10) for k in range(0, 200, 10)])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        got = client.submit(_sum_all, data, None, pure=False).result()
    assert [s for s, _ in got] == here == [sum(range(k, k + 10)) for k in range(0, 200, 10)]
    assert len({w for _, w in got}) == 2  # both workers took chunks, though one task asked


_BLOCKS_RAN = []


def _recording_run_blocks(plan, indices, *args, **kwargs):
    """run_blocks that notes which worker ran which blocks (module level: tasks refer to it by name)."""
    from distributed import get_worker

    from napari_steatosis.slide_blocks import run_blocks

    _BLOCKS_RAN.append((get_worker().name, list(indices)))
    time.sleep(0.1)  # a real block takes seconds
    return run_blocks(plan, indices, *args, **kwargs)


def test_one_slide_spreads_its_blocks_over_the_workers_with_the_same_result(tmp_path, monkeypatch):
    import tifffile
    from distributed import Client, LocalCluster

    import napari_steatosis.slide_run as slide_run
    from napari_steatosis.data.synthetic_slide import write_synthetic_slide
    from napari_steatosis.fibrosis import preset
    from napari_steatosis.slide_blocks import MethodSpec

    path = tmp_path / "liver.ome.tif"
    write_synthetic_slide(path, (1024, 1536), seed=3, field=512, pool=2)
    spec = MethodSpec(None, fibrosis=preset("trichrome").to_dict())
    here = slide_run.analyse_slide(path, tmp_path / "here", spec, block=384)
    ran = _BLOCKS_RAN
    ran.clear()
    monkeypatch.setattr(slide_run, "run_blocks", _recording_run_blocks)
    heard = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster, \
            Client(cluster) as client:  # the slide is one task; its blocks become tasks of their own
        client.subscribe_topic(BLOCK_TOPIC, lambda event: heard.append(event[1]))
        there = client.submit(slide_run.analyse_slide, path, tmp_path / "there", spec, block=384, pure=False).result()
        deadline = time.monotonic() + 10  # events travel on their own
        while sum(e["done"] for e in heard) < here["blocks"] and time.monotonic() < deadline:
            time.sleep(0.05)
    # the progress bar hears of every block as it finishes
    assert sum(e["total"] for e in heard) == sum(e["done"] for e in heard) == here["blocks"]
    assert sorted(i for _, chunk in ran for i in chunk) == list(range(here["blocks"])) and here["blocks"] > 4
    assert len({worker for worker, _ in ran}) == 2
    assert {k: v for k, v in there.items() if k != "files"} == {k: v for k, v in here.items() if k != "files"}
    a = tifffile.imread(tmp_path / "here" / "liver.fibrosis.ome.tif")
    assert a.any() and np.array_equal(a, tifffile.imread(tmp_path / "there" / "liver.fibrosis.ome.tif"))


def test_block_progress_of_a_slide_in_one_process(tmp_path):
    from napari_steatosis.batch import Job, run_batch
    from napari_steatosis.data.synthetic_slide import write_synthetic_slide
    from napari_steatosis.fibrosis import preset
    from napari_steatosis.image_tasks import FibrosisTask

    path = tmp_path / "s.ome.tif"
    write_synthetic_slide(path, (512, 768), seed=1, field=512, pool=2)
    heard = []
    batch = run_batch(FibrosisTask(preset("trichrome").to_dict()), [Job.of(path, "s", slide=True)], tmp_path / "o",
                      block_progress=lambda done, total: heard.append((done, total)))
    assert len(batch.results) == 1 and heard[0] == (0, 1) and heard[-1] == (1, 1)


class _KillsItsWorker:
    """A task whose image 'b' kills the worker process running it, as an out-of-memory kill does."""

    kind = "killer"

    def settings(self):
        return {}

    def outputs(self, stem, slide=False):
        return [f"{stem}.txt"]

    def load(self):
        return None

    def __call__(self, job, out):
        if job.stem == "b":
            time.sleep(0.2)  # while its neighbours on the worker are running
            os._exit(9)
        time.sleep(0.5)
        (out / f"{job.stem}.txt").write_text("ok")
        return {}


def test_an_image_that_kills_its_worker_fails_alone(tmp_path):
    import dask
    from distributed import Client, LocalCluster

    from napari_steatosis.batch import Job, run_batch

    jobs = []
    for stem in "abcd":
        (tmp_path / f"{stem}.png").write_bytes(b"x")
        jobs.append(Job.of(tmp_path / f"{stem}.png", stem))
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=1, threads_per_worker=4, processes=True, dashboard_address=":0",
                         silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        batch = run_batch(_KillsItsWorker(), jobs, tmp_path / "o", client=client)
    # dask blames every image the dying worker held; each is tried again alone, so only 'b' fails
    assert [j.stem for j, _ in batch.results] == ["a", "c", "d"]
    assert [(j.stem, "its worker died while running it" in e) for j, e in batch.failures] == [("b", True)]


def test_an_image_a_worker_cannot_see_is_named_with_the_shared_filesystem_hint(tmp_path):
    from distributed import Client, LocalCluster

    from napari_steatosis.batch import Job, run_batch
    from napari_steatosis.fibrosis import preset
    from napari_steatosis.image_tasks import FibrosisTask

    job = Job.of(tmp_path / "gone.png", "gone")  # as if the driver saw it and the workers do not
    task = FibrosisTask(preset("trichrome").to_dict())
    assert run_batch(task, [job], tmp_path / "here").failures[0][1] == f"{job.path}: file not found"
    with LocalCluster(n_workers=1, processes=False, dashboard_address=":0") as cluster, Client(cluster) as client:
        [(_, error)] = run_batch(task, [job], tmp_path / "there", client=client).failures
    assert error.startswith(f"{job.path}: file not found on this dask worker") and "every worker sees" in error
