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
    (tmp_path / "images").mkdir()
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


def test_dataset_splits_never_split_a_patient(small_dataset):
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
