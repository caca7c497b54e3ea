"""The second painter's truth is where its fat is (benchmarks/second_painter.py; no TensorFlow)."""

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import second_painter as sp  # noqa: E402


def clear_share(rgb, mask, erode=5):
    """Share of ``mask`` pixels (2 px in from its edge, past the blur) that are clear: as bright as
    the image's light (its 99th percentile) within 12 % and unsaturated."""
    light = np.percentile(rgb.min(2), 99)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((erode, erode), np.uint8)) > 0 if erode else mask
    px = rgb[inner].astype(int)
    return float(((px.min(1) > 0.88 * light) & (px.max(1) - px.min(1) < 35)).mean()), int(inner.sum())


def ring(mask, inner=2, outer=5):
    """Pixels ``inner``..``outer`` px outside ``mask``."""
    m = mask.astype(np.uint8)
    return (cv2.dilate(m, np.ones((2 * outer + 1,) * 2, np.uint8)) > 0) & ~(cv2.dilate(m, np.ones((2 * inner + 1,) * 2, np.uint8)) > 0)


@pytest.fixture(scope="module")
def paintings():
    rng = np.random.default_rng(8)
    out = []
    while len(out) < 2:  # two fields that hold fat
        p = sp.paint(rng, size=(320, 320))
        if (p.truth > 0).mean() > 0.02:
            out.append(p)
    return out


def test_truth_is_the_clear_droplets(paintings):
    for p in paintings:
        assert p.truth.dtype == np.uint8 and set(np.unique(p.truth)) <= {0, 255}
        fat = p.truth > 0
        share, n = clear_share(p.rgb, fat)
        assert n > 500 and share > 0.95
        # just outside a droplet is its rim, cytoplasm or a nucleus: mostly not clear
        others = cv2.dilate((p.lookalike | p.micro).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        assert clear_share(p.rgb, ring(fat) & ~others, 0)[0] < 0.05
        # the truth moved by 8 px: part of that ring falls into the droplets, the check notices
        for dy, dx in ((8, 0), (0, -8)):
            moved = np.roll(fat, (dy, dx), (0, 1))
            assert clear_share(p.rgb, ring(moved) & ~others, 0)[0] > 0.15


def test_white_look_alikes_are_painted_and_not_fat(paintings):
    for p in paintings:
        look = p.lookalike | p.micro
        assert not (look & (p.truth > 0)).any()
        share, n = clear_share(p.rgb, p.lookalike)
        assert n > 100 and share > 0.4  # sinusoids (some with plasma), lumina, tears: clear in the image too
        # tissue away from fat and look-alikes is stained, not clear
        away = ~cv2.dilate(((p.truth > 0) | look).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        assert clear_share(p.rgb, away)[0] < 0.05


def test_droplet_sizes_in_the_stated_range(paintings):
    for p in paintings:
        assert sp.UM_PER_PX[0] <= p.um_per_px <= sp.UM_PER_PX[1]
        for r, c, d_um, kind in p.droplets:
            lo, hi = sp.MACRO_UM if kind == "macro" else sp.SMALL_UM
            assert lo - 1e-6 <= d_um <= hi + 1e-6
            assert p.truth[int(np.clip(r, 0, 319)), int(np.clip(c, 0, 319))] == 255 or not (0 <= r < 320 and 0 <= c < 320)
        n, _, stats, _ = cv2.connectedComponentsWithStats((p.truth > 0).astype(np.uint8))
        inside = [s for s in stats[1:] if s[0] > 0 and s[1] > 0 and s[0] + s[2] < 320 and s[1] + s[3] < 320]
        d_um = [2 * np.sqrt(s[4] / np.pi) * p.um_per_px for s in inside]
        assert inside and min(d_um) >= 0.8 * sp.SMALL_UM[0]
        # microvesicular droplets are smaller than anything the truth counts
        m, _, mst, _ = cv2.connectedComponentsWithStats(p.micro.astype(np.uint8))
        if m > 1:
            assert np.median(2 * np.sqrt(mst[1:, 4] / np.pi) * p.um_per_px) < sp.SMALL_UM[0]


def test_written_set_follows_the_dataset_contract(tmp_path):
    from napari_steatosis.data.dataset import Dataset

    sp.write_set(tmp_path / "test", 1, seed=3, split="test", prefix="p", size=(256, 256))
    ds = Dataset.open(tmp_path / "test")
    (rec,) = ds.records
    assert rec.split == "test" and ds.has_label(rec, "steatosis")
    assert ds.read_mask(rec, "steatosis", ds.read_image(rec).shape[:2]).shape == (256, 256)
    assert (tmp_path / "test.painter.json").exists()
