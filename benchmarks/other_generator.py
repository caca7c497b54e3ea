"""Generalisation check on images our generator did not make: an independent "other look".

A deliberately different, simple painter (no Voronoi hepatocytes, no shared palettes or code
with data/synthetic.py): eosin-pink cytoplasm from filtered noise with random stain colours,
haematoxylin nuclei, fat vacuoles that are crisp and small (10-20 px) or large and hazy
(40-90 px), and white look-alikes that are not fat (sinusoids, a vessel with red cells, tears),
then blur and JPEG. It writes a dataset folder, runs a U-Net model through the same Detector
users run, and prints pooled Jaccard, the false share and recall by diameter.

Run: python benchmarks/other_generator.py [--model M.keras] [--images 8] [--seed 7] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np


def paint(rng: np.random.Generator, size=(512, 512)):
    h, w = size
    # stain colours: eosin (pink) and haematoxylin (blue-purple), random per image
    eosin = np.array([rng.uniform(200, 240), rng.uniform(110, 170), rng.uniform(160, 210)])
    haem = np.array([rng.uniform(50, 100), rng.uniform(30, 70), rng.uniform(110, 160)])
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), rng.uniform(1.0, 3.0))
    noise /= noise.std() + 1e-6
    img = eosin[None, None, :] * (1 + 0.07 * noise[..., None])
    img = img.astype(np.float32)
    truth = np.zeros((h, w), np.uint8)
    white = np.array([243, 242, 245], np.float32)
    # look-alikes: sinusoids (thin white curves), a vessel with red cells, a tear
    look = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(6, 14))):
        pts = np.cumsum(rng.normal(0, 12, (8, 2)), axis=0) + rng.uniform(0, [w, h])
        cv2.polylines(look, [pts.astype(np.int32)], False, 1, int(rng.integers(2, 5)))
    vc = (int(rng.uniform(60, w - 60)), int(rng.uniform(60, h - 60)))
    cv2.ellipse(look, vc, (int(rng.uniform(25, 45)), int(rng.uniform(15, 30))), rng.uniform(0, 180), 0, 360, 1, -1)
    tear = (np.cumsum(rng.normal(0, 6, (20, 2)), axis=0) + rng.uniform(0, [w, h])).astype(np.int32)
    cv2.polylines(look, [tear], False, 1, int(rng.integers(3, 7)))
    # vacuoles: crisp small and hazy large, never on the look-alikes
    for _ in range(int(rng.integers(15, 45))):
        r = rng.uniform(5, 10) if rng.random() < 0.6 else rng.uniform(20, 45)
        c = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        ax = (int(r), int(r * rng.uniform(0.8, 1.0)))
        blob = np.zeros((h, w), np.uint8)
        cv2.ellipse(blob, c, ax, rng.uniform(0, 180), 0, 360, 1, -1)
        if (blob & (look | truth)).any():
            continue
        truth |= blob
    nuclei = np.zeros((h, w), np.uint8)
    for _ in range(int(h * w / 900)):
        c = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        cv2.ellipse(nuclei, c, (int(rng.uniform(3, 6)), int(rng.uniform(3, 5))), rng.uniform(0, 180), 0, 360, 1, -1)
    nuclei &= ~(truth | look).astype(bool)
    a = cv2.GaussianBlur(nuclei.astype(np.float32), (0, 0), 0.8)[..., None]
    img = img * (1 - a) + haem * a
    # vacuoles: large ones hazy (a pink veil), small ones crisp
    n, lab = cv2.connectedComponents(truth)
    alpha = np.zeros((h, w), np.float32)
    for i in range(1, n):
        comp = lab == i
        alpha[comp] = 0.95 if comp.sum() < 500 else rng.uniform(0.6, 0.85)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.8)[..., None]
    img = img * (1 - alpha) + white * alpha
    la = cv2.GaussianBlur(look.astype(np.float32), (0, 0), 0.8)[..., None]
    img = img * (1 - la) + white * la
    rbc = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(3, 8))):
        cv2.circle(rbc, (vc[0] + int(rng.normal(0, 8)), vc[1] + int(rng.normal(0, 6))), 3, 1, -1)
    ra = cv2.GaussianBlur(rbc.astype(np.float32), (0, 0), 0.6)[..., None]
    img = img * (1 - ra) + np.array([200, 40, 60], np.float32) * ra
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.2)) + rng.normal(0, 3, img.shape)
    rgb = np.clip(img, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(50, 90))])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy(), truth.astype(bool)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--model", help="U-Net model (default: the shipped one)")
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", help="keep the dataset and predictions here")
    p.add_argument("--no-postprocess", action="store_true", help="no scale fusion nor completion")
    a = p.parse_args(argv)
    from napari_steatosis.data.dataset import Dataset
    from napari_steatosis.data.images import write_image, write_mask
    from napari_steatosis.evaluate import evaluate
    from napari_steatosis.unet.detector import Detector

    root = Path(a.out or tempfile.mkdtemp(prefix="other-generator-"))
    rng = np.random.default_rng(a.seed)
    (root / "src").mkdir(parents=True, exist_ok=True)
    pairs = []
    for i in range(a.images):
        rgb, truth = paint(rng)
        write_image(root / "src" / f"other{i:02d}.png", rgb)
        pairs.append((root / "src" / f"other{i:02d}.png", f"O{i:02d}", truth))
    ds = Dataset.create(root / "dataset", [(f, pat) for f, pat, _ in pairs])
    for rec, (_, _, truth) in zip(ds.records, pairs):
        ds.write_mask(rec, "steatosis", truth)
    kw = dict(complete=False, fuse=False) if a.no_postprocess else {}
    det = Detector.load(a.model, **kw)
    (root / "pred").mkdir(exist_ok=True)
    for rec in ds.records:
        write_mask(root / "pred" / f"{rec.stem}.steatosis.png", det.mask(ds.read_image(rec)))
    res = evaluate(ds, root / "pred")
    print(f"model: {a.model or 'shipped default'} ({det.settings})")
    print(json.dumps(dict(jaccard=round(res["jaccard"], 4), pct_abs_error=round(res["pct_abs_error"], 3),
                          false_share=round(res["false_share"], 4),
                          recall_by_diameter=res["recall_by_diameter"]["bins"], images=res["n_images"])))


if __name__ == "__main__":
    main()
