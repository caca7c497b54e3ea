"""`steatosis demo`: the main job on the bundled sample data, in napari or headless."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .data.images import write_image, write_mask
from .data.tables import columns_of, write_table
from .fibrosis import fibrosis_mask, preset, tune_from_dataset
from .measure import image_measurements, patient_summary
from .plots import draw_overlay, save_roc_png
from .preprocess import tissue_mask
from .sample import sample_dataset


def display_available() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def run_headless(out: str | Path, progress=None) -> dict:
    """Steatosis (shipped U-Net) and fibrosis (ROC-tuned on the sample labels) on every sample image;
    overlays, masks and per-image and per-patient numbers written to ``out``."""
    from .quantify import steatosis_detector  # noqa: PLC0415

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = sample_dataset()
    tuning = tune_from_dataset(ds, preset("trichrome"))
    save_roc_png(tuning, out / "fibrosis_roc.png")
    detect, method = steatosis_detector("unet")
    rows = []
    records = list(ds.records)
    for k, rec in enumerate(records):
        rgb = ds.read_image(rec)
        stain = rec.extra.get("stain", "trichrome")
        tissue = tissue_mask(rgb)
        fat = detect(rgb)[0] & tissue
        fib = fibrosis_mask(rgb, tuning.thresholds, tissue) if stain == "trichrome" else None
        numbers, _ = image_measurements(fat, tissue, fib)
        masks = {"steatosis": fat, **({"fibrosis": fib} if fib is not None else {})}
        for kind, m in masks.items():
            write_mask(out / f"{rec.stem}.{kind}.png", m)
        write_image(out / f"{rec.stem}.overlay.png", draw_overlay(rgb, masks))
        rows.append(dict(image=rec.image, patient=rec.patient, stain=stain, **numbers))
        if progress:
            progress(k + 1, len(records))
    patients = patient_summary(rows, ds.physician_pct("steatosis"))
    write_table(out / "demo_results.csv", rows, columns_of(rows))
    write_table(out / "demo_patients.csv", patients, columns_of(patients))
    return dict(out=out, tuning=tuning, rows=rows, patients=patients, method=method)


def open_viewer(show: bool = True, run_unet: bool = True):
    """A napari viewer on the sample dataset (read-only) with the Steatosis dock, the U-Net run on the first image."""
    import napari  # noqa: PLC0415

    from .widgets.steatosis_dock import SteatosisDock  # noqa: PLC0415

    viewer = napari.Viewer(show=show, title="napari-steatosis demo")
    dock = SteatosisDock(viewer)
    viewer.window.add_dock_widget(dock, name="Steatosis", area="right")
    viewer.open_sample("napari-steatosis", "trichrome")
    for name in ("steatosis points", "not steatosis points", "steatosis mask"):
        if name in viewer.layers:
            viewer.layers[name].visible = False
    if run_unet:
        dock.show_tab("U-Net").run_panel.run()
    from qtpy.QtCore import QTimer  # noqa: PLC0415

    QTimer.singleShot(0, viewer.reset_view)  # once the dock has taken its width: the whole image in view, not its middle
    return viewer, dock
