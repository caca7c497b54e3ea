"""Fibrosis thresholding throughput on a 4096x4096 image, against a bare OpenCV pass.

Run: python benchmarks/bench_fibrosis.py
Prints Mpx/s of each path and its ratio to `cv2.cvtColor` + `cv2.inRange` measured in the
same run (ratios, not seconds, are what to compare across machines).
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from napari_steatosis.data.synthetic import generate_image
from napari_steatosis.fibrosis import fibrosis_percent, preset, threshold_hsv, to_hsv

SIDE = 4096


def best_of(fn, repeats=5):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    tile = generate_image(np.random.default_rng(0), (1024, 1024), "trichrome", 0.15, 0.1).rgb
    rgb = np.ascontiguousarray(np.tile(tile, (SIDE // 1024, SIDE // 1024, 1)))
    mpx = rgb.shape[0] * rgb.shape[1] / 1e6
    t = preset("trichrome")

    def bare():
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        return cv2.inRange(hsv, (t.hue_min, t.sat_min, t.val_min), (t.hue_max, t.sat_max, t.val_max))

    hsv = to_hsv(rgb)
    rows = [
        ("bare cvtColor+inRange", bare),
        ("threshold only (HSV cached, as the live slider)", lambda: threshold_hsv(hsv, t)),
        ("normalise + HSV + threshold", lambda: threshold_hsv(to_hsv(rgb), t)),
        ("full: + tissue mask + % of tissue", lambda: fibrosis_percent(rgb, t)),
    ]
    base = None
    print(f"fibrosis thresholding on a {SIDE}x{SIDE} RGB image ({mpx:.1f} Mpx), best of 5")
    for name, fn in rows:
        fn()  # warm up
        secs = best_of(fn)
        rate = mpx / secs
        base = base or rate
        print(f"  {name:<50} {rate:8.1f} Mpx/s   ratio to bare {rate / base:5.2f}")


if __name__ == "__main__":
    main()
