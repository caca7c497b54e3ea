"""U-Net throughput: our large overlapping tiles against the paper's 268/148 sliding window.

Run: python benchmarks/bench_unet.py [--size 4096] [--model M.keras] [--train-batch 8,32] [--warm-full]
Prints, all measured in this run on this machine: inference Mpx/s with our tiling and with the
paper's window and their ratio, peak resident memory of each, training patches/s (with the patch
sampling as train-unet does it, and the network's steps alone), the float32 matmul rate of numpy
here, and the share of it that inference and training reach.

The Keras backend is KERAS_BACKEND's (tensorflow, jax or torch); it runs on a GPU when the backend
sees one (benchmarks/bench_gpu.sh runs this on each). ``--warm-full`` runs the whole image once
before it is timed: XLA (JAX) compiles one program per tile shape, seconds that a long run pays once.
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
    ap.add_argument("--train-batch", default="8", help="batch sizes to time training at, e.g. 8,32")
    ap.add_argument("--warm-full", action="store_true", help="warm up on the whole image, not a corner")
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

    warm = rgb if a.warm_full else rgb[:600, :600]  # the tile shapes the timed run uses, or a corner's
    predict_probability(model, warm)
    predict_probability(model, warm, tile=268, context=0)
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

    from napari_steatosis.unet.train import loader_threads

    train_img = prepare_image(tile.rgb)
    sampler = PatchSampler([train_img], [tile.steatosis], white_fraction=0.2, augment=True)  # as train-unet
    train_flops = 3 * conv_flops(268)  # forward + backward ~ 3x forward
    print(f"  training, 268 px patches ({loader_threads()} sampling thread(s) in train-unet here):")
    for batch in (int(b) for b in a.train_batch.split(",")):
        net = build_unet()
        net.compile(optimizer=keras.optimizers.Nadam(1e-3), loss=soft_dice_bce)
        x, y = sampler.batch(np.random.default_rng(0), batch)
        net.train_on_batch(x, y)  # compiles
        t0 = time.perf_counter()
        for k in range(a.train_steps):
            x, y = sampler.batch(np.random.default_rng(k + 1), batch)
            net.train_on_batch(x, y)
        sampled = batch * a.train_steps / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for k in range(a.train_steps):
            net.train_on_batch(x, y)
        alone = batch * a.train_steps / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        for k in range(a.train_steps):
            sampler.batch(np.random.default_rng(k + 1), batch)
        sampling = batch * a.train_steps / (time.perf_counter() - t0)
        print(f"    batch {batch:3d}: {sampled:7.1f} patches/s sampling on the same thread, network alone "
              f"{alone:7.1f} ({alone * train_flops / 1e9:6.0f} GFLOP/s = {100 * alone * train_flops / 1e9 / gflops:5.1f} "
              f"% of numpy's matmul), one thread's sampling alone {sampling:6.1f}")
    from concurrent.futures import ThreadPoolExecutor

    rates = {}
    for threads in sorted({1, 2, 4, 8, os.cpu_count() or 1}):  # what train-unet's loader threads can feed
        n = 16 * threads
        with ThreadPoolExecutor(threads) as pool:
            t0 = time.perf_counter()
            list(pool.map(lambda k: sampler.batch(np.random.default_rng(k), 8), range(n)))
            rates[threads] = 8 * n / (time.perf_counter() - t0)
    print("  patch sampling (batches of 8, augmented) by threads: "
          + ", ".join(f"{t}: {r:.0f}/s ({r / rates[1]:.2f}x)" for t, r in rates.items()))


if __name__ == "__main__":
    main()
