"""Classical steatosis dock: train on point labels (dataset or current image), run on the image.

Training and the run are background jobs (progress bar, Cancel; napari never freezes). The run's
regions become the workspace's "classical" result, coloured by class and probability. On a whole
slide, "Run on visible region" predicts the level-0 region on screen in the background and draws it
over the slide where it was read; "Run on the whole slide" (:class:`~.slide_panel.WholeSlidePanel`)
runs the model over every tissue block in a worker process (the model goes to it as a .skops file).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..classical.model import CLASSIFIERS, load_classifier, save_classifier
from ..classical.pipeline import predict_steatosis, train_classical, train_on_image
from ..data.dataset import Dataset
from ..errors import SteatosisError
from ..stain import require_colour
from ..workspace import Result
from .jobs import Job, guarded
from .layers import NOT_STEATOSIS_POINTS, RESULT_LAYERS, STEATOSIS_POINTS, region_colormap
from .qt_rows import row_of
from .slide_panel import WholeSlidePanel, show_region_layer
from .unet_run import steatosis_readout
from .workspace_view import view_of, visible_region, workspace_of
from ..words import count, noun

RESULT_LAYER = RESULT_LAYERS["classical"][0]
REGION_LAYER = "steatosis (classical, visible region)"
TOP_FEATURES = 5


def _predict(model, rgb, progress=None, cancelled=None):
    """The classical prediction as a job; Cancel stops it within a few dozen regions (nothing is shown then)."""
    progress(0, 1)
    pred = predict_steatosis(model, rgb, cancelled=cancelled)
    progress(1, 1)
    return pred


def _predict_region(model, slide_path, region, progress=None, cancelled=None):
    """The classical prediction of a slide's level-0 region, read here (off the GUI thread)."""
    from ..data.slides import open_slide  # noqa: PLC0415
    from ..slide_region import read_region  # noqa: PLC0415

    with open_slide(slide_path, warn_no_mpp=False) as slide:
        rgb = read_region(slide, region)
    require_colour(rgb, f"{Path(slide_path).name} ({region.message()})")
    return _predict(model, rgb, progress, cancelled)


FEATURE_GROUPS = {  # classical/features.py's names, by what a pathologist would call them
    "outline shape": ("hu", "hull_dist", "circularity", "solidity", "eccentricity", "extent"),
    "roundness inside (inscribed disks)": ("inscribed_share", "thick_share"),
    "what fills its concavities": ("gap_",),
    "split from a larger white region": ("parent_share",),
    "size": ("log_area",),
    "inside the region (holes, texture)": ("hole_fraction", "inside_"),
    "the cytoplasm around it": ("ring_",),
    "cut by the image edge": ("touches_border",),
}


def feature_group(name: str) -> str:
    """The meaningful group of a feature name: 'hu1' -> 'outline shape'."""
    for group, prefixes in FEATURE_GROUPS.items():
        if name.startswith(prefixes):
            return group
    return name


def grouped_importances(importances: dict) -> list[tuple[str, float]]:
    """Importances summed per meaningful group, largest first, as shares of the total (negative ones count 0)."""
    sums: dict[str, float] = {}
    for name, value in importances.items():
        g = feature_group(name)
        sums[g] = sums.get(g, 0.0) + max(float(value), 0.0)
    total = sum(sums.values()) or 1.0
    return sorted(((g, v / total) for g, v in sums.items() if v > 0), key=lambda kv: -kv[1])


def _train_dataset(folder, kind, n_iter, progress=None, cancelled=None):
    return train_classical(Dataset.open(folder), kind, n_iter, progress=lambda s, d, t, sc: progress(d, t),
                           cancelled=cancelled)


def _train_image(rgb, points, kind, n_iter, progress=None, cancelled=None):
    return train_on_image(rgb, points, kind, n_iter, progress=lambda s, d, t, sc: progress(d, t), cancelled=cancelled)


class ClassicalWidget(QWidget):
    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.ws = workspace_of(napari_viewer)
        self.model = None
        self.last_prediction = None
        self.job: Job | None = None

        self.classifier = QComboBox()
        self.classifier.addItems(CLASSIFIERS)
        self.n_iter = QSpinBox()
        self.n_iter.setRange(1, 5000)
        self.n_iter.setValue(350)
        form = QFormLayout()
        form.addRow("classifier", self.classifier)
        form.addRow("settings to try", self.n_iter)
        self.train_ds_btn = QPushButton("Train from dataset…")
        self.train_img_btn = QPushButton("Train from this image's points")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.summary = QLabel("No model yet: train one, or load a saved one.")
        self.summary.setWordWrap(True)
        self.load_btn = QPushButton("Load model…")
        self.save_btn = QPushButton("Save model…")
        self.run_btn = QPushButton("Run on current image")
        self.region_btn = QPushButton("Run on visible region")
        self.region_btn.setToolTip("a whole slide on screen: the model on its visible region at full resolution "
                                   "(at most 4096 x 4096 px), drawn over the slide")
        self._model_file = None  # (model, TemporaryDirectory, path): the model saved for whole-slide workers
        self.run_cancel_btn = QPushButton("Cancel")
        self.run_cancel_btn.setEnabled(False)
        self.run_progress = QProgressBar()
        self.run_progress.setVisible(False)
        self.readout = QLabel("")
        self.readout.setStyleSheet("font-weight: bold")
        self.readout.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(row_of(self.train_ds_btn, self.train_img_btn))
        layout.addLayout(row_of(self.progress, self.cancel_btn))
        layout.addWidget(self.summary)
        layout.addLayout(row_of(self.load_btn, self.save_btn))
        layout.addLayout(row_of(self.run_btn, self.region_btn, self.run_cancel_btn))
        layout.addWidget(self.run_progress)
        layout.addWidget(self.readout)
        self.slide_panel = WholeSlidePanel(napari_viewer, "steatosis", "classical", "classical", self.slide_settings)
        layout.addWidget(self.slide_panel)
        layout.addStretch(1)

        self.train_ds_btn.clicked.connect(lambda: self.train_from_dataset())
        self.train_img_btn.clicked.connect(lambda: self.train_from_image())
        self.load_btn.clicked.connect(lambda: self.load())
        self.save_btn.clicked.connect(lambda: self.save())
        self.run_btn.clicked.connect(lambda: self.run())
        self.region_btn.clicked.connect(lambda: self.run_on_visible_region())
        self.ws.image_changed.connect(self._on_image)
        self._on_image(self.ws)

    def _on_image(self, ws) -> None:
        self.readout.setText("")
        self.region_btn.setVisible(bool(ws.multiscale))
        self.run_btn.setVisible(not ws.multiscale)

    def _buttons(self):
        return [self.train_ds_btn, self.train_img_btn, self.run_btn, self.region_btn, self.load_btn, self.save_btn]

    def slide_settings(self) -> dict:
        """The whole-slide worker's settings: this model, saved once to a temporary .skops file for it."""
        if self.model is None:
            raise SteatosisError("no model: train or load one first")
        if self._model_file is None or self._model_file[0] is not self.model:
            folder = tempfile.TemporaryDirectory(prefix="steatosis-classical-")
            path = save_classifier(self.model, Path(folder.name) / "classical.skops")
            self._model_file = (self.model, folder, path)
        return dict(method="classical", model=str(self._model_file[2]))

    @guarded
    def train_from_dataset(self, folder: str | None = None):
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Dataset folder with point labels")
            if not folder:
                return None
        Dataset.open(folder)  # a bad folder is reported now, not from the thread
        self.job = Job(_train_dataset, folder, self.classifier.currentText(), self.n_iter.value(),
                       on_done=self.set_model, disable=self._buttons(), desc="Training classical model",
                       progress_bar=self.progress, cancel_button=self.cancel_btn)
        return self.job

    @guarded
    def train_from_image(self):
        rgb = np.asarray(self.ws.rgb)
        pts = self.ws.points
        if not len(pts.positive) or not len(pts.negative):
            raise SteatosisError(f"add points to both '{STEATOSIS_POINTS}' and '{NOT_STEATOSIS_POINTS}' first")
        self.job = Job(_train_image, rgb, pts, self.classifier.currentText(), min(self.n_iter.value(), 100),
                       on_done=self.set_model, disable=self._buttons(), desc="Training classical model",
                       progress_bar=self.progress, cancel_button=self.cancel_btn)
        return self.job

    def set_model(self, model) -> None:
        self.model = model
        s = model.summary
        groups = [(g, share) for g, share in grouped_importances(s.get("importances", {})) if share >= 0.05]
        top = ", ".join(f"{g} {100 * share:.0f} %" for g, share in groups[:TOP_FEATURES])
        self.summary.setText(
            f"{model.classifier}: cross-validated F1 {s.get('cv_f1', float('nan')):.2f} ({s.get('cv', '')}, "
            f"{s.get('n_iter', '?')} {noun(s.get('n_iter'), 'setting')}) on {s.get('n_regions', '?')} "
            f"{noun(s.get('n_regions'), 'region')} "
            f"({s.get('n_positive', '?')} fat, {s.get('n_negative', '?')} not)."
            + (f"\nWhat it looks at: {top}" if top else ""))

    @guarded
    def load(self, path: str | None = None):
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Classical model", "", "skops models (*.skops)")
            if not path:
                return
        self.set_model(load_classifier(path))

    @guarded
    def save(self, path: str | None = None):
        if self.model is None:
            raise SteatosisError("no model to save: train or load one first")
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Save classical model", "classical.skops", "skops (*.skops)")
            if not path:
                return
        save_classifier(self.model, path)

    @guarded
    def run(self):
        """Predict the current image in a background job (progress, Cancel); the result goes to the workspace."""
        if self.model is None:
            raise SteatosisError("no model: train or load one first")
        if self.ws.multiscale:
            raise SteatosisError(f"{self.ws.name} is a whole slide: Run on visible region, or Run on the whole slide")
        rgb = np.asarray(self.ws.rgb)
        require_colour(rgb, self.ws.name)
        image = self.ws.image
        self.job = Job(_predict, self.model, rgb, on_done=lambda pred: self._show(pred, image),
                       disable=self._buttons(), desc="Classical steatosis", progress_bar=self.run_progress,
                       cancel_button=self.run_cancel_btn)
        return self.job

    @guarded
    def run_on_visible_region(self):
        """The model on the slide's level-0 region on screen (read and predicted in the background)."""
        if self.model is None:
            raise SteatosisError("no model: train or load one first")
        slide_path, region, layer = visible_region(view_of(self.viewer))
        image = self.ws.image
        self.job = Job(_predict_region, self.model, slide_path, region,
                       on_done=lambda pred: self._show_region(pred, image, region, layer), disable=self._buttons(),
                       desc="Classical steatosis (visible region)", progress_bar=self.run_progress,
                       cancel_button=self.run_cancel_btn)
        return self.job

    def _show_region(self, pred, image, region, slide_layer) -> None:
        if self.ws.image is not image:
            return
        self.last_prediction = pred
        probs = {r["region"]: r["probability"] for r in pred.table}
        show_region_layer(self.viewer, REGION_LAYER, pred.labels, region, slide_layer, region_colormap(probs),
                          "result:region-classical")
        self.readout.setText(f"{steatosis_readout(pred.percent)} in the visible region; "
                             f"{count(len(pred.table), 'vacuole')} "
                             f"({region.message()})")

    def _show(self, pred, image) -> None:
        if self.ws.image is not image:  # the user moved on while it ran
            return
        self.last_prediction = pred
        probs = {r["region"]: r["probability"] for r in pred.table}
        self.ws.set_result(Result("classical", pred.mask, pred.percent, regions=pred.labels, region_probability=probs,
                                  description=f"classical ({self.model.classifier})"))
        self.readout.setText(f"{steatosis_readout(pred.percent)}; {count(len(pred.table), 'vacuole')}")
