import numpy as np
import pytest

from napari_steatosis.data.synthetic import write_sample_dataset
from napari_steatosis.errors import SteatosisError
from napari_steatosis.fibrosis import (
    FibrosisThresholds, fibrosis_mask, fibrosis_percent, preset, threshold_hsv, tune_from_dataset,
    tune_thresholds,
)


def test_thresholds_validate_and_round_trip():
    t = preset("trichrome")
    assert FibrosisThresholds.from_dict(t.to_dict()) == t
    with pytest.raises(SteatosisError, match="hue_max"):
        FibrosisThresholds(hue_max=200)
    with pytest.raises(SteatosisError, match="sat_min.*above"):
        FibrosisThresholds(sat_min=200, sat_max=100)
    with pytest.raises(SteatosisError, match="unknown fibrosis setting"):
        FibrosisThresholds.from_dict({"hue": 3})
    with pytest.raises(SteatosisError, match="unknown stain preset"):
        preset("giemsa")


def test_blue_is_collagen_in_trichrome_and_red_in_sirius():
    rgb = np.zeros((10, 30, 3), np.uint8)
    rgb[:, :10] = (60, 80, 200)   # blue collagen (trichrome)
    rgb[:, 10:20] = (170, 50, 150)  # purple-red cytoplasm
    rgb[:, 20:] = (200, 30, 40)   # red (sirius)
    tri = fibrosis_mask(rgb, preset("trichrome").replace(normalize=False))
    sir = fibrosis_mask(rgb, preset("sirius-red").replace(normalize=False))
    assert tri[:, :10].all() and not tri[:, 10:].any()
    assert sir[:, 20:].all() and not sir[:, :20].any()  # window wraps around hue 0


def test_hue_window_wraps_around_red():
    hsv = np.zeros((1, 4, 3), np.uint8)
    hsv[0, :, 0] = [2, 90, 175, 150]
    hsv[0, :, 1:] = 200
    m = threshold_hsv(hsv, FibrosisThresholds(hue_min=170, hue_max=5, sat_min=10, val_min=10))
    assert m.tolist() == [[True, False, True, False]]


def test_tuning_recovers_thresholds_with_good_heldout_jaccard(tmp_path):
    ds = write_sample_dataset(tmp_path / "fib", patients=8, per_patient=2, size=(360, 480), seed=21)
    start = preset("trichrome").replace(hue_min=0, hue_max=179, sat_min=0, val_min=0)  # a useless start
    res = tune_from_dataset(ds, start)
    assert res.n_heldout >= 2
    assert res.heldout_jaccard >= 0.85, res.summary()
    assert res.auc > 0.9
    t = res.thresholds
    assert 90 <= t.hue_min < t.hue_max <= 145  # found blue, not everything
    # ROC curve is a curve: monotone, from (0, 0) to (1, 1)
    assert res.fpr[0] == 0 and res.tpr[-1] == 1
    assert np.all(np.diff(res.fpr) >= 0) and np.all(np.diff(res.tpr) >= 0)
    assert res.fpr[res.chosen_index] < 0.05


def test_tuning_refuses_unusable_labels():
    rgb = np.full((50, 50, 3), (150, 60, 140), np.uint8)
    with pytest.raises(SteatosisError, match="no tissue pixel"):
        tune_thresholds([rgb], [np.zeros((50, 50), bool)])
    with pytest.raises(SteatosisError, match="at least one image"):
        tune_thresholds([], [])
    with pytest.raises(SteatosisError, match="mask 0"):
        tune_thresholds([rgb], [np.zeros((10, 10), bool)])


def test_percent_is_share_of_tissue():
    rgb = np.full((100, 100, 3), (150, 60, 140), np.uint8)
    rgb[:, :50] = (242, 241, 244)  # glass: half the image
    rgb[:10, 50:] = (60, 80, 200)  # 10 % of the tissue is blue
    rgb[0, 0] = 0  # a dark pixel keeps the normalisation honest
    mask, pct, tissue = fibrosis_percent(rgb, preset("trichrome"))
    assert pct == pytest.approx(10.0, abs=0.5)


def test_fibrosis_needs_masks(small_dataset, tmp_path):
    from napari_steatosis.data import Dataset

    ds = write_sample_dataset(tmp_path / "he", patients=2, per_patient=1, size=(96, 96), stain="he")
    with pytest.raises(SteatosisError, match="no image has a fibrosis mask"):
        tune_from_dataset(Dataset.open(ds.root))
