"""Make the README screenshots from real napari windows, one per state of the Steatosis dock, and check the layout.

Run under a virtual display of the target screen size:

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/make_screenshots.py [--slide-only]

The window is 1600 x 1000 with the Steatosis dock open; after each state the script checks that
the window did not grow and that no dock is taller than the window, and exits 1 when one is.
``--slide-only`` makes only docs/unet_whole_slide.png (U-Net > Run on the whole slide on the bundled
slide, a minute or two on 2 cores), written with a 256-colour palette to keep it small.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2

from napari_steatosis.demo import open_viewer
from napari_steatosis.sample import sample_data_dir

OUT = Path(__file__).resolve().parents[1] / "docs"
SCREEN = (1600, 1000)


def settle(app, seconds=1.0):
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.02)


def check_layout(viewer, state: str) -> list[str]:
    """Problems: the window grew past the screen, or a dock is taller than the window."""
    problems = []
    _, _, width, height = viewer.window.geometry()
    if width > SCREEN[0] or height > SCREEN[1]:
        problems.append(f"{state}: the window grew to {width}x{height} px (screen {SCREEN[0]}x{SCREEN[1]})")
    for name, widget in viewer.window.dock_widgets.items():
        dock = widget.parent() if widget.parent() is not None else widget
        if dock.height() > height:
            problems.append(f"{state}: dock '{name}' is {dock.height()} px tall, the window {height} px")
        print(f"  {state}: dock '{name}' {dock.width()}x{dock.height()} px in a {width}x{height} window")
    return problems


def shot(viewer, name, state, problems, palette=False):
    img = viewer.screenshot(canvas_only=False, flash=False)
    if palette:  # a quarter of the bytes; max coverage keeps the dock's flat colours (legend, buttons) exact
        from PIL import Image

        Image.fromarray(img[..., :3]).quantize(256, method=Image.Quantize.MAXCOVERAGE, kmeans=1).save(OUT / name, optimize=True)
    else:
        cv2.imwrite(str(OUT / name), cv2.cvtColor(img, cv2.COLOR_RGBA2BGR))
    print(f"wrote {OUT / name}")
    problems += check_layout(viewer, state)


def wait(app, done, timeout=600):
    end = time.time() + timeout
    while not done():
        if time.time() > end:
            raise TimeoutError("a job did not finish")
        settle(app, 0.2)


def whole_slide(problems: list[str]) -> None:
    """The bundled slide opened in napari, U-Net > Run on the whole slide, its mask back over the slide."""
    import napari
    from qtpy.QtWidgets import QApplication

    from napari_steatosis.sample import sample_slide_path
    from napari_steatosis.widgets.steatosis_dock import SteatosisDock

    viewer = napari.Viewer(show=True, title="napari-steatosis demo")
    dock = SteatosisDock(viewer)
    viewer.window.add_dock_widget(dock, name="Steatosis", area="right")
    app = QApplication.instance()
    viewer.window.resize(*SCREEN)
    viewer.open(str(sample_slide_path()), plugin="napari-steatosis")
    panel = dock.show_tab("U-Net").run_panel.slide_panel
    with tempfile.TemporaryDirectory() as d:
        panel.run(out=str(Path(d) / "results"))
        wait(app, lambda: panel.job is None)
        viewer.reset_view()
        settle(app, 2.0)
        shot(viewer, "unet_whole_slide.png", "whole slide", problems, palette=True)
    viewer.close()


def dock_states(problems: list[str]) -> None:
    """The dock's tabs on the sample dataset, one screenshot per state."""
    from qtpy.QtWidgets import QApplication

    from napari_steatosis.cli import main as cli

    with tempfile.TemporaryDirectory() as d:
        study = Path(d) / "study"
        shutil.copytree(sample_data_dir(), study)
        viewer, dock = open_viewer(show=True, run_unet=False)
        app = QApplication.instance()
        viewer.window.resize(*SCREEN)
        settle(app, 1.0)

        # 1. annotation: the dataset table, labels as layers
        ann = dock.show_tab("Annotate")
        ann.open_dataset(str(study))
        ann.step(1)
        settle(app, 1.0)
        shot(viewer, "annotation_widget.png", "annotate", problems)

        # 2. the U-Net on the current image: probability and mask, the % and the grade
        run = dock.show_tab("U-Net").run_panel
        for name in ("steatosis points", "not steatosis points", "steatosis mask", "fibrosis mask"):
            viewer.layers[name].visible = False
        run.run()
        wait(app, lambda: run.job is None)
        settle(app, 1.0)
        shot(viewer, "demo.png", "unet", problems)

        # 3. review: one false detection rejected, one vacuole added with the wand
        review = dock.show_tab("Review")
        review.start()
        import numpy as np

        from napari_steatosis.wand import region_at

        mask = review.mask
        rows, cols = np.nonzero(mask)
        if len(rows):
            review.click((rows[0], cols[0]))
        truth = dock.ws.masks["steatosis"] > 0
        missed = truth & ~review.mask
        rows, cols = np.nonzero(missed)
        if len(rows):
            k = len(rows) // 2
            if region_at(missed, (rows[k], cols[k])) is not None:
                review.click((rows[k], cols[k]))
        settle(app, 1.0)
        shot(viewer, "review_widget.png", "review", problems)
        review.stop()

        # 4. fibrosis tuned by ROC on the dataset's masks
        fib = dock.show_tab("Fibrosis")
        viewer.layers["steatosis (U-Net)"].visible = False
        job = fib.tune_from_folder(str(study))
        wait(app, lambda: job.finished)
        settle(app, 1.0)
        shot(viewer, "fibrosis_widget.png", "fibrosis", problems)

        # 5. classical: a small model from the dataset's points, run on the image
        model = Path(d) / "classical.skops"
        cli(["train-classical", str(study), "--out", str(model), "--n-iter", "5"])
        classical = dock.show_tab("Classical")
        classical.load(str(model))
        job = classical.run()
        wait(app, lambda: job.finished)
        viewer.layers["fibrosis (threshold)"].visible = False
        settle(app, 1.0)
        shot(viewer, "classical_widget.png", "classical", problems)

        # 6. the report over the dataset, the physician comparison in front
        report = dock.show_tab("Report")
        report.method.setCurrentText("classical")
        report.model_edit.setText(str(model))
        report.fibrosis.setCurrentText("trichrome")
        job = report.run()
        wait(app, lambda: report.job is None)
        report.image_table.cellClicked.emit(0, 0)
        report.findChild(type(report.image_table.parent().parent())).setCurrentIndex(0)
        settle(app, 1.0)
        shot(viewer, "report_widget.png", "report", problems)
        report.findChild(type(report.image_table.parent().parent())).setCurrentIndex(2)
        settle(app, 1.0)
        shot(viewer, "report_physician.png", "report (physician)", problems)
        viewer.close()


def main() -> int:
    OUT.mkdir(exist_ok=True)
    problems: list[str] = []
    if "--slide-only" not in sys.argv[1:]:
        dock_states(problems)
    whole_slide(problems)
    for p in problems:
        print("LAYOUT PROBLEM:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
