"""One whole slide analysed in a worker process that reports as JSON lines (napari's "Run on the whole slide").

    python -m napari_steatosis.slide_worker SLIDE --out DIR --method unet|classical|none
        [--model M] [--threshold T] [--scale S|auto] [--fibrosis '{"hue_min": ...}'] [--block N]

It runs :func:`~napari_steatosis.slide_run.analyse_slide`, the path ``steatosis quantify``, ``predict``
and ``fibrosis`` take on a slide, so the files it writes (``<stem>.steatosis.ome.tif``,
``<stem>.fibrosis.ome.tif``, vacuole outlines and table) are theirs, written atomically.

stdout: ``{"event": "block", "done": k, "total": n}`` per level-0 block, then ``{"event": "done",
"numbers": {...}, "files": {name: path}}``, or ``{"event": "error", "message": ...}`` (exit code 2).
SIGTERM (napari's Cancel) stops it at the next block or output tile (``{"event": "cancelled"}``, exit code
130) and its temporary files are removed: no result file is left half written, and one from an earlier
run stays as it was. (Stopping between blocks, not at once, keeps a write in flight from landing in a
temporary folder already removed.)
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .errors import SteatosisError
from .measure import grade_name
from .worker_lines import emit, reported, scale_choice_text
from .words import count

METHODS = ("unet", "classical", "none")


def slide_summary(numbers: dict) -> str:
    """The per-slide numbers a dock shows: steatosis / fibrosis % of tissue, tissue area, vacuoles."""
    parts = []
    if "steatosis_pct" in numbers:
        pct = float(numbers["steatosis_pct"])
        parts.append(f"steatosis {pct:.2f} % of tissue ({grade_name(pct)})")
    if "fibrosis_pct" in numbers:
        parts.append(f"fibrosis {float(numbers['fibrosis_pct']):.2f} % of tissue")
    if "tissue_mm2" in numbers:
        parts.append(f"tissue {float(numbers['tissue_mm2']):.2f} mm²")
    else:
        parts.append(f"tissue {int(numbers.get('tissue_px', 0))} px (no pixel size)")
    if "n_vacuoles" in numbers:
        parts.append(count(int(numbers['n_vacuoles']), 'vacuole'))
        if numbers.get("n_vacuoles"):
            parts.append(f"{float(numbers.get('macro_share_pct', 0.0)):.0f} % of the fat macrovesicular")
    auto = scale_choice_text(numbers)  # --scale auto: the slide's one factor ('' with a number)
    if auto:
        parts.append(auto)
    return "Whole slide: " + ", ".join(parts)


def worker_args(slide, out, method: str, model=None, threshold=None, scale: float | str = 1.0,
                fibrosis: dict | None = None, block: int | None = None) -> list[str]:
    """The command-line arguments (after ``python``) of a worker for these settings (``scale``: a number,
    or "auto": one factor for the slide from its nuclei)."""
    if method not in METHODS:
        raise SteatosisError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    args = ["-m", "napari_steatosis.slide_worker", str(slide), "--out", str(out), "--method", method,
            "--scale", scale if scale == "auto" else f"{scale:g}"]
    if model:
        args += ["--model", str(model)]
    if threshold is not None:
        args += ["--threshold", f"{threshold:g}"]
    if fibrosis is not None:
        args += ["--fibrosis", json.dumps(fibrosis)]
    if block:
        args += ["--block", str(block)]
    return args


def _cancel_on_sigterm():
    """``cancelled()`` for the core: true once the process got SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    return stop.is_set


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m napari_steatosis.slide_worker")
    p.add_argument("slide")
    p.add_argument("--out", required=True)
    p.add_argument("--method", choices=METHODS, default="unet", help="steatosis method (none: fibrosis only)")
    p.add_argument("--model")
    p.add_argument("--threshold", type=float)
    from .cli import _scale  # noqa: PLC0415

    p.add_argument("--scale", type=_scale, default=1.0, help="U-Net: a number, or 'auto' (from the slide's nuclei)")
    p.add_argument("--fibrosis", help="fibrosis thresholds as JSON (FibrosisThresholds.to_dict())")
    p.add_argument("--block", type=int)
    a = p.parse_args(argv)
    cancelled = _cancel_on_sigterm()
    return reported(lambda: _run(a, cancelled))


def _run(a, cancelled) -> int:
    from .slide_blocks import MethodSpec  # noqa: PLC0415
    from .slide_run import analyse_slide  # noqa: PLC0415

    fibrosis = None
    if a.fibrosis:
        try:
            fibrosis = json.loads(a.fibrosis)
        except ValueError as exc:
            raise SteatosisError(f"--fibrosis: not JSON ({exc})") from exc
    steatosis = None if a.method == "none" else a.method
    if steatosis is None and fibrosis is None:
        raise SteatosisError("nothing to run: --method none needs --fibrosis")
    if steatosis == "unet":
        from .unet import quiet_tensorflow  # noqa: PLC0415

        quiet_tensorflow()
    spec = MethodSpec(steatosis, a.model, a.threshold, a.scale, fibrosis=fibrosis)
    res = analyse_slide(a.slide, a.out, spec, vacuoles=steatosis is not None, block=a.block,
                        progress=lambda done, total: emit(event="block", done=done, total=total), cancelled=cancelled)
    files = {k: str(v) for k, v in res.pop("files").items()}
    emit(event="done", numbers=res, files=files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
