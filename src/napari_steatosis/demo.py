"""`steatosis demo`: the main job on the bundled sample data, in napari or headless."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .data.images import write_image, write_mask
from .data.tables import write_table
from .fibrosis import fibrosis_percent, preset, tune_from_dataset
from .overlay import draw_overlay
from .plots import save_roc_png
from .sample import sample_dataset


def display_available() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def run_headless(out: str | Path, progress=None) -> dict:
    """Tune fibrosis on the sample labels, measure every sample image, write overlays and numbers."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = sample_dataset()
    tuning = tune_from_dataset(ds, preset("trichrome"))
    save_roc_png(tuning, out / "fibrosis_roc.png")
    rows = []
    records = list(ds.records)
    for k, rec in enumerate(records):
        rgb = ds.read_image(rec)
        stain = rec.extra.get("stain", "trichrome")
        masks = {}
        fib_pct = ""
        if stain == "trichrome":
            fib, pct, tissue = fibrosis_percent(rgb, tuning.thresholds)
            masks["fibrosis"] = fib
            fib_pct = f"{pct:.3f}"
            write_mask(out / f"{rec.stem}.fibrosis.png", fib)
        write_image(out / f"{rec.stem}.overlay.png", draw_overlay(rgb, masks))
        rows.append(dict(image=rec.image, patient=rec.patient, stain=stain, fibrosis_pct=fib_pct))
        if progress:
            progress(k + 1, len(records))
    write_table(out / "demo_results.csv", rows, list(rows[0]))
    return dict(out=out, tuning=tuning, rows=rows)


def open_viewer(show: bool = True):
    """A napari viewer with a sample image, its labels and the plugin's widgets docked."""
    import napari  # noqa: PLC0415

    from .widgets.fibrosis_widget import FibrosisWidget  # noqa: PLC0415

    viewer = napari.Viewer(show=show, title="napari-steatosis demo")
    viewer.open_sample("napari-steatosis", "trichrome")
    widget = FibrosisWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Fibrosis", area="right")
    widget.update_overlay()
    return viewer, widget
