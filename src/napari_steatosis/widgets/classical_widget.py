"""Classical steatosis dock: train on point labels (dataset or current image), run on the image."""

from __future__ import annotations

import numpy as np
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..classical.model import CLASSIFIERS, load_classifier, save_classifier
from ..classical.pipeline import predict_steatosis, train_classical, train_on_image
from ..data.dataset import Dataset, PointLabels
from ..errors import SteatosisError
from .jobs import Job, guarded
from .layers import NOT_STEATOSIS_POINTS, STEATOSIS_POINTS, current_rgb_layer

RESULT_LAYER = "steatosis (classical)"


def _train_dataset(folder, kind, n_iter, progress=None, cancelled=None):
    return train_classical(Dataset.open(folder), kind, n_iter, progress=lambda s, d, t, sc: progress(d, t),
                           cancelled=cancelled)


def _train_image(rgb, points, kind, n_iter, progress=None, cancelled=None):
    return train_on_image(rgb, points, kind, n_iter, progress=lambda s, d, t, sc: progress(d, t), cancelled=cancelled)


class ClassicalWidget(QWidget):
    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
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
        self.readout = QLabel("")
        self.readout.setStyleSheet("font-weight: bold")

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(self.train_ds_btn)
        row.addWidget(self.train_img_btn)
        layout.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.progress)
        row.addWidget(self.cancel_btn)
        layout.addLayout(row)
        layout.addWidget(self.summary)
        row = QHBoxLayout()
        row.addWidget(self.load_btn)
        row.addWidget(self.save_btn)
        layout.addLayout(row)
        layout.addWidget(self.run_btn)
        layout.addWidget(self.readout)
        layout.addStretch(1)

        self.train_ds_btn.clicked.connect(lambda: self.train_from_dataset())
        self.train_img_btn.clicked.connect(lambda: self.train_from_image())
        self.load_btn.clicked.connect(lambda: self.load())
        self.save_btn.clicked.connect(lambda: self.save())
        self.run_btn.clicked.connect(lambda: self.run())

    def _buttons(self):
        return [self.train_ds_btn, self.train_img_btn, self.run_btn, self.load_btn, self.save_btn]

    def _image(self):
        return current_rgb_layer(self.viewer)

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
        layer = self._image()
        rgb = np.asarray(layer.data)
        pts = PointLabels(*(np.asarray(self.viewer.layers[n].data)[:, -2:] if n in self.viewer.layers else []
                            for n in (STEATOSIS_POINTS, NOT_STEATOSIS_POINTS)))
        if not len(pts.positive) or not len(pts.negative):
            raise SteatosisError(f"add points to both '{STEATOSIS_POINTS}' and '{NOT_STEATOSIS_POINTS}' first")
        self.job = Job(_train_image, rgb, pts, self.classifier.currentText(), min(self.n_iter.value(), 100),
                       on_done=self.set_model, disable=self._buttons(), desc="Training classical model",
                       progress_bar=self.progress, cancel_button=self.cancel_btn)
        return self.job

    def set_model(self, model) -> None:
        self.model = model
        s = model.summary
        top = ", ".join(f"{k} {v:.3f}" for k, v in list(s.get("importances", {}).items())[:5])
        self.summary.setText(
            f"{model.classifier}: cross-validated F1 {s.get('cv_f1', float('nan')):.3f} ({s.get('cv', '')}, "
            f"{s.get('n_iter', '?')} settings) on {s.get('n_regions', '?')} regions "
            f"({s.get('n_positive', '?')} fat, {s.get('n_negative', '?')} not).\nMost important features: {top}")

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
        if self.model is None:
            raise SteatosisError("no model: train or load one first")
        layer = self._image()
        pred = predict_steatosis(self.model, np.asarray(layer.data))
        self.last_prediction = pred
        import pandas as pd  # noqa: PLC0415 (napari depends on pandas)

        features = pd.DataFrame([dict(index=0, probability=0.0, area_px=0, equivalent_diameter_px=0.0)]
                                + [dict(index=r["region"], probability=r["probability"], area_px=r["area_px"],
                                        equivalent_diameter_px=r["equivalent_diameter_px"]) for r in pred.table])
        if RESULT_LAYER in self.viewer.layers:
            self.viewer.layers.remove(RESULT_LAYER)
        self.viewer.add_labels(pred.labels, name=RESULT_LAYER, opacity=0.5, features=features)
        self.viewer.layers.selection.active = layer
        self.readout.setText(f"steatosis: {pred.percent:.2f} % of tissue, {len(pred.table)} regions")
