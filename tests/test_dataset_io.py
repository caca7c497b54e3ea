"""The dataset folder contract (DATASET.md): round trips and every bad-input case."""

import shutil

import cv2
import numpy as np
import pytest
import tifffile

from napari_steatosis.data import (
    Dataset, PointLabels, atomic_write, patient_split, read_image, read_mask, read_points, write_mask,
    write_points,
)
from napari_steatosis.errors import DatasetError, ImageConversionWarning, SteatosisError


def _rgb(h=40, w=50, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _write_png(path, arr):
    out = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR) if arr.ndim == 3 and arr.shape[2] == 3 else arr
    assert cv2.imwrite(str(path), out)


def _make_dataset(tmp_path, csv_text="image,patient\nimages/a.png,P1\n"):
    (tmp_path / "images").mkdir(parents=True)
    (tmp_path / "labels").mkdir()
    _write_png(tmp_path / "images" / "a.png", _rgb())
    (tmp_path / "dataset.csv").write_text(csv_text)
    return tmp_path


# ------------------------------------------------------------------ images
def test_png_and_tif_round_trip_rgb(tmp_path):
    rgb = _rgb()
    _write_png(tmp_path / "x.png", rgb)
    tifffile.imwrite(tmp_path / "x.tif", rgb)
    assert np.array_equal(read_image(tmp_path / "x.png"), rgb)
    assert np.array_equal(read_image(tmp_path / "x.tif"), rgb)


def test_grey_rgba_and_16bit_are_converted_with_a_warning(tmp_path):
    grey = _rgb()[:, :, 0]
    _write_png(tmp_path / "g.png", grey)
    with pytest.warns(ImageConversionWarning, match="g.png.*grey"):
        out = read_image(tmp_path / "g.png")
    assert out.shape == (40, 50, 3) and np.array_equal(out[:, :, 2], grey)

    rgba = np.dstack([_rgb(), np.full((40, 50), 255, np.uint8)])
    rgba[0, 0, 3] = 0  # transparent pixel becomes white
    assert cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    with pytest.warns(ImageConversionWarning, match="RGBA"):
        out = read_image(tmp_path / "a.png")
    assert out.shape == (40, 50, 3)
    assert tuple(out[0, 0]) == (255, 255, 255) and np.array_equal(out[1:, 1:], rgba[1:, 1:, :3])

    sixteen = (_rgb().astype(np.uint16) * 257)
    tifffile.imwrite(tmp_path / "s.tif", sixteen)
    with pytest.warns(ImageConversionWarning, match="16-bit"):
        out = read_image(tmp_path / "s.tif")
    assert out.dtype == np.uint8 and np.array_equal(out, _rgb())


@pytest.mark.parametrize("case", ["missing", "empty", "garbage", "suffix"])
def test_unreadable_images_are_named(tmp_path, case):
    p = tmp_path / ("bad.png" if case != "suffix" else "bad.gif")
    if case == "empty":
        p.write_bytes(b"")
    elif case in ("garbage", "suffix"):
        p.write_bytes(b"this is not an image at all")
    with pytest.raises(DatasetError, match="bad"):
        read_image(p)


def test_mask_round_trip_and_wrong_size(tmp_path):
    m = np.zeros((40, 50), bool)
    m[5:20, 10:30] = True
    write_mask(tmp_path / "m.png", m, (40, 50))
    back = read_mask(tmp_path / "m.png", (40, 50))
    assert back.dtype == bool and np.array_equal(back, m)
    assert set(np.unique(cv2.imread(str(tmp_path / "m.png"), cv2.IMREAD_UNCHANGED))) == {0, 255}
    with pytest.raises(DatasetError, match=r"m.png.*50x40.*60x40"):
        read_mask(tmp_path / "m.png", (40, 60))
    with pytest.raises(DatasetError, match="nothing written"):
        write_mask(tmp_path / "m.png", np.ones((10, 10), bool), (40, 50))
    assert np.array_equal(read_mask(tmp_path / "m.png"), m)  # untouched


def test_colour_mask_is_refused(tmp_path):
    _write_png(tmp_path / "c.png", _rgb())
    with pytest.raises(DatasetError, match="c.png.*single-channel"):
        read_mask(tmp_path / "c.png")


# ------------------------------------------------------------------ points
def test_points_round_trip_to_hundredth_of_a_pixel(tmp_path):
    pts = PointLabels([[10.123456, 20.5], [0.0, 49.99]], [[39.5, 0.25]])
    write_points(tmp_path / "p.csv", pts, (40, 50))
    back = read_points(tmp_path / "p.csv", (40, 50))
    np.testing.assert_allclose(back.positive, pts.positive, atol=0.01)
    np.testing.assert_allclose(back.negative, pts.negative, atol=0.01)
    text = (tmp_path / "p.csv").read_text().splitlines()
    assert text[0] == "x,y,class" and text[1].startswith("20.5,10.123456,steatosis")


@pytest.mark.parametrize("content, message", [
    ("x,y\n1,2\n", "missing required column.*class"),
    ("x,y,class\n1,2,fat\n", "line 2.*unknown point class 'fat'"),
    ("x,y,class\n1,2,steatosis\nabc,2,steatosis\n", "line 3.*non-numeric"),
    ("x,y,class\nnan,2,steatosis\n", "finite"),
    ("x,y,class\n60,2,steatosis\n", "outside the 50x40"),
])
def test_bad_points_files(tmp_path, content, message):
    p = tmp_path / "bad.points.csv"
    p.write_text(content)
    with pytest.raises(DatasetError, match=message) as err:
        read_points(p, (40, 50))
    assert "bad.points.csv" in str(err.value)


def test_points_outside_are_refused_before_writing(tmp_path):
    good = PointLabels([[1, 1]], [])
    write_points(tmp_path / "p.csv", good, (40, 50))
    with pytest.raises(DatasetError, match="outside"):
        write_points(tmp_path / "p.csv", PointLabels([[1, 1], [-3, 5]], []), (40, 50))
    assert len(read_points(tmp_path / "p.csv")) == 1


# ------------------------------------------------------------------ atomic writes
def test_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "labels.csv"
    target.write_text("old content")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            tmp.write_text("half writ")
            raise RuntimeError("disk full")
    assert target.read_text() == "old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv"]  # no temp left behind


def test_failed_mask_encode_keeps_old_mask(tmp_path, monkeypatch):
    m = np.zeros((20, 20), bool)
    m[2:5, 2:5] = True
    write_mask(tmp_path / "m.png", m)
    monkeypatch.setattr(cv2, "imwrite", lambda *a, **k: False)
    with pytest.raises(DatasetError, match="could not encode"):
        write_mask(tmp_path / "m.png", ~m)
    monkeypatch.undo()
    assert np.array_equal(read_mask(tmp_path / "m.png"), m)


def test_read_only_folder_is_a_clear_error(tmp_path, monkeypatch):
    """Root ignores permissions, so the refusal the OS gives is simulated where it happens."""
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    write_mask(tmp_path / "m.png", np.ones((4, 4), bool))
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(SteatosisError, match="not writable"):
        write_mask(tmp_path / "m.png", np.zeros((4, 4), bool))
    monkeypatch.undo()
    assert read_mask(tmp_path / "m.png").all()


# ------------------------------------------------------------------ dataset.csv
def test_dataset_round_trip_keeps_extra_columns(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        _write_png(src / f"img{i}.png", _rgb(seed=i))
    ds = Dataset.create(tmp_path / "ds", [(src / "img0.png", "A"), (src / "img1.png", "A")])
    ds.add_image(src / "img2.png", "B", scanner="X1")
    rec = ds.record("img2")
    ds.write_mask(rec, "steatosis", np.eye(40, 50, dtype=bool), (40, 50))
    ds.write_points(rec, PointLabels([[3, 4]], [[5, 6]]), (40, 50))
    again = Dataset.open(tmp_path / "ds")
    assert [(r.stem, r.patient) for r in again] == [("img0", "A"), ("img1", "A"), ("img2", "B")]
    assert again.record("img2").extra["scanner"] == "X1"
    assert np.array_equal(again.read_image(again.record("img1")), _rgb(seed=1))
    assert np.array_equal(again.read_mask(again.record("img2"), "steatosis"), np.eye(40, 50, dtype=bool))
    assert again.read_mask(again.record("img0"), "steatosis") is None  # unlabelled, not "no steatosis"
    assert len(again.read_points(again.record("img2"))) == 2


def test_adding_an_image_whose_name_collides_is_refused(tmp_path):
    src = tmp_path / "src"
    (src / "other").mkdir(parents=True)
    _write_png(src / "a.png", _rgb())
    _write_png(src / "other" / "a.png", _rgb(seed=3))
    ds = Dataset.create(tmp_path / "ds", [(src / "a.png", "P")])
    with pytest.raises(DatasetError, match="already in"):
        ds.add_image(src / "other" / "a.png", "Q")
    assert np.array_equal(ds.read_image(ds.record("a")), _rgb())
    assert len(Dataset.open(tmp_path / "ds")) == 1


@pytest.mark.parametrize("csv_text, message", [
    ("", "empty file"),
    ("image\nimages/a.png\n", "missing required column.*patient"),
    ("image,patient\nimages/a.png,\n", "line 2.*no patient"),
    ("image,patient\nimages/a.png,P1\nimages/a.png,P2\n", "line 3.*already used"),
    ("image,patient,split\nimages/a.png,P1,training\n", "split 'training'"),
    ("image,patient\nimages/a.txt,P1\n", "not a supported image"),
    ("image,patient,physician_steatosis_pct\nimages/a.png,P1,lots\n", "not a number"),
    ("image,patient,physician_steatosis_pct\nimages/a.png,P1,140\n", "within 0..100"),
    ("image,patient,physician_fibrosis_pct\nimages/a.png,P1,-1\n", "physician_fibrosis_pct of images/a.png must be"),
    # one patient, one physician score: two images of P1 that disagree are refused
    ("image,patient,physician_steatosis_pct\nimages/a.png,P1,20\nimages/b.png,P1,30\n",
     r"patient P1 has different physician_steatosis_pct values \(20.0, 30.0\)"),
    ("image,patient,physician_fibrosis_pct\nimages/a.png,P1,2\nimages/b.png,P1,3\n",
     "patient P1 has different physician_fibrosis_pct"),
    ("image,patient,split\nimages/a.png,P1,test\nimages/b.png,P1,train\n", "patient P1 is in several splits"),
    ("image,patient\n,P1\n", "line 2: empty 'image'"),
])
def test_bad_dataset_csv(tmp_path, csv_text, message):
    _make_dataset(tmp_path, csv_text)
    with pytest.raises(DatasetError, match=message) as err:
        Dataset.open(tmp_path)
    assert "dataset.csv" in str(err.value)


def test_missing_csv_and_folder(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        Dataset.open(tmp_path / "nope")
    with pytest.raises(DatasetError, match="dataset.csv"):
        Dataset.open(tmp_path)


def test_missing_image_file_is_named(tmp_path):
    _make_dataset(tmp_path, "image,patient\nimages/a.png,P1\nimages/gone.png,P2\n")
    ds = Dataset.open(tmp_path)
    with pytest.raises(DatasetError, match="gone.png.*not found"):
        ds.read_image(ds.record("gone"))


def test_mis_sized_mask_in_dataset_is_named(tmp_path):
    _make_dataset(tmp_path)
    _write_png(tmp_path / "labels" / "a.steatosis.png", np.zeros((10, 10), np.uint8))
    ds = Dataset.open(tmp_path)
    with pytest.raises(DatasetError, match="a.steatosis.png.*10x10.*50x40"):
        ds.read_mask(ds.record("a"), "steatosis", (40, 50))


# ------------------------------------------------------------------ splits
def test_patient_split_is_seeded_and_per_patient():
    patients = [f"P{i}" for i in range(10)]
    a, b = patient_split(patients, seed=1), patient_split(patients, seed=1)
    assert a == b and patient_split(patients, seed=2) != a
    counts = {s: list(a.values()).count(s) for s in ("train", "val", "test")}
    assert counts == {"train": 6, "val": 2, "test": 2}
    assert set(patient_split(["A", "B", "C"]).values()) == {"train", "val", "test"}
    assert list(patient_split(["A"]).values()) == ["train"]


def test_dataset_splits_never_split_a_patient(tmp_path):
    _make_dataset(tmp_path, "image,patient\n" + "".join(f"images/i{k}.png,P{k % 6}\n" for k in range(12)))
    small_dataset = Dataset.open(tmp_path)  # six patients, two images each
    splits = small_dataset.splits(seed=5)
    by_patient = {}
    for r in small_dataset:
        by_patient.setdefault(r.patient, set()).add(splits[r.stem])
    assert all(len(s) == 1 for s in by_patient.values())
    assert set(splits.values()) == {"train", "val", "test"}


def test_split_column_wins_and_must_be_consistent(tmp_path):
    _make_dataset(tmp_path, "image,patient,split\nimages/a.png,P1,test\n")
    assert Dataset.open(tmp_path).splits() == {"a": "test"}
    shutil.copy(tmp_path / "images" / "a.png", tmp_path / "images" / "b.png")
    (tmp_path / "dataset.csv").write_text("image,patient,split\nimages/a.png,P1,test\nimages/b.png,P1,train\n")
    with pytest.raises(DatasetError, match="several splits"):
        Dataset.open(tmp_path)
    (tmp_path / "dataset.csv").write_text("image,patient,split\nimages/a.png,P1,test\nimages/b.png,P2,\n")
    with pytest.raises(DatasetError, match="empty for 1"):
        Dataset.open(tmp_path)


def test_physician_scores_per_patient(tmp_path):
    _make_dataset(tmp_path, "image,patient,physician_steatosis_pct,physician_fibrosis_pct\n"
                            "images/a.png,P1,20,\nimages/b.png,P1,20.0,\nimages/c.png,P2,,\nimages/d.png,P3,0,100\n")
    ds = Dataset.open(tmp_path)
    assert ds.physician_pct() == {"P1": 20.0, "P3": 0.0}  # the same score twice is one score; P2 has none
    assert ds.physician_pct("fibrosis") == {"P3": 100.0}


# ------------------------------------------------------------------ points, exact limits
def test_points_on_the_last_pixel_are_inside_and_one_beyond_is_outside():
    shape = (40, 50)
    PointLabels([[0, 0], [39.99, 49.99]], [[39, 49]]).check_inside(shape, "p")
    for pts, first in (([[40, 1]], "x=1.0, y=40.0"), ([[1, 50]], "x=50.0, y=1.0"), ([[-0.01, 3]], "x=3.0, y=-0.0"),
                       ([[2, -1]], "x=-1.0, y=2.0")):
        with pytest.raises(DatasetError, match=rf"p: 1 steatosis point\(s\) lie outside the 50x40 px image \(first at {first}"):
            PointLabels(pts, []).check_inside(shape, "p")
    with pytest.raises(DatasetError, match=r"2 not_steatosis point\(s\).*first at x=60.0, y=1.0"):
        PointLabels([[1, 1]], [[1, 1], [1, 60], [45, 2]]).check_inside(shape, "p")
    assert len(PointLabels([[1, 1], [2, 2]], [[3, 3]])) == 3 and len(PointLabels()) == 0


def test_points_keep_their_class_and_order_and_ignore_other_columns(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("name,x,y,class\na,1.5,2.5,steatosis\nb,3,4,not_steatosis\nc,5,6, steatosis \n")
    pts = read_points(p)
    assert pts.positive.tolist() == [[2.5, 1.5], [6.0, 5.0]] and pts.negative.tolist() == [[4.0, 3.0]]
    write_points(tmp_path / "q.csv", pts)
    assert (tmp_path / "q.csv").read_text().splitlines() == [
        "x,y,class", "1.5,2.5,steatosis", "5.0,6.0,steatosis", "3.0,4.0,not_steatosis"]


# ------------------------------------------------------------------ splits, exact counts
@pytest.mark.parametrize("n, fractions, counts", [
    (10, (0.6, 0.2, 0.2), (6, 2, 2)),
    (5, (0.6, 0.2, 0.2), (3, 1, 1)),
    (3, (0.6, 0.2, 0.2), (1, 1, 1)),
    (2, (0.6, 0.2, 0.2), (1, 1, 0)),
    (2, (1, 0, 0), (2, 0, 0)),
    (1, (0.6, 0.2, 0.2), (1, 0, 0)),
    (4, (0.5, 0, 0.5), (2, 0, 2)),
    (3, (0, 0, 1), (1, 0, 2)),
    (12, (8, 0, 4), (8, 0, 4)),
    (20, (0.6, 0.2, 0.2), (12, 4, 4)),
    (10, (3, 1, 1), (6, 2, 2)),  # fractions need not add up to 1
    (3, (0.9, 0.05, 0.05), (1, 1, 1)),  # with 3+ patients a non-zero fraction gets at least one
    (2, (0.5, 0, 0.5), (2, 0, 0)),  # 2 patients: one may go to val, never to test
    (3, (0, 1, 1), (1, 1, 1)),  # train always keeps one
    (4, (0, 1, 1), (1, 2, 1)),  # ties give up a test patient first
    (3, (0, 2, 1), (1, 1, 1)),
    (4, (0, 3, 1), (1, 2, 1)),
])
def test_patient_split_counts(n, fractions, counts):
    s = patient_split([f"P{i:02d}" for i in range(n)] * 2, seed=0, fractions=fractions)  # repeats count once
    assert len(s) == n
    assert tuple(list(s.values()).count(k) for k in ("train", "val", "test")) == counts


def test_patient_split_refuses_bad_fractions():
    for bad in ((0, 0, 0), (1, -1, 1)):
        with pytest.raises(DatasetError, match="split fractions must be non-negative and not all zero"):
            patient_split(["A", "B"], fractions=bad)


def test_records_in_a_split_and_the_split_column(tmp_path):
    _make_dataset(tmp_path, "image,patient,split\nimages/a.png,P1,train\nimages/b.png,P2,val\n"
                            "images/c.png,P3,test\nimages/d.png,P1,train\n")
    ds = Dataset.open(tmp_path)
    assert [r.stem for r in ds.records_in("train")] == ["a", "d"]
    assert [r.stem for r in ds.records_in("test")] == ["c"]
    assert ds.patients == ["P1", "P2", "P3"] and len(ds) == 4
    # without the column: the seeded patient split, the same for every image of a patient
    _make_dataset(tmp_path / "n", "image,patient\n" + "".join(f"images/i{k}.png,P{k % 5}\n" for k in range(10)))
    ds = Dataset.open(tmp_path / "n")
    by_patient = patient_split(ds.patients, seed=3)
    assert ds.splits(seed=3) == {r.stem: by_patient[r.patient] for r in ds}
    assert ds.splits(seed=3, fractions=(1, 0, 0)) == {r.stem: "train" for r in ds}
    assert ds.columns == ["image", "patient", "split"]


def test_label_paths_prefer_what_exists(tmp_path):
    _make_dataset(tmp_path)
    ds = Dataset.open(tmp_path)
    rec = ds.record("a")
    assert ds.label_path(rec, "steatosis") == tmp_path / "labels" / "a.steatosis.png"
    assert not ds.has_label(rec, "steatosis") and ds.read_points(rec) is None
    tifffile.imwrite(tmp_path / "labels" / "a.fibrosis.tif", np.full((40, 50), 255, np.uint8))
    assert ds.label_path(rec, "fibrosis") == tmp_path / "labels" / "a.fibrosis.tif" and ds.has_label(rec, "fibrosis")
    assert ds.read_mask(rec, "fibrosis", (40, 50)).all()
    assert ds.label_path(rec, "points") == tmp_path / "labels" / "a.points.csv"
    with pytest.raises(DatasetError, match="unknown label kind 'nuclei'"):
        ds.label_path(rec, "nuclei")
    with pytest.raises(DatasetError, match=r"dataset.csv: no image named 'zz'"):
        ds.record("zz")
    assert ds.image_path(rec) == tmp_path / "images" / "a.png"


def test_create_refuses_an_existing_dataset_and_bad_patients(tmp_path):
    _make_dataset(tmp_path / "old")
    with pytest.raises(DatasetError, match="a dataset already exists here"):
        Dataset.create(tmp_path / "old")
    ds = Dataset.create(tmp_path / "new")
    assert (tmp_path / "new" / "images").is_dir() and (tmp_path / "new" / "labels").is_dir()
    assert (tmp_path / "new" / "dataset.csv").read_text().splitlines() == ["image,patient,split"]
    _write_png(tmp_path / "x.png", _rgb())
    with pytest.raises(DatasetError, match="x.png: a patient id is required"):
        ds.add_image(tmp_path / "x.png", "  ")
    with pytest.raises(DatasetError, match="split 'dev' must be one of train, val, test"):
        ds.add_image(tmp_path / "x.png", "P", split="dev")
    (tmp_path / "junk.png").write_bytes(b"no image")
    with pytest.raises(DatasetError, match="junk.png"):
        ds.add_image(tmp_path / "junk.png", "P")
    assert not (tmp_path / "new" / "images" / "junk.png").exists() and len(ds) == 0
    rec = ds.add_image(tmp_path / "x.png", " P7 ", split="test", save=False)
    assert (rec.patient, rec.split, rec.image) == ("P7", "test", "images/x.png")
    assert len(Dataset.open(tmp_path / "new")) == 0  # save=False wrote nothing yet
    ds.save()
    again = Dataset.open(tmp_path / "new")
    assert [(r.image, r.patient, r.split) for r in again] == [("images/x.png", "P7", "test")]
    # an image already inside the folder is recorded without copying
    ds2 = Dataset.create(tmp_path / "in_place")
    _write_png(tmp_path / "in_place" / "images" / "y.png", _rgb(seed=2))
    ds2.add_image(tmp_path / "in_place" / "images" / "y.png", "Q")
    assert np.array_equal(Dataset.open(tmp_path / "in_place").read_image(ds2.record("y")), _rgb(seed=2))


def test_dataset_folder_that_cannot_be_made_is_named(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match="file/sub: cannot create the dataset folder"):
        Dataset.create(tmp_path / "file" / "sub")


# ------------------------------------------------------------------ atomic writes, exact behaviour
def test_atomic_write_replaces_only_on_success_and_keeps_the_suffix(tmp_path):
    target = tmp_path / "m.png"
    with atomic_write(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png" and tmp.name.startswith(".m.")
        assert tmp != target and not target.exists()
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]
    # an empty result is refused and the previous file kept
    with pytest.raises(SteatosisError, match="writing .*m.png produced no data; the previous file was kept"):
        with atomic_write(target):
            pass
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["m.png"]
    # a writer that removes its temporary file is refused too
    with pytest.raises(SteatosisError, match="produced no data"):
        with atomic_write(target) as tmp:
            tmp.unlink()
    assert target.read_bytes() == b"new"
    # Ctrl-C in the middle keeps the previous file and leaves no temporary file
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["m.png"]


def test_atomic_write_names_a_missing_folder_and_os_errors(tmp_path, monkeypatch):
    import tempfile

    with pytest.raises(SteatosisError, match=r"cannot write .*nowhere/m.png: folder .*nowhere does not exist"):
        with atomic_write(tmp_path / "nowhere" / "m.png"):
            pass

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", full)
    with pytest.raises(SteatosisError, match=r"cannot write .*m.png: No space left on device"):
        with atomic_write(tmp_path / "m.png"):
            pass


def test_atomic_write_syncs_before_renaming(tmp_path, monkeypatch):
    import os

    order = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (order.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (order.append("replace"), real_replace(a, b))[1])
    with atomic_write(tmp_path / "t.txt") as tmp:
        tmp.write_text("data")
    assert order == ["fsync", "replace"]


def test_atomic_write_gives_the_mode_of_a_plain_open_or_of_the_file_it_replaces(tmp_path):
    import os

    from napari_steatosis.data.atomic import current_umask

    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        with atomic_write(tmp_path / "new.txt") as tmp:
            tmp.write_text("x")
        assert (tmp_path / "new.txt").stat().st_mode & 0o7777 == 0o640  # 0666 less the umask, not mkstemp's 0600
        os.umask(0o022)
        with atomic_write(tmp_path / "other.txt") as tmp:
            tmp.write_text("x")
        assert (tmp_path / "other.txt").stat().st_mode & 0o7777 == 0o644
        (tmp_path / "shared.txt").write_text("old")
        os.chmod(tmp_path / "shared.txt", 0o664)
        with atomic_write(tmp_path / "shared.txt") as tmp:
            tmp.write_text("new")
        assert (tmp_path / "shared.txt").stat().st_mode & 0o7777 == 0o664  # the replaced file's mode is kept
    finally:
        os.umask(old)
    assert current_umask() == old


def test_stale_temporaries_of_a_killed_writer_are_removed(tmp_path):
    from napari_steatosis.data.atomic import remove_stale_temporaries

    (tmp_path / ".m.abc123.tmp.png").write_bytes(b"half")  # what a SIGKILLed atomic_write leaves
    (tmp_path / ".n.x.tmp").write_bytes(b"half")
    (tmp_path / "m.png").write_bytes(b"kept")
    (tmp_path / ".hidden").write_bytes(b"kept")  # not ours
    (tmp_path / "a.tmp.png").write_bytes(b"kept")  # not hidden: a user's file
    (tmp_path / ".d.e.tmp.dir").mkdir()  # a folder is never removed
    assert remove_stale_temporaries(tmp_path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [".d.e.tmp.dir", ".hidden", "a.tmp.png", "m.png"]
    assert remove_stale_temporaries(tmp_path) == 0


def test_output_folder_is_made_or_refused_in_one_line(tmp_path, monkeypatch):
    import os

    from napari_steatosis.data.atomic import output_folder

    assert output_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b" and (tmp_path / "a" / "b").is_dir()
    assert output_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b"  # existing: fine
    (tmp_path / "f").write_text("x")
    with pytest.raises(SteatosisError, match=r"^--out .*f: a file of that name exists; choose a folder$"):
        output_folder(tmp_path / "f")
    with pytest.raises(SteatosisError, match=r"^--pred .*f/sub: cannot create the folder \(Not a directory\)$"):
        output_folder(tmp_path / "f" / "sub", "--pred")
    monkeypatch.setattr(os, "access", lambda p, mode: not mode & os.W_OK)  # a folder we may enter but not write
    with pytest.raises(SteatosisError, match=r"^--out .*a/b: folder is not writable$"):
        output_folder(tmp_path / "a" / "b")
    monkeypatch.undo()

    def refuse(self, *a, **k):
        raise PermissionError(13, "Permission denied")

    from pathlib import Path

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(SteatosisError, match=r"^--out .*c: cannot create the folder \(permission denied\)$"):
        output_folder(tmp_path / "c")


def test_default_split_seed_is_0(tmp_path):
    patients = [f"P{i}" for i in range(10)]
    assert patient_split(patients) == patient_split(patients, seed=0) != patient_split(patients, seed=1)
    _make_dataset(tmp_path, "image,patient\n" + "".join(f"images/i{k}.png,P{k}\n" for k in range(10)))
    ds = Dataset.open(tmp_path)
    assert ds.splits() == ds.splits(0) != ds.splits(1)
    assert [r.stem for r in ds.records_in("test")] == [r.stem for r in ds.records_in("test", seed=0)]
    assert {r.patient for r in ds.records_in("test")} == {p for p, s in patient_split(patients).items() if s == "test"}


def test_dataset_columns_extra_values_and_shape_checks(tmp_path):
    _make_dataset(tmp_path, "image,patient,scanner,split\nimages/a.png,P1,X,train\n")
    ds = Dataset.open(tmp_path)
    rec = ds.record("a")
    assert rec.extra == {"scanner": "X"} and rec.split == "train"  # image, patient, split are not extras
    assert ds.columns == ["image", "patient", "scanner", "split"]  # the header's order is kept
    ds.save()
    assert (tmp_path / "dataset.csv").read_text().splitlines()[0] == "image,patient,scanner,split"
    (tmp_path / "dataset.csv").write_text("image,patient,physician_steatosis_pct\nimages/a.png,P1,100.5\n")
    with pytest.raises(DatasetError, match="must be within 0..100, got 100.5"):
        Dataset.open(tmp_path)
    (tmp_path / "dataset.csv").write_text("image,patient\nimages/a.png,P1\n")
    ds = Dataset.open(tmp_path)
    rec = ds.record("a")
    with pytest.raises(DatasetError, match=r"steatosis.png.*10x10.*50x40|10x10"):
        ds.write_mask(rec, "steatosis", np.zeros((10, 10), bool), (40, 50))
    with pytest.raises(DatasetError, match="outside the 50x40 px image"):
        ds.write_points(rec, PointLabels([[45, 1]], []), (40, 50))
    (tmp_path / "labels" / "a.points.csv").write_text("x,y,class\n60,2,steatosis\n")
    with pytest.raises(DatasetError, match="a.points.csv: 1 steatosis point"):
        ds.read_points(rec, (40, 50))
    assert len(ds.read_points(rec)) == 1  # without a shape: read as written
    # an upper-case label suffix is not ours; the default kind of read_mask is steatosis
    _write_png(tmp_path / "labels" / "a.steatosis.png", np.full((40, 50), 255, np.uint8))
    assert ds.read_mask(rec).all() and ds.read_mask(rec, "fibrosis") is None


def test_mixed_split_column_names_the_count_of_empty_rows(tmp_path):
    _make_dataset(tmp_path, "image,patient,split\nimages/a.png,P1,train\nimages/b.png,P2,\nimages/c.png,P3,\n")
    with pytest.raises(DatasetError, match="filled for some rows but empty for 2$"):
        Dataset.open(tmp_path)


def test_creating_a_dataset_in_a_folder_made_by_hand(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _write_png(src / "a.png", _rgb())
    _write_png(src / "b.png", _rgb(seed=1))
    (tmp_path / "ds" / "images").mkdir(parents=True)  # a folder made by hand, without dataset.csv yet
    ds = Dataset.create(tmp_path / "ds", [(src / "a.png", "P1"), (src / "b.png", "P2")])
    assert [(r.stem, r.patient) for r in Dataset.open(tmp_path / "ds")] == [("a", "P1"), ("b", "P2")]
    assert len(ds) == 2 and (tmp_path / "ds" / "labels").is_dir()
