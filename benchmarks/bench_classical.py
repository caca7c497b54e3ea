"""Classical pipeline throughput on a 4096x4096 image: candidates, features, prediction.

Run: python benchmarks/bench_classical.py
Prints Mpx/s of each stage and of the whole, the ratio of candidate detection to a bare
OpenCV cvtColor + inRange pass, and the cost of cutting white regions into their cores (split,
format 3) against the same candidates unsplit, all measured in the same run.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time

import cv2
import numpy as np

from napari_steatosis.classical.candidates import find_candidates
from napari_steatosis.classical.features import region_features
from napari_steatosis.classical.pipeline import predict_steatosis, train_classical
from napari_steatosis.data.synthetic import generate_image, write_sample_dataset


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main():
    with tempfile.TemporaryDirectory() as d:
        ds = write_sample_dataset(f"{d}/ds", patients=4, per_patient=1, size=(512, 512), seed=1)
        model = train_classical(ds, "gbt", n_iter=2)
    tile = generate_image(np.random.default_rng(0), (1024, 1024), "trichrome", 0.2, 0.05).rgb
    rgb = np.ascontiguousarray(np.tile(tile, (4, 4, 1)))
    mpx = rgb.shape[0] * rgb.shape[1] / 1e6
    p = model.candidate_params
    _, bare = timed(lambda: cv2.inRange(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV), (0, 0, p.val_min), (180, p.sat_max, 255)))
    cands, t_c = timed(lambda: find_candidates(rgb, p))
    (X, _), t_f = timed(lambda: region_features(cands))
    _, t_p = timed(lambda: model.predict_proba(X))
    _, t_all = timed(lambda: predict_steatosis(model, rgb))
    whole, t_cw = timed(lambda: find_candidates(rgb, dataclasses.replace(p, split=0)))
    _, t_fw = timed(lambda: region_features(whole))
    print(f"classical pipeline on a 4096x4096 image ({mpx:.1f} Mpx, {cands.n} candidate regions)")
    print(f"  bare cvtColor+inRange            {mpx / bare:8.1f} Mpx/s")
    print(f"  candidates                       {mpx / t_c:8.1f} Mpx/s   ratio to bare {bare / t_c:5.2f}")
    print(f"  features                         {mpx / t_f:8.1f} Mpx/s   ({cands.n / t_f:.0f} regions/s)")
    print(f"  classifier                       {mpx / t_p:8.1f} Mpx/s")
    print(f"  whole predict_steatosis          {mpx / t_all:8.1f} Mpx/s   (grow-back, tissue mask and table included)")
    print(f"  candidates + features, split {p.split} %: {(t_c + t_f) / (t_cw + t_fw):.2f} x the time unsplit "
          f"({cands.n} vs {whole.n} regions)")


if __name__ == "__main__":
    main()
