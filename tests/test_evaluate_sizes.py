"""`steatosis evaluate`: recall by true vacuole diameter (px, or µm with a pixel size) and the
false share of predicted pixels, as text, JSON and a plot."""

import json

import cv2
import numpy as np
import pytest

from napari_steatosis.cli import main
from napari_steatosis.data import write_mask
from napari_steatosis.data.dataset import Dataset
from napari_steatosis.data.images import write_image


@pytest.fixture
def disks(tmp_path):
    """One image: a small vacuole (diameter ~8 px), a large one (~60 px); the prediction finds
    the small one whole, the left half of the large one, and 100 false pixels."""
    rgb = np.full((160, 200, 3), 180, np.uint8)
    write_image(tmp_path / "f.png", rgb)
    truth = np.zeros((160, 200), np.uint8)
    cv2.circle(truth, (20, 20), 4, 1, -1)
    cv2.circle(truth, (120, 90), 30, 1, -1)
    pred = truth.copy()
    pred[:, 120:] = 0
    pred[150:160, 0:10] = 1  # false
    ds = Dataset.create(tmp_path / "ds", [(tmp_path / "f.png", "P1")])
    ds.write_mask(ds.records[0], "steatosis", truth > 0)
    (tmp_path / "pred").mkdir()
    write_mask(tmp_path / "pred" / "f.steatosis.png", pred > 0)
    return ds, truth > 0, pred > 0, tmp_path


def test_recall_by_diameter_and_false_share(disks, capsys):
    ds, truth, pred, tmp = disks
    assert main(["evaluate", str(ds.root), "--pred", str(tmp / "pred"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    tp = np.sum(pred & truth)
    assert res["false_share"] == pytest.approx(100 / (tp + 100))
    bins = res["recall_by_diameter"]["bins"]
    assert res["recall_by_diameter"]["unit"] == "px"
    assert [b["range"] for b in bins] == ["<10", "10-20", "20-40", "40-80", ">=80"]
    small, large = np.sum(truth[:40, :40]), np.sum(truth[40:, :])
    assert bins[0]["recall"] == 1.0 and bins[3]["recall"] == pytest.approx(np.sum(pred[40:] & truth[40:]) / large,
                                                                            abs=1e-4)
    assert bins[1]["recall"] is None and bins[1]["fat_share"] == 0
    assert bins[0]["fat_share"] == pytest.approx(small / (small + large), abs=1e-4)
    # the text table and the plot
    assert main(["evaluate", str(ds.root), "--pred", str(tmp / "pred"), "--out", str(tmp / "ev")]) == 0
    out = capsys.readouterr().out
    assert "recall by true vacuole diameter (px)" in out and "false share" in out
    assert (tmp / "ev" / "recall_by_diameter.png").stat().st_size > 1000


def test_diameter_bins_in_micrometres_with_a_pixel_size(disks, capsys):
    ds, truth, pred, tmp = disks
    # 0.25 µm/px: the large vacuole is ~15 µm (bin 10-20), the small one ~2 µm (<5)
    assert main(["evaluate", str(ds.root), "--pred", str(tmp / "pred"), "--json", "--pixel-size", "0.25"]) == 0
    rbd = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["recall_by_diameter"]
    assert rbd["unit"] == "µm" and [b["range"] for b in rbd["bins"]][2] == "10-20"
    assert rbd["bins"][0]["recall"] == 1.0 and 0.4 < rbd["bins"][2]["recall"] < 0.6
    # the same from the dataset's pixel_size_um column
    rec = ds.records[0]
    rec.extra["pixel_size_um"] = "0.25"
    ds.columns.append("pixel_size_um")
    ds.save()
    assert main(["evaluate", str(ds.root), "--pred", str(tmp / "pred"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["recall_by_diameter"] == rbd
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", str(ds.root), "--pred", str(tmp / "pred"), "--pixel-size", "-1"])
    assert exit_.value.code == 2 and "--pixel-size: must be a number above 0" in capsys.readouterr().err
