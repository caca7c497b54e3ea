"""A cohort through `quantify` in one process and on a dask LocalCluster of 1 and 2 worker processes.

Run: python benchmarks/bench_cohort.py [--images 200] [--size 256] [--method classical|fibrosis]

Generates N small trichrome images, then runs the same batch (i) in this process, (ii) the same
with BLAS/OpenMP held to one thread as dask holds its workers (so that (iii) minus (ii) is the
scheduler's overhead), (iii) on a LocalCluster with 1 worker process, (iv) with 2. Every run
starts warm (4 images first, so modules are imported and the model loaded; for the clusters that
warm-up is reported with the start-up time). Prints images/s and the speed-up over the
single-process run measured in the same run, and the scheduler's overhead per task measured with
tasks that do nothing. Checks that every run wrote the same tables and masks. ``classical`` is `quantify --method classical` (a logistic-regression model trained here
on a small generated dataset; the U-Net on CPU would make 600 image runs too slow for this
2-core machine); ``fibrosis`` is `steatosis fibrosis` (colour thresholds only, the cheapest task,
where the overhead weighs most). On a shared machine the numbers are noisy: run it with `nice` and
read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from napari_steatosis.batch import run_batch
from napari_steatosis.data.sources import collect_images
from napari_steatosis.data.synthetic import generate_image, write_sample_dataset
from napari_steatosis.fibrosis import preset
from napari_steatosis.image_tasks import FibrosisTask
from napari_steatosis.quantify import jobs_of, quantify


def make_images(folder: Path, n: int, size: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(n):
        img = generate_image(rng, (size, size), "trichrome", float(rng.uniform(0.02, 0.4)), 0.08).rgb
        cv2.imwrite(str(folder / f"img{k:04d}.png"), np.ascontiguousarray(img[:, :, ::-1]))


def _noop(k):
    return k


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--method", choices=["classical", "fibrosis"], default="classical")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        t0 = time.perf_counter()
        make_images(d / "images", args.images, args.size)
        print(f"{args.images} images of {args.size}x{args.size} px generated in {time.perf_counter() - t0:.1f} s")
        model = None
        if args.method == "classical":
            from napari_steatosis.classical.model import save_classifier
            from napari_steatosis.classical.pipeline import train_classical
            from napari_steatosis.data.dataset import Dataset

            write_sample_dataset(d / "train", patients=3, per_patient=1, size=(256, 256), seed=1)
            model = save_classifier(train_classical(Dataset.open(d / "train"), "logreg", 1, 0), d / "cls.skops")

        def run(out: Path, client, inputs=(d / "images",)) -> float:
            t = time.perf_counter()
            if args.method == "classical":
                quantify(list(inputs), out, method="classical", model=str(model), client=client)
            else:
                run_batch(FibrosisTask(preset("trichrome").to_dict()), jobs_of(collect_images(list(inputs))),
                          out, client=client)
            return time.perf_counter() - t

        # every run starts warm (modules imported, model loaded): a few images first, timed apart
        warm = sorted((d / "images").iterdir())[:4]
        run(d / "warm-single", None, warm)
        results = [("single process", run(d / "single", None), None)]
        # dask starts its workers with OMP/MKL/OpenBLAS held to one thread (OpenCV keeps its own);
        # the same here, so that the difference to 1 worker is the scheduler's
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            results.append(("single, BLAS 1 thread", run(d / "single1", None), None))
        for n in (1, 2):
            t = time.perf_counter()
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                                   silence_logs=logging.ERROR)
            client = Client(cluster)
            start = time.perf_counter() - t
            start += run(d / f"warm{n}", client, warm)
            seconds = run(d / f"workers{n}", client)
            t = time.perf_counter()
            client.gather(client.map(_noop, range(args.images), pure=False))
            noop = (time.perf_counter() - t) / args.images
            client.close()
            cluster.close()
            results.append((f"{n} worker process{'es' if n > 1 else ''}", seconds, (start, noop)))
        table = "per_image.csv" if args.method == "classical" else None
        others = ["single1", "workers1", "workers2"]
        if table:
            ref = (d / "single" / table).read_text()
            for other in others:
                assert (d / other / table).read_text() == ref, f"{other} wrote other numbers"
        for other in others:
            for p in sorted((d / "single").glob("*.png")):
                assert p.read_bytes() == (d / other / p.name).read_bytes(), f"{other}: {p.name}"
        single = results[0][1]
        print(f"\n{args.method} path, {args.images} images, same tables and masks in every run: yes")
        print(f"{'run':<22}{'seconds':>9}{'images/s':>10}{'speed-up':>10}   cluster start + warm-up, overhead per no-op task")
        for name, seconds, extra in results:
            more = "" if extra is None else f"   {extra[0]:.1f} s, {1000 * extra[1]:.2f} ms"
            print(f"{name:<22}{seconds:>9.1f}{args.images / seconds:>10.2f}{single / seconds:>10.2f}{more}")
        one_thread, one = results[1][1], results[2][1]
        print(f"\noverhead per image of 1 dask worker against one process with BLAS held to 1 thread as well: "
              f"{1000 * (one - one_thread) / args.images:+.1f} ms (cluster start-up not included)")


if __name__ == "__main__":
    main()
