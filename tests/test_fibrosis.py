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


def test_tuning_recovers_thresholds_with_good_heldout_jaccard(generated):
    ds = generated("fib", patients=8, per_patient=2, size=(360, 480), seed=21)
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
    with pytest.raises(SteatosisError, match="^fibrosis tuning needs at least one image with a fibrosis mask$"):
        tune_thresholds([], [])
    with pytest.raises(SteatosisError, match=r"^fibrosis mask 1 is \(20, 10\) but its image is \(60, 50\)$"):
        tune_thresholds([rgb, np.zeros((50, 60, 3), np.uint8)], [np.zeros((50, 50), bool), np.zeros((10, 20), bool)])
    with pytest.raises(SteatosisError, match="^2 images but 1 fibrosis mask$"):
        tune_thresholds([rgb, rgb], [np.zeros((50, 50), bool)])
    with pytest.raises(SteatosisError, match=r"^image 1: expected an \(H, W, 3\) uint8 RGB image"):
        tune_thresholds([rgb, rgb[:, :, 0]], [np.zeros((50, 50), bool)] * 2)
    with pytest.raises(SteatosisError, match="^the fibrosis masks cover all tissue; cannot tune on them$"):
        tune_thresholds([rgb], [np.ones((50, 50), bool)])


def test_percent_is_share_of_tissue():
    rgb = np.full((100, 100, 3), (150, 60, 140), np.uint8)
    rgb[:, :50] = (242, 241, 244)  # glass: half the image
    rgb[:10, 50:] = (60, 80, 200)  # 10 % of the tissue is blue
    rgb[0, 0] = 0  # a dark pixel keeps the normalisation honest
    mask, pct, tissue = fibrosis_percent(rgb, preset("trichrome"))
    assert pct == pytest.approx(10.0, abs=0.5)


def test_fibrosis_needs_masks(tmp_path):
    from napari_steatosis.data import Dataset

    ds = write_sample_dataset(tmp_path / "he", patients=2, per_patient=1, size=(96, 96), stain="he")
    with pytest.raises(SteatosisError, match="no image has a fibrosis mask"):
        tune_from_dataset(Dataset.open(ds.root))


def test_tuning_scores_held_out_test_patients_only(small_dataset, monkeypatch):
    """The held-out Jaccard is measured on the test patients' images, never on a tuning image."""
    import napari_steatosis.fibrosis as fib
    from napari_steatosis.measure import pooled_jaccard

    seen = {}
    real = fib.tune_thresholds

    def spy(images, masks, base=None, heldout=(), **kw):
        heldout = list(heldout)
        seen["tuning"] = [im.tobytes() for im in images]
        seen["heldout"] = [im.tobytes() for im, _ in heldout]
        return real(images, masks, base, heldout=heldout, **kw)

    monkeypatch.setattr(fib, "tune_thresholds", spy)
    res = fib.tune_from_dataset(small_dataset)
    stem_of = {small_dataset.read_image(r).tobytes(): r.stem for r in small_dataset}
    tuning, held = {stem_of[b] for b in seen["tuning"]}, {stem_of[b] for b in seen["heldout"]}
    splits = small_dataset.splits(0)
    labelled = {r.stem for r in small_dataset if small_dataset.has_label(r, "fibrosis")}
    assert held and held == {s for s in labelled if splits[s] == "test"}
    assert tuning == labelled - held and not tuning & held
    assert (res.n_train, res.n_heldout) == (len(tuning), len(held))
    # and the number is the pooled Jaccard of those images, inside the tissue
    pairs = []
    for r in small_dataset:
        if r.stem in held:
            rgb = small_dataset.read_image(r)
            pred, _, tissue = fibrosis_percent(rgb, res.thresholds)
            pairs.append((pred, small_dataset.read_mask(r, "fibrosis") & tissue))
    assert res.heldout_jaccard == pytest.approx(pooled_jaccard(pairs), abs=1e-12)


def test_tuning_without_test_patients_says_the_heldout_score_is_not_measured(small_dataset, tmp_path):
    import shutil

    from napari_steatosis.data import Dataset

    root = tmp_path / "nosplit"
    shutil.copytree(small_dataset.root, root)
    text = (root / "dataset.csv").read_text().splitlines()
    header = text[0].split(",")
    if "split" in header:
        i = header.index("split")
        rows = [",".join(v if k != i else "train" for k, v in enumerate(line.split(","))) for line in text[1:]]
        (root / "dataset.csv").write_text("\n".join([text[0]] + rows) + "\n")
    else:
        (root / "dataset.csv").write_text("\n".join([text[0] + ",split"] + [l + ",train" for l in text[1:]]) + "\n")
    res = tune_from_dataset(Dataset.open(root))
    assert res.heldout_jaccard is None and res.n_heldout == 0 and res.n_train == len(small_dataset)
    assert res.notes == ["no labelled test image: the held-out Jaccard is not measured"]
    # every labelled image a test image: tuned on them, and said so
    (root / "dataset.csv").write_text((root / "dataset.csv").read_text().replace(",train,", ",test,"))
    res = tune_from_dataset(Dataset.open(root))
    assert res.n_train == len(small_dataset) and res.n_heldout == 0 and res.heldout_jaccard is None
    assert res.notes == ["no labelled test image: the held-out Jaccard is not measured"]
    # the base settings given are the ones tuned from (here: no normalisation)
    res = tune_from_dataset(Dataset.open(root), preset("trichrome").replace(normalize=False))
    assert res.thresholds.normalize is False


def test_threshold_limits_are_inclusive():
    t = FibrosisThresholds(hue_min=100, hue_max=120, sat_min=50, sat_max=200, val_min=60, val_max=220)
    hsv = np.array([[[100, 50, 60], [120, 200, 220], [99, 100, 100], [121, 100, 100], [110, 49, 100],
                     [110, 201, 100], [110, 100, 59], [110, 100, 221]]], np.uint8)
    assert threshold_hsv(hsv, t).tolist() == [[True, True, False, False, False, False, False, False]]
    wrap = t.replace(hue_min=170, hue_max=3)
    hsv[0, :, 0] = [170, 179, 0, 3, 169, 4, 90, 175]
    hsv[0, :, 1:] = 100
    assert threshold_hsv(hsv, wrap).tolist() == [[True, True, True, True, False, False, False, True]]


def test_tuning_separates_known_colours_exactly():
    # collagen: hue 110, saturated; cytoplasm: hue 160; nuclei: hue 110 but dark (value 40)
    rng = np.random.default_rng(0)
    kinds = rng.integers(0, 3, (60, 80))
    hsv = np.zeros((60, 80, 3), np.uint8)
    hsv[kinds == 0] = (110, 200, 200)
    hsv[kinds == 1] = (160, 120, 180)
    hsv[kinds == 2] = (110, 200, 40)
    import cv2

    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    truth = kinds == 0
    base = preset("trichrome").replace(normalize=False)
    res = tune_thresholds([rgb], [truth], base, heldout=[(rgb, truth)])
    t = res.thresholds
    assert res.train_jaccard == 1.0 and res.heldout_jaccard == 1.0 and res.auc == pytest.approx(1.0)
    assert t.hue_min <= 110 <= t.hue_max and not t.hue_min <= 160 <= t.hue_max
    assert 40 < t.val_min <= 200 and t.sat_min <= 200 and t.normalize is False
    assert np.array_equal(fibrosis_mask(rgb, t), truth)
    assert res.n_train == 1 and res.n_heldout == 1 and res.criterion.startswith("maximum pooled Jaccard")
    assert res.fpr[res.chosen_index] == 0 and res.tpr[res.chosen_index] == 1
    s = res.summary()
    assert s["heldout_jaccard"] == 1.0 and s["thresholds"] == t.to_dict() and s["operating_point"]["tpr"] == 1.0


def test_presets_are_copies_and_threshold_types_are_checked():
    p = preset("trichrome")
    p.hue_min = 0
    assert preset("trichrome").hue_min == 100
    assert preset("sirius-red").hue_min > preset("sirius-red").hue_max  # wraps around red
    for bad in (True, 1.5, -1, 256):
        with pytest.raises(SteatosisError, match="sat_min must be an integer within 0..255"):
            FibrosisThresholds(sat_min=bad)
    assert FibrosisThresholds(hue_min=0, hue_max=179, sat_min=0, sat_max=255, val_min=255, val_max=255).val_min == 255
    with pytest.raises(SteatosisError, match=r"val_min \(200\) is above val_max \(100\)"):
        FibrosisThresholds(val_min=200, val_max=100)
    assert isinstance(FibrosisThresholds(hue_min=np.int64(5)).hue_min, int)


def test_tuning_summary_is_what_the_tuning_file_holds():
    from napari_steatosis.fibrosis import TuningResult

    t = preset("trichrome")
    res = TuningResult(t, np.array([0, 0.123456, 1]), np.array([0, 0.654321, 1]), np.array([256, 60, -1]),
                       0.987654, 1, "maximum pooled Jaccard on the tuning images", 0.876543, 0.765432, n_train=3,
                       n_heldout=2, youden_sat=44, notes=["a note"])
    assert res.summary() == dict(
        thresholds=t.to_dict(), auc=0.9877, criterion="maximum pooled Jaccard on the tuning images",
        operating_point=dict(fpr=0.1235, tpr=0.6543, sat_min=60), youden_sat_min=44, train_jaccard=0.8765,
        heldout_jaccard=0.7654, n_train=3, n_heldout=2, notes=["a note"])
    res.heldout_jaccard = None
    assert res.summary()["heldout_jaccard"] is None


def test_fibrosis_mask_defaults_normalisation_and_tissue():
    rgb = np.full((60, 80, 3), (120, 90, 110), np.uint8)  # a dull, low-contrast slide
    rgb[:, :20] = (100, 104, 122)  # collagen, saturated enough only once the contrast is stretched
    rgb[0], rgb[1] = (70, 70, 70), (150, 150, 150)  # the darkest and brightest greys of the slide
    stretched = fibrosis_mask(rgb)
    assert np.array_equal(stretched, fibrosis_mask(rgb, preset("trichrome")))  # the default preset
    assert stretched[5:, :20].all() and not stretched[:, 25:].any()
    assert not fibrosis_mask(rgb, preset("trichrome").replace(normalize=False))[5:, :20].any()
    tissue = np.zeros((60, 80), bool)
    tissue[30:] = True
    assert np.array_equal(fibrosis_mask(rgb, None, tissue), stretched & tissue)
    # fibrosis_percent counts tissue only: a blue speck on the glass is not collagen of the liver
    slide = np.full((100, 100, 3), (150, 60, 140), np.uint8)
    slide[:, 50:] = (242, 241, 244)
    slide[:10, :50] = (60, 80, 200)
    slide[50, 80] = (60, 80, 200)  # on the glass
    slide[0, 0] = 0
    mask, pct, tissue = fibrosis_percent(slide, preset("trichrome"))
    assert not mask[50, 80] and not (mask & ~tissue).any() and pct == pytest.approx(10.0, abs=0.5)


def test_single_hue_window_and_unknown_settings_message():
    hsv = np.array([[[110, 200, 200], [111, 200, 200], [109, 200, 200]]], np.uint8)
    t = FibrosisThresholds(hue_min=110, hue_max=110, sat_min=10, val_min=10)
    assert threshold_hsv(hsv, t).tolist() == [[True, False, False]]  # one hue, not a wrap-around
    with pytest.raises(SteatosisError, match=r"unknown fibrosis setting\(s\): colour, hue$"):
        FibrosisThresholds.from_dict({"hue": 3, "colour": 1, "hue_min": 5})


def _jaccard_of(rgb_list, truths, t):
    from napari_steatosis.measure import pooled_jaccard
    from napari_steatosis.preprocess import tissue_mask

    pairs = []
    for rgb, truth in zip(rgb_list, truths):
        tissue = tissue_mask(rgb)
        pairs.append((fibrosis_mask(rgb, t, tissue), truth & tissue))
    return pooled_jaccard(pairs)


def test_reported_training_jaccard_is_that_of_the_chosen_thresholds(small_dataset):
    """The ROC works on binned histograms; the number it reports must still be the Jaccard that the
    chosen thresholds give on the tuning images, pixel for pixel (normalisation included)."""
    recs = [r for r in small_dataset if small_dataset.has_label(r, "fibrosis")][:4]
    images = [small_dataset.read_image(r) for r in recs]
    truths = [small_dataset.read_mask(r, "fibrosis") for r in recs]
    res = tune_thresholds(images, truths)
    assert res.thresholds.normalize is True
    assert res.train_jaccard == pytest.approx(_jaccard_of(images, truths, res.thresholds), abs=1e-9)
    assert 0.5 < res.train_jaccard < 1


def test_the_narrowest_hue_window_is_8_hue_units():
    import cv2

    hue = np.tile(np.arange(100, 120, dtype=np.uint8), (20, 3))  # hues 100..119, 60 columns
    hsv = np.dstack([hue, np.full_like(hue, 200), np.full_like(hue, 200)])
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    back = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[:, :, 0]
    truth = (back >= 106) & (back <= 113)  # collagen: exactly 8 hues, the others are not
    res = tune_thresholds([rgb], [truth], preset("trichrome").replace(normalize=False))
    assert (res.thresholds.hue_min, res.thresholds.hue_max) == (106, 113) and res.train_jaccard == 1.0


def test_roc_curve_and_youden_point_are_those_of_the_chosen_window(small_dataset):
    """Each ROC point is (FPR, TPR) of the chosen hue window and value floor at one saturation
    threshold, counted on the tuning pixels; Youden's point maximises TPR - FPR among them."""
    from napari_steatosis.fibrosis import to_hsv
    from napari_steatosis.preprocess import tissue_mask

    recs = [r for r in small_dataset if small_dataset.has_label(r, "fibrosis")][:3]
    images = [small_dataset.read_image(r) for r in recs]
    truths = [small_dataset.read_mask(r, "fibrosis") for r in recs]
    res = tune_thresholds(images, truths)
    t = res.thresholds
    sat, pos, neg = [], [], []
    for rgb, truth in zip(images, truths):
        hsv = to_hsv(rgb).reshape(-1, 3).astype(int)
        tissue = tissue_mask(rgb).ravel()
        h, s, v = hsv[:, 0], hsv[:, 1], hsv[:, 2]
        inside = (h >= t.hue_min) & (h <= t.hue_max) if t.hue_min <= t.hue_max else (h >= t.hue_min) | (h <= t.hue_max)
        scored = inside & (v >= t.val_min)
        sat.append(np.where(scored, s, -1)[tissue])
        pos.append(truth.ravel()[tissue])
    sat, pos = np.concatenate(sat), np.concatenate(pos)
    P, N = pos.sum(), (~pos).sum()
    for k in range(1, len(res.sat_levels) - 1):  # the inner points; the ends are (0, 0) and (1, 1)
        level = res.sat_levels[k]
        assert res.tpr[k] == pytest.approx(((sat >= level) & pos).sum() / P)
        assert res.fpr[k] == pytest.approx(((sat >= level) & ~pos).sum() / N)
    assert (res.fpr[0], res.tpr[0], res.fpr[-1], res.tpr[-1]) == (0, 0, 1, 1)
    assert res.sat_levels[0] == 256 and res.sat_levels[-1] == -1
    assert res.sat_levels[res.chosen_index] == t.sat_min
    j = {int(res.sat_levels[k]): res.tpr[k] - res.fpr[k] for k in range(1, len(res.sat_levels) - 1)}
    assert j[res.youden_sat] == max(j.values())
    assert res.summary()["youden_sat_min"] == res.youden_sat
    # the area under that curve, by trapezoids
    assert res.auc == pytest.approx(float(np.trapezoid(res.tpr, res.fpr)) if hasattr(np, "trapezoid")
                                    else float(np.trapz(res.tpr, res.fpr)))
