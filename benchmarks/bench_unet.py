"""U-Net throughput: our large overlapping tiles against the paper's 268/148 sliding window.

Run: python benchmarks/bench_unet.py [--size 4096] [--model M.keras]
Prints, all measured in this run on this machine: inference Mpx/s with our tiling and with the
paper's window and their ratio, peak resident memory of each, training patches/s, the float32
matmul rate of numpy here, and the share of it that inference and training reach.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import psutil  # noqa: E402


class PeakRSS:
    def __init__(self):
        self.proc, self.peak, self._stop = psutil.Process(), 0, threading.Event()

    def __enter__(self):
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.01)

    def __exit__(self, *exc):
        self._stop.set()
        self.t.join()

    @property
    def extra_mb(self):
        return (self.peak - self.base) / 2**20


def matmul_gflops(n=2048, repeats=5) -> float:
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--model", help="a .keras model (default: the shipped one)")
    ap.add_argument("--train-steps", type=int, default=6)
    a = ap.parse_args()
    import keras

    from napari_steatosis.data.synthetic import generate_image
    from napari_steatosis.unet import default_model
    from napari_steatosis.unet.card import load_model
    from napari_steatosis.unet.model import build_unet, conv_flops
    from napari_steatosis.unet.patches import PatchSampler, prepare_image
    from napari_steatosis.unet.predict import device_description, predict_probability, tile_plan
    from napari_steatosis.unet.train import soft_dice_bce

    model, _ = load_model(a.model or default_model.path())
    tile = generate_image(np.random.default_rng(0), (1024, 1024), "he", 0.2, 0.0)
    reps = -(-a.size // 1024)
    rgb = np.ascontiguousarray(np.tile(tile.rgb, (reps, reps, 1))[: a.size, : a.size])
    mpx = a.size * a.size / 1e6
    gflops = matmul_gflops()
    print(f"U-Net on {device_description()}; image {a.size}x{a.size} ({mpx:.1f} Mpx); "
          f"numpy float32 matmul here: {gflops:.0f} GFLOP/s")

    predict_probability(model, rgb[:600, :600])  # warm up both tile shapes
    predict_probability(model, rgb[:600, :600], tile=268, context=0)
    results = {}
    for name, tile_size, context in (("ours: 1036 tiles, 16 px overlap", 1036, 16),
                                     ("paper: 268 -> 148 sliding window", 268, 0)):
        (th, tw), (kh, kw), origins = tile_plan(rgb.shape[:2], tile_size, context)
        with PeakRSS() as mem:
            secs = _timed(lambda: predict_probability(model, rgb, tile=tile_size, context=context))
        flops = conv_flops(th) * len(origins)
        results[name] = mpx / secs
        print(f"  {name:<34} {mpx / secs:6.2f} Mpx/s  {len(origins):5d} tiles  peak +{mem.extra_mb:6.0f} MB  "
              f"{flops / secs / 1e9:5.0f} GFLOP/s = {100 * flops / secs / 1e9 / gflops:4.1f} % of matmul")
    ours, paper = results.values()
    print(f"  speed-up of our tiling over the paper's window: {ours / paper:.2f}x")

    train_img = prepare_image(tile.rgb)
    sampler = PatchSampler([train_img], [tile.steatosis])
    net = build_unet()
    net.compile(optimizer=keras.optimizers.Nadam(1e-3), loss=soft_dice_bce)
    x, y = sampler.batch(np.random.default_rng(0), 8)
    net.train_on_batch(x, y)
    t0 = time.perf_counter()
    for k in range(a.train_steps):
        x, y = sampler.batch(np.random.default_rng(k + 1), 8)
        net.train_on_batch(x, y)
    secs = time.perf_counter() - t0
    rate = 8 * a.train_steps / secs
    train_flops = 3 * conv_flops(268)  # forward + backward ~ 3x forward
    print(f"  training (268 patches, batch 8, sampling included): {rate:.1f} patches/s  "
          f"{rate * train_flops / 1e9:5.0f} GFLOP/s = {100 * rate * train_flops / 1e9 / gflops:4.1f} % of matmul")


if __name__ == "__main__":
    main()
