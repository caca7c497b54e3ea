"""Whole slides in the docks: "Run on the whole slide" as a background job, and results drawn on the slide.

:class:`WholeSlidePanel` runs ``python -m napari_steatosis.slide_worker`` (the block-by-block path of
``steatosis quantify/predict/fibrosis``) on the slide on screen through a :class:`~.jobs.ProcessJob`:
napari stays responsive, the progress bar counts level-0 blocks, Cancel stops the process (its
outputs are written atomically, so nothing half-written is left). The result, the written pyramidal
OME-TIFF, comes back as a multiscale labels layer read lazily, level by level, over the slide;
the per-slide numbers are shown under the button.

:func:`show_region_layer` draws a visible-region result (a level-0 crop) where it was read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from qtpy.QtWidgets import QFileDialog, QGroupBox, QLabel, QProgressBar, QPushButton, QVBoxLayout

from ..data.slides import image_stem
from ..errors import SteatosisError
from ..slide_region import region_translate
from ..slide_worker import slide_summary, worker_args
from .jobs import ProcessJob, guarded, notify_error, notify_info
from .layers import WORKSPACE_META, labels_colormap
from .qt_rows import row_of
from .workspace_view import slide_on_screen, view_of


def show_region_layer(viewer, name: str, data, region, slide_layer, colormap, tag: str):
    """``data`` (the region's labels) as a labels layer placed on ``slide_layer`` where ``region`` was read;
    a layer of that name at the same place gets the new data (a slider moved), else it is replaced."""
    scale = tuple(slide_layer.scale)[-2:]
    translate = region_translate(region, scale, tuple(slide_layer.translate)[-2:])
    old = next((l for l in viewer.layers if l.name == name), None)
    if old is not None and old.data.shape == data.shape and tuple(old.translate) == translate:
        old.colormap = colormap
        old.data = data
        return old
    if old is not None:
        viewer.layers.remove(old)
    layer = viewer.add_labels(data, name=name, scale=scale, translate=translate, units=tuple(slide_layer.units)[-2:],
                              opacity=0.6, colormap=colormap, metadata={WORKSPACE_META: tag})
    viewer.layers.selection.active = slide_layer
    return layer


def add_slide_result_layer(viewer, path, kind: str, name: str, slide_layer):
    """The pyramidal mask at ``path`` as a multiscale labels layer (every level, lazy) on ``slide_layer``
    (one lazy level when the result fits in one tile)."""
    from ..reader import slide_layer_data  # noqa: PLC0415

    ((data, kw, _),) = slide_layer_data(path)
    old = next((l for l in viewer.layers if l.name == name), None)
    if old is not None:
        close_slide_layer(viewer, old)
    layer = viewer.add_labels(data, name=name, multiscale=kw["multiscale"],
                              scale=tuple(slide_layer.scale)[-2:],
                              translate=tuple(slide_layer.translate)[-2:], units=tuple(slide_layer.units)[-2:],
                              colormap=labels_colormap(f"{kind} predicted"), opacity=0.6,
                              metadata={**kw["metadata"], WORKSPACE_META: f"result:slide-{kind}"})
    viewer.layers.selection.active = slide_layer
    return layer


def close_slide_layer(viewer, layer) -> None:
    """Remove a layer read from a slide file and close that file."""
    viewer.layers.remove(layer)
    slide = layer.metadata.get("slide")
    if slide is not None:
        slide.close()


class WholeSlidePanel(QGroupBox):
    """"Run on the whole slide" for one dock. ``settings()`` gives :func:`~..slide_worker.worker_args`'s
    ``method, model, threshold, scale, fibrosis`` from the dock (raising a SteatosisError when it cannot);
    ``kind`` ("steatosis" or "fibrosis") is the result shown; ``folder`` names the results' subfolder."""

    def __init__(self, napari_viewer, kind: str, folder: str, label: str, settings: Callable[[], dict]):
        super().__init__("Whole slide")
        self.viewer = napari_viewer
        self.view = view_of(napari_viewer)
        self.ws = self.view.ws
        self.kind, self.folder, self.label, self.settings = kind, folder, label, settings
        self.out_dir: str | None = None  # asked once, then kept
        self.block: int | None = None  # level-0 block side; None: the core's default
        self.job: ProcessJob | None = None
        self.numbers: dict | None = None
        self.layer = None

        self.run_btn = QPushButton("Run on the whole slide")
        self.run_btn.setToolTip("analyse every tissue block of the slide at full resolution in the background "
                                "(the same as `steatosis quantify` on it); the result is drawn over the slide and "
                                "written as a pyramidal OME-TIFF to a folder you choose")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.folder_btn = QPushButton("Results folder…")
        self.folder_btn.setToolTip("where whole-slide results are written (asked at the first run)")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.progress.setFormat("block %v of %m")
        self.readout = QLabel("")
        self.readout.setWordWrap(True)
        self.readout.setStyleSheet("font-weight: bold")
        lay = QVBoxLayout(self)
        lay.addLayout(row_of(self.run_btn, self.cancel_btn, self.folder_btn))
        lay.addWidget(self.progress)
        lay.addWidget(self.readout)
        self.run_btn.clicked.connect(lambda: self.run())
        self.folder_btn.clicked.connect(self.choose_folder)
        self.ws.image_changed.connect(self._on_image)
        self._on_image(self.ws)

    def _on_image(self, ws) -> None:
        self.setVisible(bool(ws.multiscale))
        self.run_btn.setEnabled(bool(ws.multiscale) and self.job is None)
        if self.job is None:
            self.readout.setText("")
            self.numbers = self.layer = None

    def _ask_folder(self) -> str | None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the whole-slide results")
        return folder or None

    def choose_folder(self) -> None:
        self.out_dir = self._ask_folder() or self.out_dir

    @guarded
    def run(self, out: str | None = None):
        if self.job is not None:
            raise SteatosisError("a whole-slide run is already going")
        slide_path, slide_layer = slide_on_screen(self.view)
        settings = self.settings()
        out = out or self.out_dir or self._ask_folder()
        if not out:
            return None
        target = Path(out) / self.folder
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SteatosisError(f"cannot write the whole-slide results to {target}: {exc.strerror}") from None
        self.out_dir = str(out)
        self._for = (slide_path, slide_layer)
        self.numbers = None
        self.readout.setText(f"running {self.label} on {slide_path.name}…")
        self.job = ProcessJob(worker_args(slide_path, target, block=self.block, **settings), on_done=self._done,
                              disable=(self.run_btn, self.folder_btn), progress_bar=self.progress, cancel_button=self.cancel_btn,
                              desc=f"{self.label} on the whole slide", stop="terminate", kill_after_s=10,
                              parent=self)
        return self.job

    def _done(self, job: ProcessJob) -> None:
        self.job = None
        slide_path, slide_layer = self._for
        if job.cancelled:
            self.readout.setText("whole-slide run cancelled: nothing written")
            notify_info(f"{self.label} on {slide_path.name} cancelled")
            return
        done = next((e for e in reversed(job.events) if e.get("event") == "done"), None)
        if job.error or done is None:
            self.readout.setText("")
            notify_error(SteatosisError(job.error or f"{self.label} on {slide_path.name} failed: no result"))
            return
        self.numbers = done["numbers"]
        path = done["files"][self.kind]
        text = f"{slide_summary(self.numbers)}\nwritten to {Path(path).parent}"
        self.readout.setText(text)
        if slide_layer not in self.viewer.layers:  # the user moved on: the files are there, not the layer
            notify_info(f"{self.label} on {slide_path.name} done; written to {Path(path).parent}")
            return
        self.layer = add_slide_result_layer(self.viewer, path, self.kind, self.layer_name(slide_path), slide_layer)

    def layer_name(self, slide_path) -> str:
        """``liver steatosis (U-Net, whole slide)``, ``liver fibrosis (whole slide)``."""
        method = "" if self.label == self.kind else f"{self.label}, "
        return f"{image_stem(slide_path)} {self.kind} ({method}whole slide)"

