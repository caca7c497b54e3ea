"""Make the README screenshots from real napari windows.

Run under a virtual display: xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/make_screenshots.py
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


def settle(app, seconds=1.0):
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.02)


def shot(viewer, name):
    img = viewer.screenshot(canvas_only=False, flash=False)
    cv2.imwrite(str(OUT / name), cv2.cvtColor(img, cv2.COLOR_RGBA2BGR))
    print(f"wrote {OUT / name}")


def main() -> int:
    from qtpy.QtWidgets import QApplication

    OUT.mkdir(exist_ok=True)
    # 1. the demo: U-Net steatosis and fibrosis on a trichrome sample
    viewer, fibrosis, unet = open_viewer(show=True)
    app = QApplication.instance()
    viewer.window._qt_window.resize(1500, 900)
    while unet.run_process is not None:
        settle(app, 0.2)
    unet.parent().raise_()  # the U-Net tab in front
    settle(app, 1.5)
    shot(viewer, "demo.png")
    # 2. fibrosis tuned by ROC
    fibrosis.parent().raise_()
    job = fibrosis.tune_from_folder(str(sample_data_dir()))
    while not job.finished:
        settle(app, 0.2)
    for name in ("steatosis (U-Net)",):
        viewer.layers[name].visible = False
    settle(app, 1.5)
    shot(viewer, "fibrosis_widget.png")
    viewer.close()

    # 3. annotation on a copy of the sample dataset
    import napari

    from napari_steatosis.widgets.annotation_widget import AnnotationWidget

    with tempfile.TemporaryDirectory() as d:
        shutil.copytree(sample_data_dir(), Path(d) / "study")
        viewer = napari.Viewer(title="napari-steatosis annotation")
        w = AnnotationWidget(viewer)
        viewer.window.add_dock_widget(w, name="Annotation", area="right")
        viewer.window._qt_window.resize(1500, 900)
        w.open_dataset(str(Path(d) / "study"))
        w.step(1)
        settle(app, 1.0)
        viewer.reset_view()
        settle(app, 1.0)
        shot(viewer, "annotation_widget.png")
        viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
