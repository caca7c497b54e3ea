"""The classical pipeline trained on points, as a user trains it, scored on held-out images.

A user clicks one point inside each vacuole and a point on white regions that are not fat; this
script makes exactly those points from a mask (a point well inside each true vacuole, one at the
most interior pixel of each bright, unsaturated region that does not touch fat), trains with
``steatosis train-classical`` on the train images and scores ``predict --method classical`` on the
held-out ones with ``evaluate`` (pooled Jaccard, % error, false share, recall by diameter).

Sources:
  other    images of benchmarks/other_generator.py (a look our generator does not make): --train
           images to train on, --images held-out ones (different seeds)
  ours     the sample generator (data/synthetic.py), split by patient
  DATASET  a dataset folder with steatosis masks (points are made from them) and a split column or
           patients; trained on its train+val images, scored on its test images

Run: python benchmarks/classical_points.py other [--train 8] [--images 8] [--n-iter 20] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def user_points(rgb: np.ndarray, truth: np.ndarray, rng: np.random.Generator, max_negative: int = 20):
    """(positive, negative) ``(row, col)`` points as a user would click them."""
    n, lab = cv2.connectedComponents(truth.astype(np.uint8), connectivity=8)
    pos = []
    for i in range(1, n):
        comp = (lab == i).astype(np.uint8)
        d = cv2.distanceTransform(np.pad(comp, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
        rr, cc = np.nonzero(d >= 0.5 * d.max())  # somewhere near the middle, not exactly at it
        k = rng.integers(len(rr))
        pos.append((rr[k], cc[k]))
    bright = (rgb.min(axis=2) > 195) & (rgb.max(axis=2).astype(int) - rgb.min(axis=2) < 40)
    near_fat = cv2.dilate(truth.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # not a vacuole nor its rim
    m, wl, stats, _ = cv2.connectedComponentsWithStats(bright.astype(np.uint8), connectivity=8)
    neg = []
    for i in rng.permutation(np.arange(1, m)):
        comp = wl == i
        if stats[i, cv2.CC_STAT_AREA] < 15 or (comp & near_fat).any():
            continue
        d = cv2.distanceTransform(np.pad(comp.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
        neg.append(np.unravel_index(np.argmax(d), d.shape))
        if len(neg) >= max_negative:
            break
    return np.array(pos, float).reshape(-1, 2), np.array(neg, float).reshape(-1, 2)


def other_dataset(root: Path, n_train: int, n_test: int, seed: int):
    from other_generator import paint

    from napari_steatosis.data.dataset import Dataset
    from napari_steatosis.data.images import write_image

    (root / "src").mkdir(parents=True, exist_ok=True)
    ds = Dataset.create(root / "dataset")
    for split, n, s in (("train", n_train, seed + 1000), ("test", n_test, seed)):
        rng = np.random.default_rng(s)  # the test images are other_generator.py's own with this seed
        for i in range(n):
            rgb, truth = paint(rng)
            src = root / "src" / f"{split}{i:02d}.png"
            write_image(src, rgb)
            rec = ds.add_image(src, f"{split}{i:02d}", split=split, save=False)
            ds.write_mask(rec, "steatosis", truth)
    ds.save()
    return ds


def ours_dataset(root: Path, seed: int):
    from napari_steatosis.data.synthetic import write_sample_dataset

    return write_sample_dataset(root / "dataset", patients=10, per_patient=1, size=(512, 512), seed=seed)


def copy_dataset(src: str, root: Path):
    from napari_steatosis.data.dataset import Dataset

    shutil.copytree(src, root / "dataset")
    return Dataset.open(root / "dataset")


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("source", help="other, ours, or a dataset folder with steatosis masks")
    p.add_argument("--train", type=int, default=8, help="other: training images")
    p.add_argument("--images", type=int, default=8, help="other: held-out images")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--n-iter", type=int, default=20)
    p.add_argument("--keep-points", action="store_true", help="use the dataset's own points where it has them")
    p.add_argument("--out", help="keep the dataset, model and predictions here")
    a = p.parse_args(argv)
    from napari_steatosis.cli import main as steatosis
    from napari_steatosis.data.dataset import PointLabels
    from napari_steatosis.evaluate import evaluate

    root = Path(a.out or tempfile.mkdtemp(prefix="classical-points-"))
    if a.source == "other":
        ds = other_dataset(root, a.train, a.images, a.seed)
    elif a.source == "ours":
        ds = ours_dataset(root, a.seed)
    else:
        ds = copy_dataset(a.source, root)
    splits = ds.splits(0)
    rng = np.random.default_rng(a.seed)
    n_pos = n_neg = 0
    for rec in ds.records:
        if splits[rec.stem] == "test" or not ds.has_label(rec, "steatosis"):
            continue
        if a.keep_points and ds.read_points(rec) is not None:
            continue
        rgb = ds.read_image(rec)
        pos, neg = user_points(rgb, ds.read_mask(rec, "steatosis", rgb.shape[:2]), rng)
        ds.write_points(rec, PointLabels(pos, neg), rgb.shape[:2])
        n_pos, n_neg = n_pos + len(pos), n_neg + len(neg)
    for rec in ds.records:  # points on held-out images are never used; make sure none are there
        if splits[rec.stem] == "test" and ds.label_path(rec, "points").exists():
            ds.label_path(rec, "points").unlink()
    model = root / "classical.skops"
    assert steatosis(["train-classical", str(ds.root), "--out", str(model), "--n-iter", str(a.n_iter)]) == 0
    held = [ds.image_path(r) for r in ds.records if splits[r.stem] == "test"]
    assert steatosis(["predict", *map(str, held), "--method", "classical", "--model", str(model),
                      "--out", str(root / "pred")]) == 0
    res = evaluate(ds, root / "pred", split="test")
    print(f"source: {a.source}; points made: {n_pos} steatosis, {n_neg} not; kept in {root}")
    print(json.dumps(dict(jaccard=round(res["jaccard"], 4), pct_abs_error=round(res["pct_abs_error"], 3),
                          false_share=round(res["false_share"], 4),
                          recall_by_diameter=[(b["range"], b["fat_share"], b["recall"])
                                              for b in res["recall_by_diameter"]["bins"]],
                          unit=res["recall_by_diameter"]["unit"], images=res["n_images"])))


if __name__ == "__main__":
    main()
