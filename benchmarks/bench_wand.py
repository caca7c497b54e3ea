"""How well one wand click recovers a labelled vacuole: median per-vacuole Jaccard, by tolerance.

    python benchmarks/bench_wand.py

A click at the pixel nearest each labelled vacuole's centroid (areas >= 30 px), on the real
H&E tiles with expert masks in ../shared/real-tiles (delineate_*, skipped when absent) and on
the first 6 images of the bundled synthetic sample.
"""

from __future__ import annotations

import glob
from pathlib import Path

import cv2
import numpy as np

from napari_steatosis.data.images import read_image, read_mask
from napari_steatosis.preprocess import tissue_mask
from napari_steatosis.sample import sample_dataset
from napari_steatosis.wand import wand

TILES = Path(__file__).resolve().parents[2] / "shared" / "real-tiles"


def scores(pairs, tolerance):
    out = []
    for rgb, truth in pairs:
        tissue = tissue_mask(rgb)
        n, lab, stats, cent = cv2.connectedComponentsWithStats(truth.astype(np.uint8))
        for i in range(1, min(n, 60)):
            if stats[i, 4] < 30:
                continue
            comp = lab == i
            ys, xs = np.nonzero(comp)
            j = np.argmin((ys - cent[i][1]) ** 2 + (xs - cent[i][0]) ** 2)
            m = wand(rgb, (ys[j], xs[j]), tolerance=tolerance, within=tissue)
            out.append((m & comp).sum() / (m | comp).sum())
    return np.array(out)


def main():
    real = [(read_image(f), read_mask(f.replace(".png", ".steatosis.png")))
            for f in sorted(glob.glob(str(TILES / "delineate_*[0-9].png")))]
    ds = sample_dataset()
    synth = [(ds.read_image(r), ds.read_mask(r, "steatosis")) for r in ds.records[:6]]
    for tol in (10, 14, 18, 24):
        parts = []
        for name, pairs in (("real H&E (delineate)", real), ("synthetic sample", synth)):
            if pairs:
                s = scores(pairs, tol)
                parts.append(f"{name}: median J {np.median(s):.2f}, 10th percentile {np.percentile(s, 10):.2f} "
                             f"(n={len(s)})")
        print(f"tolerance {tol}: " + "; ".join(parts))


if __name__ == "__main__":
    main()
