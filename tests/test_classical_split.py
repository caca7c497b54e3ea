"""Splitting white regions into round cores and what hangs off them (classical/candidates.py: split),
the features that tell a vacuole from a lumen or a channel (classical/features.py, format 3), and a
classifier trained on points through the CLI that keeps a vacuole and drops the sinusoid attached to it.

As in test_classical_candidates.py, a black and a pure white block make the percentile normalisation
the identity, so the drawn colours are what the pipeline sees.
"""

import cv2
import numpy as np
import pytest

from napari_steatosis.classical.candidates import CandidateParams, find_candidates
from napari_steatosis.classical.features import FEATURES, region_features

PINK = (160, 70, 150)
WHITE = (250, 250, 250)
RED = (120, 20, 30)  # red cells: more saturated and darker than the pink cytoplasm


def _canvas(shape=(120, 160)):
    rgb = np.full(shape + (3,), PINK, np.uint8)
    rgb[0:4, 0:5] = 0
    rgb[-4:, -5:] = 255
    return rgb


def _hsv(colour):
    return cv2.cvtColor(np.uint8([[colour]]), cv2.COLOR_RGB2HSV)[0, 0].astype(float)


def _vacuole_with_channel(rgb, centre=(50, 60), r=20, channel_end=(140, 25), width=4):
    cv2.circle(rgb, centre, r, WHITE, -1)
    cv2.line(rgb, (centre[0] + r - 2, centre[1]), channel_end, WHITE, width)
    return rgb


def _candidates(rgb, split=50, **kw):
    return find_candidates(rgb, CandidateParams(**{"local_level": 0, "split": split, **kw}))


def test_a_vacuole_with_an_attached_channel_becomes_the_vacuole_and_the_channel():
    rgb = _vacuole_with_channel(_canvas())
    whole = _candidates(rgb, split=0)
    c = _candidates(rgb)
    centre, far_end = (60, 50), (27, 137)  # (row, col)
    assert whole.labels[centre] == whole.labels[far_end]  # one white region
    assert c.labels[centre] and c.labels[far_end] and c.labels[centre] != c.labels[far_end]
    inner, outer = np.zeros(rgb.shape[:2], np.uint8), np.zeros(rgb.shape[:2], np.uint8)
    cv2.circle(inner, (50, 60), 18, 1, -1)  # the vacuole, less its eroded rim
    cv2.circle(outer, (50, 60), 20, 1, -1)
    core = c.labels == c.labels[centre]
    assert core[inner > 0].mean() > 0.99  # the whole vacuole is one piece
    assert (core & (outer == 0)).sum() < 0.02 * core.sum()  # that holds (almost) nothing of the channel
    # both pieces know the white region they were cut from
    np.testing.assert_array_equal(c.regions, whole.labels)
    assert c.parent[c.labels[centre] - 1] == c.parent[c.labels[far_end] - 1] == whole.labels[centre]
    assert whole.parent is None and whole.region_labels()[1].tolist() == list(range(1, whole.n + 1))


@pytest.mark.parametrize("draw", [
    lambda m: cv2.circle(m, (60, 60), 25, WHITE, -1),
    lambda m: cv2.ellipse(m, (80, 60), (40, 20), 30, 0, 360, WHITE, -1),  # 2:1, tilted
    lambda m: cv2.line(m, (20, 20), (140, 90), WHITE, 4),  # a channel alone: too thin to split
])
def test_round_vacuoles_ellipses_and_thin_channels_stay_whole(draw):
    rgb = _canvas()
    draw(rgb)
    c = _candidates(rgb)
    assert c.n == 2  # the shape and the white block in the corner
    assert c.parent.tolist() == [1, 2]
    np.testing.assert_array_equal(c.labels, c.regions)


def test_two_vacuoles_joined_by_a_neck_are_two_and_a_small_bump_stays_with_its_vacuole():
    rgb = _canvas()
    cv2.circle(rgb, (45, 60), 22, WHITE, -1)
    cv2.circle(rgb, (100, 60), 22, WHITE, -1)  # overlapping: a neck 2 x 14 px wide
    rgb[60:63, 22:25] = WHITE  # a 3 x 3 bump on the left vacuole's edge: below min_area once cut off
    c = _candidates(rgb, min_area=10)
    left, right = c.labels[60, 45], c.labels[60, 100]
    assert left and right and left != right and c.n == 3
    assert c.labels[61, 23] == left


def test_new_models_split_and_the_fixed_rule_does_not():
    from napari_steatosis.classical.candidates import TRAINING_DEFAULT

    assert CandidateParams().split == 0  # the rule the U-Net completion and models saved before format 3 use
    assert CandidateParams(**TRAINING_DEFAULT).split == 50


def _features(rgb, split=0, min_area=1):
    c = _candidates(rgb, split=split, erosion=0, min_area=min_area)
    X, _ = region_features(c)
    return c, [dict(zip(FEATURES, row)) for row in X]


def test_a_round_vacuole_is_covered_by_its_inscribed_disks_and_a_vacuole_with_a_channel_is_not():
    rgb = _canvas()
    cv2.circle(rgb, (60, 60), 25, WHITE, -1)
    c, f = _features(rgb)
    disk = f[c.labels[60, 60] - 1]
    assert disk["inscribed_share"] == pytest.approx(1.0, abs=0.08) and disk["thick_share"] > 0.97
    c, f = _features(_vacuole_with_channel(_canvas()))
    both = f[c.labels[60, 50] - 1]
    assert both["inscribed_share"] < 0.85 and both["thick_share"] < 0.85
    assert both["parent_share"] == disk["parent_share"] == 1.0


def _lumen(fill):
    """A white lumen with a bite out of its edge, filled with ``fill`` (red cells, or the cytoplasm)."""
    rgb = _canvas()
    cv2.circle(rgb, (70, 60), 30, WHITE, -1)
    cv2.circle(rgb, (70, 88), 12, fill, -1)
    return rgb


def test_what_fills_the_concavities_is_compared_with_the_cytoplasm_around():
    c, f = _features(_lumen(RED))
    red = f[c.labels[60, 70] - 1]
    c, f = _features(_lumen(PINK))
    pink = f[c.labels[60, 70] - 1]
    assert red["gap_sat_excess"] > 0.15 and red["gap_val_excess"] < -0.1  # more saturated, darker
    assert pink["gap_sat_excess"] == pytest.approx(0, abs=1e-6) and pink["gap_val_excess"] == pytest.approx(0, abs=1e-6)
    assert red["solidity"] == pytest.approx(pink["solidity"])  # the shape alone cannot tell them apart
    c, f = _features(_canvas())  # no concavity: 0, 0
    assert f[0]["gap_sat_excess"] == f[0]["gap_val_excess"] == 0


def test_split_pieces_share_their_region():
    c, f = _features(_vacuole_with_channel(_canvas()), split=50, min_area=10)
    assert c.n == 3  # the vacuole, the channel, the white block
    core, channel = f[c.labels[60, 50] - 1], f[c.labels[27, 137] - 1]
    assert core["parent_share"] + channel["parent_share"] == pytest.approx(1.0)
    assert core["parent_share"] > 0.75 > channel["parent_share"]
    # the ring around a piece is what surrounds its white region: the channel is not white around the vacuole
    assert core["ring_white_fraction"] == channel["ring_white_fraction"] == 0
    assert core["ring_sat_mean"] == pytest.approx(_hsv(PINK)[1] / 255, abs=0.01)


# ------------------------------------------------------------------- through the CLI, as a user trains it
def _field(rng, size=240, cell=80):
    """A pink field on a 3 x 3 grid: 4 round vacuoles, 4 sinusoid-like channels, and a vacuole with a
    channel attached to it (centre cell). Returns the image, the truth (the vacuoles) and the points."""
    rgb = np.clip(np.array(PINK, np.float32) * (1 + 0.04 * rng.normal(0, 1, (size, size, 1))), 0, 255).astype(np.uint8)
    rgb[0:4, 0:5] = 0
    rgb[-4:, -5:] = 255
    truth = np.zeros((size, size), np.uint8)
    pos, neg = [], []
    kinds = rng.permutation(["vacuole"] * 4 + ["channel"] * 4)
    cells = [(r, c) for r in range(3) for c in range(3) if (r, c) != (1, 1)]
    for (r, c), kind in zip(cells, kinds):
        cy, cx = r * cell + cell // 2, c * cell + cell // 2
        if kind == "vacuole":
            rad = int(rng.integers(9, 22))
            cv2.circle(rgb, (cx, cy), rad, WHITE, -1)
            cv2.circle(truth, (cx, cy), rad, 255, -1)
            pos.append((cy, cx))
        else:
            a = rng.uniform(0, np.pi)
            d = np.array([np.cos(a), np.sin(a)]) * 30
            cv2.line(rgb, (int(cx - d[0]), int(cy - d[1])), (int(cx + d[0]), int(cy + d[1])), WHITE, 4)
            neg.append((cy, cx))
    cv2.circle(rgb, (120, 120), 16, WHITE, -1)
    cv2.circle(truth, (120, 120), 16, 255, -1)
    cv2.line(rgb, (134, 120), (165, 90), WHITE, 4)  # the channel leaves the vacuole up and to the right
    pos.append((120, 120))
    return rgb, truth, np.array(pos, float), np.array(neg, float)


def test_a_classifier_trained_on_points_keeps_the_vacuole_and_drops_the_channel_attached_to_it(tmp_path):
    from napari_steatosis.cli import main
    from napari_steatosis.data.dataset import Dataset, PointLabels
    from napari_steatosis.data.images import write_image

    rng = np.random.default_rng(3)
    ds = Dataset.create(tmp_path / "ds")
    for k in range(5):
        rgb, truth, pos, neg = _field(rng)
        write_image(tmp_path / f"f{k}.png", rgb)
        rec = ds.add_image(tmp_path / f"f{k}.png", f"P{k}", split="test" if k == 4 else "train", save=False)
        ds.write_mask(rec, "steatosis", truth)
        if k < 4:
            ds.write_points(rec, PointLabels(pos, neg), rgb.shape[:2])
    ds.save()
    model = tmp_path / "m.skops"
    assert main(["train-classical", str(ds.root), "--out", str(model), "--n-iter", "2"]) == 0
    assert main(["predict", str(tmp_path / "f4.png"), "--method", "classical", "--model", str(model),
                 "--out", str(tmp_path / "pred")]) == 0
    pred = cv2.imread(str(tmp_path / "pred" / "f4.steatosis.png"), cv2.IMREAD_GRAYSCALE) > 0
    truth = ds.read_mask(ds.records[4], "steatosis") > 0
    assert pred[truth].mean() > 0.95  # every vacuole, the one with the channel too
    channel = np.zeros_like(truth, np.uint8)
    cv2.line(channel, (140, 114), (165, 90), 1, 4)  # the attached channel, from 4 px beyond the vacuole
    assert pred[channel > 0].mean() < 0.1
    assert (pred & ~truth).sum() < 0.05 * truth.sum()


def test_a_not_steatosis_point_marks_every_piece_of_its_region_but_a_clicked_vacuole():
    from napari_steatosis.classical.labels import labels_from_points

    rgb = _vacuole_with_channel(_canvas())
    cv2.circle(rgb, (120, 90), 15, WHITE, -1)  # a lumen: cut into pieces by a red cell across it
    cv2.line(rgb, (112, 90), (128, 90), RED, 7)
    c = _candidates(rgb)
    vacuole, channel, lumen = c.labels[60, 50], c.labels[27, 137], c.labels[[80, 100], [120, 120]]
    assert len({vacuole, channel, *lumen}) == 4 and c.parent[lumen[0] - 1] == c.parent[lumen[1] - 1]
    y = labels_from_points(c.labels, c.n, [(60, 50)], [(27, 137), (80, 120)], parent=c.parent)
    assert (y[vacuole - 1], y[channel - 1], y[lumen[0] - 1], y[lumen[1] - 1]) == (1, 0, 0, 0)
    y = labels_from_points(c.labels, c.n, [(60, 50)], [(60, 52), (80, 120)], parent=c.parent)
    assert (y[vacuole - 1], y[channel - 1]) == (-1, 0)  # both points on the vacuole: ambiguous; its channel not fat
    y = labels_from_points(c.labels, c.n, [(60, 50)], [(80, 120)])  # unsplit rule: only the clicked piece
    assert (y[vacuole - 1], y[channel - 1], y[lumen[0] - 1], y[lumen[1] - 1]) == (1, -1, 0, -1)


def test_the_pieces_of_a_lumen_cut_apart_by_its_red_cells_all_see_them():
    rgb = _canvas()
    cv2.circle(rgb, (70, 60), 30, WHITE, -1)
    cv2.line(rgb, (48, 60), (92, 60), RED, 9)  # red cells across the lumen, not quite wall to wall
    c, f = _features(rgb, split=50, min_area=10)
    top, bottom = c.labels[40, 70], c.labels[80, 70]
    assert top != bottom and c.parent[top - 1] == c.parent[bottom - 1]
    for piece in (top, bottom):
        assert f[piece - 1]["gap_sat_excess"] > 0.15
