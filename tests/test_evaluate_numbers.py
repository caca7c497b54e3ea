"""`evaluate`'s numbers worked out by hand on three small images with known masks: pooled Jaccard and
Dice, per-image Dice and its spread, steatosis-% and vacuole-count errors, the false share, R²
against the physician, the per-image and per-patient tables and the files written."""

import csv

import cv2
import numpy as np
import pytest

from napari_steatosis.data import write_mask
from napari_steatosis.data.dataset import Dataset
from napari_steatosis.data.images import write_image
from napari_steatosis.errors import SteatosisError
from napari_steatosis.evaluate import default_split, evaluate, write_evaluation
from napari_steatosis.preprocess import tissue_mask


def _masks():
    """(truth, prediction) of three 100 x 120 fields."""
    t1, p1 = np.zeros((100, 120), bool), np.zeros((100, 120), bool)
    t1[10:30, 10:30] = True  # a vacuole the prediction finds shifted by 4 px
    p1[14:34, 10:30] = True
    t1[60:68, 60:68] = True  # one it misses (8 x 8: equivalent diameter 9.0 px, the <10 bin)
    p1[80:85, 100:105] = True  # and a false one
    t2, p2 = np.zeros((100, 120), bool), np.zeros((100, 120), bool)
    t2[40:70, 40:70] = True  # found exactly
    p2[40:70, 40:70] = True
    t3, p3 = np.zeros((100, 120), bool), np.zeros((100, 120), bool)
    p3[5:9, 5:9] = True  # nothing to find, 16 false pixels
    return [(t1, p1), (t2, p2), (t3, p3)]


@pytest.fixture
def three(tmp_path):
    pairs = _masks()
    files = []
    for i, (t, _) in enumerate(pairs):
        rgb = np.full((100, 120, 3), (200, 120, 170), np.uint8)  # tissue
        rgb[t] = 245  # white vacuoles
        rgb[:, 110:] = 250  # a strip of glass: not tissue
        write_image(tmp_path / f"f{i}.png", rgb)
        files.append((tmp_path / f"f{i}.png", f"P{i + 1}"))
    ds = Dataset.create(tmp_path / "ds", files)
    for rec, (t, _), score in zip(ds.records, pairs, (20.0, 35.0, 2.0)):
        ds.write_mask(rec, "steatosis", t)
        rec.extra["physician_steatosis_pct"] = str(score)
    ds.columns.append("physician_steatosis_pct")
    ds.save()
    pred = tmp_path / "pred"
    pred.mkdir()
    for (_, p), suffix, i in zip(pairs, (".png", ".tif", ".tiff"), range(3)):  # each suffix a prediction may have
        write_mask(pred / f"f{i}.steatosis{suffix}", p)
    return Dataset.open(tmp_path / "ds"), pairs, pred


def test_every_number_worked_out_by_hand(three, tmp_path):
    ds, pairs, pred = three
    seen = []
    res = evaluate(ds, pred, progress=lambda k, n: seen.append((k, n)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    tissues = [tissue_mask(ds.read_image(r)) for r in ds.records]
    assert all(t[:, :110].all() and not t[:, 112:].any() for t in tissues)  # the glass strip is no tissue
    tp = sum(int((p & t).sum()) for t, p in pairs)
    fp = sum(int((p & ~t).sum()) for t, p in pairs)
    fn = sum(int((~p & t).sum()) for t, p in pairs)
    assert (tp, fp, fn) == (320 + 900, 80 + 25 + 16, 80 + 64)
    assert res["jaccard"] == pytest.approx(tp / (tp + fp + fn))
    assert res["dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert res["false_share"] == pytest.approx(fp / (tp + fp))
    dices = [2 * 320 / (2 * 320 + 105 + 144), 1.0, 0.0]
    assert [r["dice"] for r in res["per_image"]] == [round(d, 4) for d in dices]
    assert [r["jaccard"] for r in res["per_image"]] == [round(320 / (320 + 105 + 144), 4), 1.0, 0.0]
    assert res["dice_per_image_mean"] == pytest.approx(np.mean([round(d, 4) for d in dices]))
    assert res["dice_per_image_sd"] == pytest.approx(np.std([round(d, 4) for d in dices], ddof=1))
    tissue_px = 100 * 110
    true_pct = [100 * t.sum() / tissue_px for t, _ in pairs]
    pred_pct = [100 * p.sum() / tissue_px for _, p in pairs]
    assert [r["true_pct"] for r in res["per_image"]] == pytest.approx(true_pct, abs=1e-4)
    assert [r["pred_pct"] for r in res["per_image"]] == pytest.approx(pred_pct, abs=1e-4)
    assert [r["pct_error"] for r in res["per_image"]] == pytest.approx(np.subtract(pred_pct, true_pct), abs=1e-4)
    assert res["pct_abs_error"] == pytest.approx(np.mean(np.abs(np.subtract(pred_pct, true_pct))), abs=1e-4)
    assert [(r["pred_count"], r["true_count"]) for r in res["per_image"]] == [(2, 2), (1, 1), (1, 0)]
    assert res["count_abs_error"] == pytest.approx(1 / 3)
    assert res["r2_patients"] == 3
    assert res["r2"] == pytest.approx(np.corrcoef(pred_pct, [20.0, 35.0, 2.0])[0, 1] ** 2, rel=1e-5)
    assert [p["physician_steatosis_pct"] for p in res["per_patient"]] == [20.0, 35.0, 2.0]
    assert (res["n_images"], res["n_patients"], res["patients"]) == (3, 3, ["P1", "P2", "P3"])
    # recall by diameter: the 8 x 8 vacuole (9.0 px) missed in <10; the 20 px one 3/4 found, the 30 px whole
    bins = {b["range"]: b for b in res["recall_by_diameter"]["bins"]}
    assert bins["<10"]["recall"] == 0.0 and bins["<10"]["fat_share"] == round(64 / 1364, 4)
    assert bins["20-40"]["recall"] == round((320 + 900) / 1300, 4)
    written = write_evaluation(res, tmp_path / "ev")
    assert [p.name for p in written] == ["evaluation_per_image.csv", "evaluation_per_patient.csv",
                                         "per_image_error.png", "recall_by_diameter.png", "patients_vs_physician.png"]
    assert all(p.stat().st_size > 100 for p in written)
    rows = list(csv.DictReader(open(written[0])))
    assert [float(r["jaccard"]) for r in rows] == [r["jaccard"] for r in res["per_image"]]
    assert [r["patient"] for r in csv.DictReader(open(written[1]))] == ["P1", "P2", "P3"]


def test_no_scatter_without_three_physician_scores_and_empty_pairs(three, tmp_path):
    ds, pairs, pred = three
    ds.records[2].extra["physician_steatosis_pct"] = ""
    ds.save()
    res = evaluate(Dataset.open(ds.root), pred)
    assert res["r2"] is None and res["r2_patients"] == 2
    assert "patients_vs_physician.png" not in [p.name for p in write_evaluation(res, tmp_path / "ev")]
    # nothing true and nothing predicted: perfect by convention, and no spread
    empty = tmp_path / "empty"
    empty.mkdir()
    for r in ds.records:
        ds.write_mask(r, "steatosis", np.zeros((100, 120), bool))
        write_mask(empty / f"{r.stem}.steatosis.png", np.zeros((100, 120), bool))
    res = evaluate(Dataset.open(ds.root), empty)
    assert (res["jaccard"], res["dice"], res["false_share"]) == (1.0, 1.0, 0.0)
    assert [r["jaccard"] for r in res["per_image"]] == [1.0, 1.0, 1.0] and res["dice_per_image_sd"] == 0.0


def test_a_split_limits_images_and_physician_scores(three):
    ds, pairs, pred = three
    assert default_split(ds) == "all"  # no split column
    test = ds.records_in("test", 0)
    res = evaluate(ds, pred, split="test")
    assert res["patients"] == sorted({r.patient for r in test}) and res["n_images"] == len(test)
    assert res["r2_patients"] == len({r.patient for r in test})
    assert res["split"] == "test"
    other = ds.records_in("test", 5)
    if {r.patient for r in other} != {r.patient for r in test}:
        assert evaluate(ds, pred, split="test", seed=5)["patients"] == sorted({r.patient for r in other})


def test_the_default_split_is_test_only_when_the_split_column_names_test_patients(three):
    ds, _, _ = three
    for splits, want in [(("train", "val", "test"), "test"), (("train", "val", "val"), "all"),
                         (("train", "", "test"), "all")]:
        for r, s in zip(ds.records, splits):
            r.split = s
        assert default_split(ds) == want, splits


def _dataset(tmp_path, items):
    """A dataset of 60 x 80 tissue fields from ``(patient, truth or None, prediction or None, pixel size)``."""
    files = []
    for i, (patient, *_rest) in enumerate(items):
        write_image(tmp_path / f"g{i}.png", np.full((60, 80, 3), (200, 120, 170), np.uint8))
        files.append((tmp_path / f"g{i}.png", patient))
    ds = Dataset.create(tmp_path / "ds", files)
    pred = tmp_path / "pred"
    pred.mkdir()
    for rec, (_, truth, p, um) in zip(ds.records, items):
        if truth is not None:
            ds.write_mask(rec, "steatosis", truth)
        if p is not None:
            write_mask(pred / f"{rec.stem}.steatosis.png", p)
        rec.extra["pixel_size_um"] = um
    ds.columns.append("pixel_size_um")
    ds.save()
    return Dataset.open(ds.root), pred


def _box(r0, r1, c0, c1, shape=(60, 80)):
    m = np.zeros(shape, bool)
    m[r0:r1, c0:c1] = True
    return m


def test_images_without_a_prediction_overlaps_that_cancel_and_two_images(tmp_path):
    none = np.zeros((60, 80), bool)
    ds, pred = _dataset(tmp_path, [
        ("P0", None, None, ""),  # no mask, no prediction: skipped (first, so the rest must still be scored)
        ("P1", _box(10, 20, 10, 20), _box(10, 20, 30, 40), "2.0"),  # 100 missed, 100 false: Jaccard 0, not 1
        ("P2", _box(10, 20, 10, 20), _box(10, 20, 10, 30), ""),  # 100 found + 100 false: 0.5, false share 1/2
    ])
    res = evaluate(ds, pred)
    assert [r["image"] for r in res["per_image"]] == ["images/g1.png", "images/g2.png"]
    assert [r["jaccard"] for r in res["per_image"]] == [0.0, 0.5]
    assert res["jaccard"] == pytest.approx(100 / 400) and res["false_share"] == pytest.approx(200 / 300)
    assert res["dice_per_image_sd"] == pytest.approx(np.std([0.0, round(2 / 3, 4)], ddof=1))
    # one image has a pixel size, the other not: diameters in px for both, not µm for one
    assert res["recall_by_diameter"]["unit"] == "px"
    assert [b["fat_share"] for b in res["recall_by_diameter"]["bins"]] == [0.0, 1.0, 0.0, 0.0, 0.0]
    for r in res["per_image"]:  # the table's numbers as rounded once, exactly
        assert r["true_pct"] == round(100 * 100 / 4800, 4)
        assert r["pct_error"] == round(r["pred_pct"] - 100 * 100 / 4800, 4)
    (pred / "g1.steatosis.png").unlink()  # a labelled image without its prediction: named, not skipped
    with pytest.raises(SteatosisError, match=r"g1.steatosis.png: no prediction for labelled image images/g1.png"):
        evaluate(ds, pred)


def test_what_cannot_be_scored_is_named(tmp_path):
    ds, pred = _dataset(tmp_path, [("P1", _box(10, 20, 10, 20), _box(10, 20, 10, 30), "")])
    res = evaluate(ds, pred)
    assert res["dice_per_image_sd"] == 0.0 and res["false_share"] == 0.5  # a single image; as much false as true
    with pytest.raises(SteatosisError, match=r"--pred .*nowhere: folder not found"):
        evaluate(ds, tmp_path / "nowhere")
    with pytest.raises(SteatosisError, match=r"no patient is in the test split"):
        evaluate(ds, pred, split="test")
    write_mask(pred / "g0.steatosis.png", np.zeros((30, 80), bool))  # another size than its image
    with pytest.raises(SteatosisError, match=r"g0.steatosis.png: mask is 80x30 px but its image is 80x60 px"):
        evaluate(ds, pred)
    write_mask(pred / "g0.steatosis.png", np.zeros((60, 80), bool))
    write_mask(ds.label_path(ds.records[0], "steatosis"), np.zeros((60, 40), bool))  # a mask put there by hand
    with pytest.raises(SteatosisError, match=r"g0.steatosis.png: mask is 40x60 px but its image is 80x60 px"):
        evaluate(ds, pred)
    ds.label_path(ds.records[0], "steatosis").unlink()
    with pytest.raises(SteatosisError, match=r"no image has both a steatosis mask and a prediction in .*pred"):
        evaluate(ds, pred)
