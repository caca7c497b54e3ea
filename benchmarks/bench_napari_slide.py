"""Opening a 10^9 px slide in napari: time to the first picture and memory while panning at level 0.

Run (a display is needed; xvfb is enough):
    xvfb-run -a nice python benchmarks/bench_napari_slide.py [--side 32000] [--work bench-napari] [--pans 8]

1. Writes a synthetic pyramidal OME-TIFF of SIDE x SIDE px (JPEG tiles, a quarter glass, no truth
   masks) unless it exists; checks the free disk space first.
2. In a fresh process: a shown napari viewer (as the tests' make_napari_viewer gives), then
   ``viewer.open(slide, plugin="napari-steatosis")``. The first picture is the first draw of the
   canvas after the layer was added, timed from the call to open; the picture is saved and checked
   to show the slide (not one flat colour).
3. Zooms to full resolution (one screen pixel per level-0 pixel) and pans to PANS places spread
   over the slide, waiting for the draw after each; prints the process RSS after the first picture,
   after the zoom and after each pan, and how many level-0 px the screen holds.
Targets (issue 9): first picture < 3 s; no growth in memory beyond the tiles on screen.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _wait_for_draw(app, draws: list, after: float, limit: float = 60.0) -> float | None:
    """Process Qt events until the canvas draws after ``after``; the time of that draw."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        app.processEvents()
        done = [t for t in draws if t > after]
        if done:
            return done[0]
        time.sleep(0.002)
    return None


def child(path: str, pans: int, shot: str) -> None:
    import numpy as np
    import psutil

    proc = psutil.Process()

    def rss() -> float:
        return proc.memory_info().rss / 1e9

    def say(**kw) -> None:
        print(json.dumps(kw), flush=True)

    import napari
    from qtpy.QtWidgets import QApplication

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    viewer.window._qt_window.resize(1400, 900)
    canvas = viewer.window._qt_viewer.canvas
    draws: list[float] = []
    canvas._scene_canvas.events.draw.connect(lambda event: draws.append(time.perf_counter()))
    _wait_for_draw(app, draws, 0.0, 10.0)
    for _ in range(50):
        app.processEvents()
    say(stage="viewer shown", rss_gb=rss())

    inserted: list[float] = []
    viewer.layers.events.inserted.connect(lambda event: inserted.append(time.perf_counter()))
    for attempt in ("cold", "warm"):  # cold: the first slide of a fresh napari (the reader's imports, pint)
        viewer.layers.clear()
        _wait_for_draw(app, draws, time.perf_counter(), 5.0)
        inserted.clear()
        t0, c0 = time.perf_counter(), time.process_time()
        layers = viewer.open(path, plugin="napari-steatosis")
        first = _wait_for_draw(app, draws, inserted[0]) if inserted else None  # the layer, its data sliced
        cpu = time.process_time() - c0
        layer = layers[0]
        say(stage=f"first picture ({attempt})", seconds=None if first is None else first - t0, cpu_seconds=cpu,
            rss_gb=rss(), level=int(layer.data_level), levels=len(layer.data), level0=list(layer.data[0].shape[:2]))
    img = viewer.screenshot(path=shot, canvas_only=True, flash=False)
    grey = np.asarray(img)[..., :3].astype(float).mean(axis=2)
    say(stage="screenshot", path=shot, grey_std=float(grey.std()))

    scale = float(layer.scale[-1])
    h, w = layer.data[0].shape[:2]
    viewer.camera.zoom = 1.0 / scale  # one screen px per level-0 px
    t = time.perf_counter()
    _wait_for_draw(app, draws, t)
    for _ in range(20):
        app.processEvents()
    cw, ch = canvas.size[1], canvas.size[0]
    say(stage="zoomed to level 0", rss_gb=rss(), level=int(layer.data_level), screen_px=cw * ch)
    rng = np.random.default_rng(0)
    for k in range(pans):
        r, c = rng.uniform(0.1, 0.9, 2) * (h, w)
        t = time.perf_counter()
        viewer.camera.center = (r * scale, c * scale)
        _wait_for_draw(app, draws, t)
        for _ in range(10):
            app.processEvents()
        say(stage=f"pan {k + 1}", rss_gb=rss(), level=int(layer.data_level))
    viewer.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=32000)
    ap.add_argument("--work", default="bench-napari")
    ap.add_argument("--pans", type=int, default=8)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.pans, str(Path(a.work) / "first_picture.png"))
        return
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"slide{a.side}.ome.tif"
    if not path.is_file():
        free = shutil.disk_usage(work).free
        need = a.side * a.side * 3 // 8  # JPEG tiles: well under 1/8 of the raw bytes, levels included
        if free < 2 * need:
            sys.exit(f"{work}: {free / 1e9:.1f} GB free, the slide needs about {need / 1e9:.1f} GB")
        from napari_steatosis.data.synthetic_slide import write_synthetic_slide

        t = time.perf_counter()
        write_synthetic_slide(path, (a.side, a.side), seed=1, truth=False)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s", flush=True)
    print(f"slide {a.side}x{a.side} ({a.side * a.side / 1e9:.2f}e9 px), {path.stat().st_size / 1e6:.0f} MB", flush=True)
    out = subprocess.run([sys.executable, __file__, "--child", str(path), "--work", str(work), "--pans", str(a.pans)],
                         capture_output=True, text=True)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not rows:
        sys.exit(f"the viewer process failed (rc {out.returncode}):\n{out.stderr[-3000:]}")
    for r in rows:
        print("  " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()))
    by = {r["stage"]: r for r in rows}
    cold, first, zoomed = by["first picture (cold)"], by["first picture (warm)"], by["zoomed to level 0"]
    pans = [r for r in rows if r["stage"].startswith("pan ")]
    grow = max(r["rss_gb"] for r in pans) - zoomed["rss_gb"] if pans else float("nan")
    print(f"first picture {cold['seconds']:.2f} s in a fresh napari ({cold['cpu_seconds']:.2f} s CPU), "
          f"{first['seconds']:.2f} s opened again ({first['cpu_seconds']:.2f} s CPU) (target < 3 s)")
    print(f"RSS {by['viewer shown']['rss_gb']:.2f} GB "
          f"with the viewer, {first['rss_gb']:.2f} GB at the first picture, {zoomed['rss_gb']:.2f} GB at level 0, "
          f"at most {grow * 1e3:+.0f} MB more over {len(pans)} pans at level 0 "
          f"(the screen holds {zoomed['screen_px'] * 3 / 1e6:.1f} MB of RGB)")


if __name__ == "__main__":
    main()
