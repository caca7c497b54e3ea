"""Whole slides: peak memory of the whole process tree and throughput per method, next to the same
methods on in-memory tiles, measured in the same run.

Run: nice python benchmarks/bench_slide.py [--side 30000] [--methods fibrosis,classical,unet] [--work DIR]
                                          [--big-limit SECONDS] [--predict-4096]

1. Writes two synthetic slides with `steatosis sample --slide` (SIDE x SIDE and SIDE/2 x SIDE/2: 4x the
   area between them), a quarter of each glass, and cuts TILES tissue tiles of 2048 x 2048 from the big
   one as PNG images.
2. Runs `steatosis quantify` (or `fibrosis` for fibrosis alone) as a subprocess on each slide and on
   the folder of tiles, sampling the summed RSS of the process and all its children every 0.2 s.
   Throughput is tissue Mpx per second after subtracting the start-up (the same command on a 64 px
   image: Python, TensorFlow, the model).
3. Prints, per method: peak GB on both slides and their ratio (flat: <= 1.3), Mpx/s on slide tissue
   and on the tiles and their ratio (target >= 0.9), and the Jaccard against the truth of the slide's
   mask and of the tiles' masks on the same pixels.
With --predict-4096: `steatosis predict` on one 4096 x 4096 image, whole process timed (median of 3; the default
runtime, OpenVINO on a CPU, and STEATOSIS_RUNTIME=keras), against the paper's 268 -> 148 window run in
batches of 16 in this process (model already loaded), as Keras runs it (eager), as one TensorFlow graph
and on OpenVINO (the same runtime as predict: what the tiling alone gains); with the pieces of predict
timed here (Keras import, model load, the network at each fused scale, completion).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import psutil  # noqa: E402

TILE = 2048


def run_measured(cmd: list[str], time_limit: float | None = None, env: dict | None = None) -> dict:
    """Run ``cmd`` (with ``env`` added to the environment); wall seconds, CPU seconds of the process tree (user + system of every waited-for
    process: less swayed by other load than the wall), peak of the summed RSS of the tree (GB), return code."""
    import resource

    t0 = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=None if env is None else {**os.environ, **env})
    peak, lines = 0, []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            procs = [ps] + ps.children(recursive=True)
            peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
        except psutil.Error:
            pass
        if time_limit and time.perf_counter() - t0 > time_limit:
            proc.kill()
            break
        time.sleep(0.2)
    proc.wait()
    reader.join(timeout=5)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
    return dict(seconds=time.perf_counter() - t0, cpu_s=cpu, peak_gb=peak / 1e9, rc=proc.returncode,
                output="".join(lines))


def steatosis(*args) -> list[str]:
    return [sys.executable, "-c", "import sys; from napari_steatosis.cli import main; sys.exit(main())", *args]


def read_csv(path: Path) -> list[dict]:
    import csv

    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def jaccard(a, b) -> float:
    inter, union = np.count_nonzero(a & b), np.count_nonzero(a | b)
    return inter / union if union else 1.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=30000)
    ap.add_argument("--methods", default="fibrosis,classical,unet")
    ap.add_argument("--tiles", type=int, default=4)
    ap.add_argument("--work", default="bench-slide")
    ap.add_argument("--big-limit", type=float, default=None,
                    help="stop a run on the big slide after this many seconds (its peak so far is still reported)")
    ap.add_argument("--predict-4096", action="store_true")
    a = ap.parse_args()
    if a.side < 8400:
        ap.error("--side must be at least 8400: the tiles are cut from the lower half, 1024 px clear of the border")
    from napari_steatosis.data.images import write_image
    from napari_steatosis.data.slides import open_slide

    work = Path(a.work)
    work.mkdir(exist_ok=True)
    sides = {"big": a.side, "small": a.side // 2}
    for name, side in sides.items():
        path = work / name / "slide.ome.tif"
        if not path.is_file():
            r = run_measured(steatosis("sample", str(work / name), "--slide", f"{side}x{side}", "--seed", "1"))
            print(f"wrote {side}x{side} slide in {r['seconds']:.0f} s, peak {r['peak_gb']:.2f} GB "
                  f"({path.stat().st_size / 1e6:.0f} MB)", flush=True)
    tiles_dir = work / "tiles"
    origins = []
    with open_slide(work / "big" / "slide.ome.tif") as s:
        H, W = s.shape
        rng = np.random.default_rng(0)
        while len(origins) < a.tiles:  # tissue: the lower half, clear of the border
            r, c = int(rng.integers(H // 2 + 1024, H - TILE - 1024)), int(rng.integers(1024, W - TILE - 1024))
            r, c = r // 16 * 16, c // 16 * 16
            origins.append((r, c))
        if not tiles_dir.is_dir():
            tiles_dir.mkdir()
            for k, (r, c) in enumerate(origins):
                write_image(tiles_dir / f"tile{k}.png", s.read(r, c, r + TILE, c + TILE))
        write_image(work / "tiny.png", s.read(H // 2 + 1024, 1024, H // 2 + 1088, 1088))
    truth = open_slide(work / "big" / "truth" / "slide.steatosis.ome.tif", warn_no_mpp=False)

    model = None
    if "classical" in a.methods:
        model = work / "classical.skops"
        if not model.is_file():
            subprocess.run(steatosis("sample", str(work / "ds"), "--patients", "6", "--per-patient", "2",
                                     "--size", "512x640", "--seed", "5"), check=True, capture_output=True)
            subprocess.run(steatosis("train-classical", str(work / "ds"), "--out", str(model), "--n-iter", "4"),
                           check=True, capture_output=True)

    print(f"\nslides {a.side}^2 ({a.side**2 / 1e8:.1f}e8 px) and {a.side // 2}^2 (1/4 of the area); "
          f"{a.tiles} tiles of {TILE}^2 in memory; {psutil.cpu_count()} CPUs", flush=True)
    for method in filter(None, a.methods.split(",")):  # --methods "": only --predict-4096
        if method == "fibrosis":
            cmd = lambda inp, out: steatosis("fibrosis", str(inp), "--out", str(out))  # noqa: E731
            table, px_key = "fibrosis.csv", "tissue_px"
        else:
            extra = ["--method", method] + (["--model", str(model)] if method == "classical" else [])
            cmd = lambda inp, out, e=extra: steatosis("quantify", str(inp), "--out", str(out), *e,  # noqa: E731
                                                    "--fibrosis", "trichrome")
            table, px_key = "per_image.csv", "tissue_px"
        start = run_measured(cmd(work / "tiny.png", work / f"out-{method}-tiny"))
        res = {}
        for name in ("small", "big"):
            out = work / f"out-{method}-{name}"
            limit = a.big_limit if name == "big" else None
            r = run_measured(cmd(work / name / "slide.ome.tif", out), limit)
            if r["rc"] != 0:
                print(f"  {method} on the {name} slide stopped (rc {r['rc']}) after {r['seconds']:.0f} s, "
                      f"peak {r['peak_gb']:.2f} GB so far", flush=True)
                res[name] = dict(r, mpx_s=float("nan"))
                continue
            tissue = sum(int(row[px_key]) for row in read_csv(out / table))
            res[name] = dict(r, tissue=tissue)
        r = run_measured(cmd(tiles_dir, work / f"out-{method}-tiles"))
        res["tiles"] = dict(r, tissue=a.tiles * TILE * TILE)
        for r in res.values():  # tissue Mpx per second, wall and CPU, start-up subtracted
            r["mpx_s"] = r.get("tissue", float("nan")) / 1e6 / max(r["seconds"] - start["seconds"], 1e-3)
            r["mpx_cpu_s"] = r.get("tissue", float("nan")) / 1e6 / max(r["cpu_s"] - start["cpu_s"], 1e-3)
        print(f"{method}: start-up {start['seconds']:.1f} s ({start['cpu_s']:.1f} s CPU), {start['peak_gb']:.2f} GB",
              flush=True)
        for name in ("small", "big", "tiles"):
            r = res[name]
            print(f"  {name:<6} {r['seconds']:7.1f} s  peak {r['peak_gb']:5.2f} GB  {r['mpx_s']:7.2f} Mpx/s on tissue, "
                  f"{r['mpx_cpu_s']:7.2f} Mpx per CPU-second")
        print(f"  peak big / small (4x area): {res['big']['peak_gb'] / max(res['small']['peak_gb'], 1e-9):.2f}  "
              f"throughput slide / tiles: {res['big']['mpx_s'] / res['tiles']['mpx_s']:.2f} (wall), "
              f"{res['big']['mpx_cpu_s'] / res['tiles']['mpx_cpu_s']:.2f} (CPU)", flush=True)
        if method != "fibrosis" and res["big"]["rc"] == 0:
            sz = open_slide(work / f"out-{method}-big" / "slide.steatosis.ome.tif", warn_no_mpp=False)
            js, jt = [], []
            from napari_steatosis.data.images import read_mask

            for k, (r0, c0) in enumerate(origins):
                t = truth.read(r0, c0, r0 + TILE, c0 + TILE)[..., 0] > 0
                js.append(jaccard(sz.read(r0, c0, r0 + TILE, c0 + TILE)[..., 0] > 0, t))
                jt.append(jaccard(read_mask(work / f"out-{method}-tiles" / f"tile{k}.steatosis.png"), t))
            print(f"  Jaccard vs truth on the tiles' pixels: slide {np.mean(js):.4f}, tiles {np.mean(jt):.4f}", flush=True)

    if a.predict_4096:
        predict_4096(work)


def predict_4096(work: Path) -> None:
    """`steatosis predict` on one 4096^2 image (whole process) vs the paper's window in batches of 16."""
    import keras

    from napari_steatosis.data.images import read_image, write_image
    from napari_steatosis.unet.patches import prepare_image

    img_path = work / "img4096.png"
    if not img_path.is_file():
        from napari_steatosis.data.slides import open_slide

        with open_slide(work / "big" / "slide.ome.tif") as s:
            H, W = s.shape
            write_image(img_path, s.read(H // 2 + 512, 512, H // 2 + 512 + 4096, 512 + 4096))
    def median_run(cmd, env=None):  # the first run of a process also reads its libraries from disk
        runs = sorted((run_measured(cmd, env=env) for _ in range(3)), key=lambda m: m["seconds"])
        return runs[1]

    r = median_run(steatosis("predict", str(img_path), "--out", str(work / "out-predict")))
    rk = median_run(steatosis("predict", str(img_path), "--out", str(work / "out-predict-keras")),
                    env={"STEATOSIS_RUNTIME": "keras"})
    imp = median_run([sys.executable, "-c", "import keras"])
    print(f"\nsteatosis predict, one 4096^2 image, whole process (median of 3): {r['seconds']:.1f} s, peak "
          f"{r['peak_gb']:.2f} GB (OpenVINO); {rk['seconds']:.1f} s, peak {rk['peak_gb']:.2f} GB with "
          f"STEATOSIS_RUNTIME=keras (of which importing Keras/TensorFlow alone: {imp['seconds']:.1f} s)")
    from napari_steatosis.unet import default_model
    from napari_steatosis.unet.card import load_model
    from napari_steatosis.unet.complete import complete_to_white
    from napari_steatosis.unet.detector import Detector
    from napari_steatosis.unet.predict import inference, predict_probability

    t0 = time.perf_counter()
    det = Detector.load()
    pieces = dict(load=time.perf_counter() - t0)
    rgb = read_image(img_path)
    probs = []
    for s in det.scales:
        t0 = time.perf_counter()
        probs.append(predict_probability(det.model, rgb, det.tile, scale=s))
        pieces[f"network x{s:g}"] = time.perf_counter() - t0
    if det.complete_min_cover is not None:
        t0 = time.perf_counter()
        complete_to_white(np.maximum.reduce(probs) >= det.threshold, rgb, det.complete_min_cover)
        pieces["completion"] = time.perf_counter() - t0
    print(f"  in this process ({det.device}): " + ", ".join(f"{k} {v:.1f} s" for k, v in pieces.items()))
    padded = np.pad(prepare_image(rgb), ((60, 60 + 148), (60, 60 + 148), (0, 0)), mode="reflect")
    n = -(-4096 // 148)
    origins = [(i * 148, j * 148) for i in range(n) for j in range(n)]
    net = load_model(default_model.path())[0]
    paper = {}
    for name, run in (("Keras eager", lambda x: net(x, training=False)), ("Keras graph", inference(net)),
                      ("OpenVINO", det.model)):
        run(np.zeros((16, 268, 268, 3), np.float32))
        t0 = time.perf_counter()
        for k in range(0, len(origins), 16):
            batch = np.stack([padded[r:r + 268, c:c + 268] for r, c in origins[k:k + 16]]).astype(np.float32)
            keras.ops.convert_to_numpy(run(batch))
        paper[name] = time.perf_counter() - t0
    print("paper's 268 -> 148 window, batches of 16, inference only (model loaded): "
          + ", ".join(f"{k} {v:.1f} s" for k, v in paper.items()))
    print("ratio paper window / steatosis predict (whole process, OpenVINO): "
          + ", ".join(f"{paper[k] / r['seconds']:.2f}x ({k})" for k in paper)
          + f"; network x1 alone vs the window on the same runtime: {paper['OpenVINO'] / pieces['network x1']:.2f}x",
          flush=True)


if __name__ == "__main__":
    main()
