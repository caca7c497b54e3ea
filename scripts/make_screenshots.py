"""Make the README screenshots from a real napari window.

Run under a virtual display: xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/make_screenshots.py
"""

from __future__ import annotations

import sys
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


def main() -> int:
    from qtpy.QtWidgets import QApplication

    viewer, widget = open_viewer(show=True)
    app = QApplication.instance()
    viewer.window._qt_window.resize(1500, 900)
    for name in ("steatosis points", "not steatosis points", "steatosis mask"):
        viewer.layers[name].visible = False
    worker = widget.tune_from_folder(str(sample_data_dir()))
    while worker.is_running:
        settle(app, 0.2)
    settle(app, 1.5)
    OUT.mkdir(exist_ok=True)
    shot = viewer.screenshot(canvas_only=False, flash=False)
    cv2.imwrite(str(OUT / "fibrosis_widget.png"), cv2.cvtColor(shot, cv2.COLOR_RGBA2BGR))
    print(f"wrote {OUT / 'fibrosis_widget.png'}")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
