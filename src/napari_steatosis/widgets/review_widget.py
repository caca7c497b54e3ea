"""Review dock: correct a detection with clicks, save it as the image's labels, retrain on it.

Start from a result of the current image (U-Net, classical or report). While reviewing, a
click on a detected vacuole rejects it; a click on a missed one adds it with the wand (the
whole white region around the click, ``wand.py``). "Accept" saves the corrected mask as the
image's steatosis labels (the image then counts as labelled); "Retrain with my corrections"
fine-tunes the U-Net on the dataset in a worker process (the U-Net dock's retrain panel).
"""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import QComboBox, QFormLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ..errors import SteatosisError
from ..preprocess import percent_of_tissue, tissue_mask
from ..wand import review_click
from ..workspace import Result
from .jobs import guarded, notify_error
from .qt_rows import WAND_TOLERANCE_LABEL, StatusLine, row_of, wand_tolerance_box
from .unet_run import steatosis_readout
from .workspace_view import plain_click, view_of

SOURCES = ("unet", "classical", "report")
START_HINT = "Run a detection (U-Net or classical tab), then start the review here."


def slide_hint(name: str) -> str:
    """Why a whole slide is not reviewed here, and the way that works: its region on screen as a dataset image."""
    return (f"{name} is a whole slide: to correct a detection on it, add the region on screen to a dataset "
            "(Annotate > Add visible region to the dataset), open that image from the table, run the U-Net or "
            "classical tab on it and review it here.")


class ReviewWidget(QWidget):
    def __init__(self, napari_viewer, retrain=None):
        super().__init__()
        self.viewer = napari_viewer
        self.view = view_of(napari_viewer)
        self.ws = self.view.ws
        self.retrain = retrain  # a RetrainPanel, for "Retrain with my corrections"
        self.mask: np.ndarray | None = None
        self._tissue = None
        self.counts = {"rejected": 0, "added": 0}

        self.source = QComboBox()
        self.source.addItems(SOURCES)
        self.tolerance = wand_tolerance_box()
        self.start_btn = QPushButton("Start review")
        self.accept_btn = QPushButton("Accept and save as labels")
        self.stop_btn = QPushButton("Stop")
        self.retrain_btn = QPushButton("Retrain with my corrections")
        for b in (self.accept_btn, self.stop_btn):
            b.setEnabled(False)
        self.status = StatusLine(START_HINT)
        help_text = QLabel("While reviewing: click a detected vacuole to reject it; click a missed one to add it "
                           "(the wand grows to its white region). Everything else is accepted.")
        help_text.setWordWrap(True)
        help_text.setStyleSheet("color: grey")

        form = QFormLayout()
        form.addRow("start from", self.source)
        form.addRow(WAND_TOLERANCE_LABEL, self.tolerance)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(row_of(self.start_btn, self.stop_btn))
        layout.addWidget(help_text)
        layout.addWidget(self.status)
        layout.addWidget(self.accept_btn)
        layout.addWidget(self.retrain_btn)
        layout.addStretch(1)

        self.start_btn.clicked.connect(lambda: self.start())
        self.stop_btn.clicked.connect(lambda: self.stop())
        self.accept_btn.clicked.connect(lambda: self.accept())
        self.retrain_btn.clicked.connect(lambda: self.retrain_with_corrections())
        self.ws.image_changed.connect(self._on_image)
        self._on_image(self.ws)

    def _on_image(self, ws) -> None:
        self.stop()
        if ws.multiscale:
            self.status.show_hint("slide", slide_hint(ws.name))
        else:  # back from a slide: the usual first step
            self.status.end_hint("slide", START_HINT)

    @property
    def reviewing(self) -> bool:
        return self.mask is not None

    @guarded
    def start(self):
        if self.ws.multiscale:
            raise SteatosisError(slide_hint(self.ws.name))
        result = self.ws.results.get(self.source.currentText())
        if result is None:
            have = ", ".join(m for m in SOURCES if m in self.ws.results) or "none yet"
            raise SteatosisError(f"no {self.source.currentText()} result on this image (results: {have})")
        self.mask = np.asarray(result.mask, bool).copy()
        self._tissue = tissue_mask(self.ws.rgb)
        self.counts = {"rejected": 0, "added": 0}
        if self.on_click not in self.viewer.mouse_drag_callbacks:
            self.viewer.mouse_drag_callbacks.append(self.on_click)
        self.accept_btn.setEnabled(True)
        self.stop_btn.setEnabled(True)
        self.start_btn.setEnabled(False)
        self._publish()

    def stop(self):
        if self.mask is not None:
            self.ws.clear_result("review")
        self.mask = None
        if self.on_click in self.viewer.mouse_drag_callbacks:
            self.viewer.mouse_drag_callbacks.remove(self.on_click)
        self.accept_btn.setEnabled(False)
        self.stop_btn.setEnabled(False)
        self.start_btn.setEnabled(True)

    def on_click(self, viewer, event):
        """napari mouse callback: a plain left click (no drag, no modifier) is a review click."""
        if self.reviewing:
            yield from plain_click(self.view, event, self.click)

    @guarded
    def click(self, point):
        """Reject the detection under ``point`` ``(row, col)``, or add the wand's region there."""
        if not self.reviewing:
            raise SteatosisError("start the review first")
        self.mask, what = review_click(self.mask, self.ws.rgb, point, self.tolerance.value(), within=self._tissue)
        self.counts[what] += 1
        self._publish()
        return what

    def _publish(self):
        pct = percent_of_tissue(self.mask & self._tissue, self._tissue)
        self.ws.set_result(Result("review", self.mask.copy(), pct, description="reviewed"))
        self.status.setText(f"{steatosis_readout(pct)} after {self.counts['rejected']} rejected and "
                            f"{self.counts['added']} added")

    @guarded
    def accept(self):
        """Save the corrected mask as the image's steatosis labels."""
        if not self.reviewing:
            raise SteatosisError("start the review first")
        self.ws.accept_as_labels(self.mask, "steatosis")
        name = self.ws.name
        self.stop()
        self.status.setText(f"saved as the steatosis labels of {name}: it now counts as labelled")

    @guarded
    def retrain_with_corrections(self):
        if self.retrain is None:
            raise SteatosisError("open the U-Net dock to retrain")
        if self.reviewing:
            notify_error(SteatosisError("the review is not accepted yet: accept it first, or stop it"))
            return None
        return self.retrain.retrain_with_corrections()
