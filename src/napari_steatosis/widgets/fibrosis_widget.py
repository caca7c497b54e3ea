"""Fibrosis dock: HSV sliders with a live overlay, % of tissue, ROC tuning from labels."""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ..fibrosis import FibrosisThresholds, preset, threshold_hsv, to_hsv, tune_from_dataset, tune_thresholds
from ..preprocess import percent_of_tissue, tissue_mask
from .jobs import guarded, run_job
from .layers import FIBROSIS_MASK, FIBROSIS_OVERLAY

_SLIDERS = (("hue_min", 179), ("hue_max", 179), ("sat_min", 255), ("val_min", 255), ("val_max", 255))
_OVERLAY_COLOURS = {0: "transparent", 1: "lime", None: "transparent"}


class FibrosisWidget(QWidget):
    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self._cache: tuple | None = None  # (layer, data id, normalize, hsv, tissue)
        self.last_tuning = None
        self.percent: float | None = None

        self.image_combo = QComboBox()
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(["trichrome", "sirius-red"])
        self.sliders: dict[str, QSlider] = {}
        self.value_labels: dict[str, QLabel] = {}
        form = QFormLayout()
        form.addRow("image", self.image_combo)
        form.addRow("stain preset", self.preset_combo)
        for name, top in _SLIDERS:
            s = QSlider(Qt.Horizontal)
            s.setRange(0, top)
            lab = QLabel()
            lab.setMinimumWidth(28)
            row = QHBoxLayout()
            row.addWidget(s)
            row.addWidget(lab)
            form.addRow(name.replace("_", " "), row)
            self.sliders[name], self.value_labels[name] = s, lab
        self.readout = QLabel("fibrosis: –")
        self.readout.setStyleSheet("font-weight: bold")
        self.tune_layer_btn = QPushButton("Tune from mask layer")
        self.tune_layer_btn.setToolTip(f"ROC-tune on the current image and its '{FIBROSIS_MASK}' layer")
        self.tune_ds_btn = QPushButton("Tune from dataset…")
        self.tune_ds_btn.setToolTip("ROC-tune on a dataset folder's fibrosis masks (held-out test patients scored)")
        self.tuning_label = QLabel("")
        self.tuning_label.setWordWrap(True)

        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415

        self.figure = Figure(figsize=(3.2, 2.8), dpi=90)
        self.roc_canvas = FigureCanvasQTAgg(self.figure)
        self.roc_canvas.setMinimumHeight(220)
        self.roc_canvas.setVisible(False)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.readout)
        buttons = QHBoxLayout()
        buttons.addWidget(self.tune_layer_btn)
        buttons.addWidget(self.tune_ds_btn)
        layout.addLayout(buttons)
        layout.addWidget(self.tuning_label)
        layout.addWidget(self.roc_canvas)
        layout.addStretch(1)

        self.set_thresholds(preset("trichrome"))
        for s in self.sliders.values():
            s.valueChanged.connect(self._on_slider)
        self.preset_combo.currentTextChanged.connect(self._on_preset)
        self.image_combo.currentTextChanged.connect(lambda _: self.update_overlay())
        self.tune_layer_btn.clicked.connect(self.tune_from_layer)
        self.tune_ds_btn.clicked.connect(lambda: self.tune_from_folder())
        self.viewer.layers.events.inserted.connect(self._refresh_images)
        self.viewer.layers.events.removed.connect(self._refresh_images)
        self._refresh_images()

    # ------------------------------------------------------------ state
    def thresholds(self) -> FibrosisThresholds:
        v = {n: s.value() for n, s in self.sliders.items()}
        return preset(self.preset_combo.currentText()).replace(
            hue_min=v["hue_min"], hue_max=v["hue_max"], sat_min=v["sat_min"],
            val_min=min(v["val_min"], v["val_max"]), val_max=v["val_max"])

    def set_thresholds(self, t: FibrosisThresholds) -> None:
        for name, s in self.sliders.items():
            s.blockSignals(True)
            s.setValue(getattr(t, name))
            s.blockSignals(False)
            self.value_labels[name].setText(str(getattr(t, name)))
        self.update_overlay()

    def image_layer(self):
        name = self.image_combo.currentText()
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def _refresh_images(self, event=None):
        from napari.layers import Image  # noqa: PLC0415

        current = self.image_combo.currentText()
        names = [l.name for l in self.viewer.layers if isinstance(l, Image) and l.rgb]
        self.image_combo.blockSignals(True)
        self.image_combo.clear()
        self.image_combo.addItems(names)
        if current in names:
            self.image_combo.setCurrentText(current)
        self.image_combo.blockSignals(False)
        if self.image_combo.currentText() != current:
            self.update_overlay()

    def _on_preset(self, name: str):
        self.set_thresholds(preset(name))

    def _on_slider(self, _value=None):
        for name, s in self.sliders.items():
            self.value_labels[name].setText(str(s.value()))
        self.update_overlay()

    def _hsv_and_tissue(self, layer, normalize: bool):
        key = (layer, id(layer.data), normalize)
        if self._cache is None or self._cache[:3] != key:
            rgb = np.asarray(layer.data)
            self._cache = (*key, to_hsv(rgb, normalize), tissue_mask(rgb))
        return self._cache[3], self._cache[4]

    # ------------------------------------------------------------ actions
    @guarded
    def update_overlay(self) -> None:
        """Re-threshold the current image and refresh the overlay and the % readout."""
        layer = self.image_layer()
        if layer is None:
            self.readout.setText("fibrosis: – (open an RGB image)")
            return
        t = self.thresholds()
        hsv, tissue = self._hsv_and_tissue(layer, t.normalize)
        mask = (threshold_hsv(hsv, t) & tissue).astype(np.uint8)
        self.percent = percent_of_tissue(mask > 0, tissue)
        self.readout.setText(f"fibrosis: {self.percent:.2f} % of tissue ({int(tissue.sum()):,} tissue px)")
        if FIBROSIS_OVERLAY in self.viewer.layers:
            overlay = self.viewer.layers[FIBROSIS_OVERLAY]
            if overlay.data.shape == mask.shape:
                overlay.data = mask
                return
            self.viewer.layers.remove(overlay)
        from napari.utils.colormaps import DirectLabelColormap  # noqa: PLC0415

        self.viewer.add_labels(mask, name=FIBROSIS_OVERLAY, opacity=0.55,
                               colormap=DirectLabelColormap(color_dict=_OVERLAY_COLOURS))
        self.viewer.layers.selection.active = layer

    @guarded
    def tune_from_layer(self):
        layer = self.image_layer()
        if layer is None:
            raise ValueError("open an RGB image first")
        if FIBROSIS_MASK not in self.viewer.layers:
            raise ValueError(f"no '{FIBROSIS_MASK}' layer: paint one, or tune from a dataset")
        mask = np.asarray(self.viewer.layers[FIBROSIS_MASK].data) > 0
        rgb = np.asarray(layer.data)
        if mask.shape != rgb.shape[:2]:
            raise ValueError(f"'{FIBROSIS_MASK}' is {mask.shape[1]}x{mask.shape[0]} px but the image is "
                             f"{rgb.shape[1]}x{rgb.shape[0]} px")
        base = preset(self.preset_combo.currentText())
        return run_job(tune_thresholds, [rgb], [mask], base, on_done=self.show_tuning,
                       disable=self._buttons(), desc="Tuning fibrosis thresholds")

    @guarded
    def tune_from_folder(self, folder: str | None = None):
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Dataset folder with fibrosis masks")
            if not folder:
                return None
        from ..data.dataset import Dataset  # noqa: PLC0415

        ds = Dataset.open(folder)
        base = preset(self.preset_combo.currentText())
        return run_job(tune_from_dataset, ds, base, on_done=self.show_tuning,
                       disable=self._buttons(), desc="Tuning fibrosis thresholds")

    def _buttons(self):
        return [self.tune_layer_btn, self.tune_ds_btn]

    def show_tuning(self, result) -> None:
        from ..plots import draw_roc  # noqa: PLC0415

        self.last_tuning = result
        self.set_thresholds(result.thresholds)
        held = ("not measured (no held-out image)" if result.heldout_jaccard is None
                else f"{result.heldout_jaccard:.3f} on {result.n_heldout} held-out images")
        self.tuning_label.setText(
            f"AUC {result.auc:.3f}; operating point: {result.criterion}; "
            f"Jaccard {result.train_jaccard:.3f} on {result.n_train} tuning images; held-out Jaccard {held}")
        ax = self.figure.axes[0] if self.figure.axes else self.figure.add_subplot(111)
        draw_roc(ax, result)
        self.figure.tight_layout()
        self.roc_canvas.setVisible(True)
        self.roc_canvas.draw_idle()
