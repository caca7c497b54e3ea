"""Fibrosis dock: HSV sliders with a live overlay, % of tissue, ROC tuning from labels.

Works on the workspace's current image; the overlay is the workspace's "fibrosis" result.
The stain is detected from colour statistics (``stain.py``): the dock says when the preset
does not fit the stain, that fibrosis is not measurable by hue on H&E, and refuses grey-scale.
Hue is shown in degrees with a colour swatch (OpenCV stores it as 0-179, half the degrees).
On a whole slide, "Run on visible region" reads the region on screen at level 0 (in the background) and
draws its mask over the slide (translated to where it was read); the sliders then re-threshold that region.
"Run on the whole slide" (:class:`~.slide_panel.WholeSlidePanel`) runs these thresholds over every tissue
block of the slide in a worker process and shows its pyramidal mask and fibrosis % of tissue.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ..errors import SteatosisError
from ..fibrosis import FibrosisThresholds, fibrosis_mask, preset, threshold_hsv, to_hsv, tune_from_dataset, tune_thresholds
from ..preprocess import percent_of_tissue, tissue_mask
from ..slide_region import read_region
from ..stain import detect_stain, preset_warning
from ..workspace import Result
from .jobs import guarded, run_job
from .layers import FIBROSIS_MASK, labels_colormap
from .qt_rows import row_of
from .slide_panel import WholeSlidePanel, show_region_layer
from .workspace_view import view_of, visible_region, workspace_of
from ..words import count

REGION_LAYER = "fibrosis (visible region)"

_SLIDERS = (("hue_min", 179), ("hue_max", 179), ("sat_min", 255), ("val_min", 255), ("val_max", 255))
_LABELS = {"hue_min": "hue from", "hue_max": "hue to", "sat_min": "saturation ≥", "val_min": "brightness ≥",
           "val_max": "brightness ≤"}


def _slider_text(name: str, value: int) -> str:
    """Hue in degrees with a swatch of that hue; saturation and brightness in %."""
    if name.startswith("hue"):
        from qtpy.QtGui import QColor  # noqa: PLC0415

        colour = QColor.fromHsv(min(2 * value, 359), 200, 230).name()
        return f"<span style='color:{colour}; font-size:14px'>■</span> {2 * value}°"
    return f"{round(100 * value / 255)} %"


def _read_visible(slide_path, region):
    """A slide region's pixels, tissue and stain (run off the GUI thread)."""
    from ..data.slides import open_slide  # noqa: PLC0415

    with open_slide(slide_path, warn_no_mpp=False) as slide:
        rgb = read_region(slide, region)
    return rgb, tissue_mask(rgb), detect_stain(rgb)


class FibrosisWidget(QWidget):
    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.ws = workspace_of(napari_viewer)
        self._cache: tuple | None = None  # (image, normalize, hsv, tissue)
        self.last_tuning = None
        self.percent: float | None = None
        self.stain = None
        self.live = True  # follow every image with an overlay; the Steatosis dock turns it on with the tab

        self.stain_label = QLabel("")
        self.stain_label.setWordWrap(True)
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("color: #d55e00; font-weight: bold")
        self.warning.setVisible(False)
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(["trichrome", "sirius-red"])
        self.sliders: dict[str, QSlider] = {}
        self.value_labels: dict[str, QLabel] = {}
        form = QFormLayout()
        form.addRow("stain preset", self.preset_combo)
        for name, top in _SLIDERS:
            s = QSlider(Qt.Horizontal)
            s.setRange(0, top)
            lab = QLabel()
            lab.setMinimumWidth(52)
            form.addRow(_LABELS[name], row_of(s, lab))
            self.sliders[name], self.value_labels[name] = s, lab
        self.region_btn = QPushButton("Run on visible region")
        self.region_btn.setToolTip("a whole slide on screen: fibrosis on its visible region at full resolution "
                                   "(at most 4096 x 4096 px); the sliders then follow that region")
        self.region_btn.setEnabled(False)
        self._region = None  # (rgb, tissue, Region, slide layer) of the last "Run on visible region"
        self.readout = QLabel("fibrosis: –")
        self.readout.setStyleSheet("font-weight: bold")
        self.readout.setWordWrap(True)
        self.tune_layer_btn = QPushButton("Tune from mask layer")
        self.tune_layer_btn.setToolTip(f"ROC-tune on the current image and its '{FIBROSIS_MASK}' layer")
        self.tune_ds_btn = QPushButton("Tune from dataset…")
        self.tune_ds_btn.setToolTip("ROC-tune on a dataset folder's fibrosis masks (held-out test patients scored)")
        self.tuning_label = QLabel("")
        self.tuning_label.setWordWrap(True)

        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415

        self.figure = Figure(figsize=(3.2, 2.6), dpi=90)
        self.roc_canvas = FigureCanvasQTAgg(self.figure)
        self.roc_canvas.setMinimumHeight(200)
        self.roc_canvas.setMaximumHeight(260)
        self.roc_canvas.setVisible(False)

        layout = QVBoxLayout(self)
        layout.addWidget(self.stain_label)
        layout.addWidget(self.warning)
        layout.addLayout(form)
        layout.addWidget(self.region_btn)
        layout.addWidget(self.readout)
        self.slide_panel = WholeSlidePanel(napari_viewer, "fibrosis", "fibrosis", "fibrosis",
                                           lambda: dict(method="none", fibrosis=self.thresholds().to_dict()))
        layout.addWidget(self.slide_panel)
        layout.addLayout(row_of(self.tune_layer_btn, self.tune_ds_btn))
        layout.addWidget(self.tuning_label)
        layout.addWidget(self.roc_canvas)
        layout.addStretch(1)

        self.set_thresholds(preset("trichrome"))
        for s in self.sliders.values():
            s.valueChanged.connect(self._on_slider)
        self.preset_combo.currentTextChanged.connect(self._on_preset)
        self.tune_layer_btn.clicked.connect(lambda: self.tune_from_layer())
        self.tune_ds_btn.clicked.connect(lambda: self.tune_from_folder())
        self.region_btn.clicked.connect(lambda: self.run_on_visible_region())
        self.ws.image_changed.connect(self._on_image)
        self._on_image(self.ws)

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
            self.value_labels[name].setText(_slider_text(name, getattr(t, name)))
        self.update_overlay()

    def set_live(self, live: bool) -> None:
        """Measure (stain, overlay) on every image change, or only once asked (a hidden tab costs nothing)."""
        if live and not self.live:
            self.live = True
            self._on_image(self.ws)
        self.live = live

    def _on_image(self, ws) -> None:
        self._cache = None
        self.stain = None
        self._region = None  # its layer went with the slide (tagged as a workspace result)
        self.region_btn.setEnabled(ws.multiscale)
        if not self.live:
            return
        if ws.image is not None and not ws.multiscale:
            self.stain = detect_stain(ws.rgb)
            self.stain_label.setText(f"stain: {self.stain.describe()}")
        else:
            self.stain_label.setText("")
        self._show_warning()
        self.update_overlay()

    def _show_warning(self) -> None:
        text = preset_warning(self.stain, self.preset_combo.currentText()) if self.stain is not None else None
        self.warning.setText(text or "")
        self.warning.setVisible(bool(text))

    def _on_preset(self, name: str):
        self._show_warning()
        self.set_thresholds(preset(name))

    def _on_slider(self, _value=None):
        for name, s in self.sliders.items():
            self.value_labels[name].setText(_slider_text(name, s.value()))
        self.update_overlay()

    def _hsv_and_tissue(self, rgb, normalize: bool):
        key = (id(rgb), normalize)
        if self._cache is None or self._cache[:2] != key:
            self._cache = (*key, to_hsv(rgb, normalize), tissue_mask(rgb))
        return self._cache[2], self._cache[3]

    # ------------------------------------------------------------ actions
    @guarded
    def update_overlay(self) -> None:
        """Re-threshold the current image and refresh the overlay and the % readout."""
        ws = self.ws
        if ws.multiscale and self._region is not None:
            self._show_region()
            return
        if ws.image is None or ws.multiscale:
            self.percent = None
            self.readout.setText("fibrosis: – (open an image)" if ws.image is None else
                                 "fibrosis: – (a whole slide: Run on visible region, or Run on the whole slide)")
            return
        if self.stain is not None and self.stain.stain == "greyscale":
            self.percent = None
            self.readout.setText("fibrosis: – (grey-scale image)")
            ws.clear_result("fibrosis")
            return
        t = self.thresholds()
        hsv, tissue = self._hsv_and_tissue(ws.rgb, t.normalize)
        mask = threshold_hsv(hsv, t) & tissue
        self.percent = percent_of_tissue(mask, tissue)
        caveat = " — not measurable on H&E" if self.stain is not None and self.stain.stain == "he" else ""
        self.readout.setText(f"Fibrosis: {self.percent:.1f} % of tissue{caveat}")
        ws.set_result(Result("fibrosis", mask, self.percent, kind="fibrosis",
                             description=f"fibrosis, {self.preset_combo.currentText()} thresholds"))

    @guarded
    def run_on_visible_region(self):
        """Fibrosis on the slide's region on screen (level 0), read in the background, drawn over the slide
        where it was read. Returns the job."""
        slide_path, region, layer = visible_region(view_of(self.viewer))
        image = self.ws.image
        return run_job(_read_visible, slide_path, region, on_done=lambda r: self._region_read(r, region, layer, image),
                       disable=[self.region_btn], desc="Reading the visible region")

    def _region_read(self, read, region, layer, image) -> None:
        if self.ws.image is not image:  # the user moved on while it was read
            return
        rgb, tissue, self.stain = read
        self.stain_label.setText(f"stain (visible region): {self.stain.describe()}")
        self._show_warning()
        self._region = (rgb, tissue, region, layer)
        self._show_region()

    def _show_region(self) -> None:
        rgb, tissue, region, slide_layer = self._region
        if self.stain is not None and self.stain.stain == "greyscale":
            self.percent = None
            self.readout.setText("fibrosis: – (grey-scale image)")
            return
        t = self.thresholds()
        mask = fibrosis_mask(rgb, t, tissue).astype(np.uint8)
        self.percent = percent_of_tissue(mask > 0, tissue)
        caveat = " — not measurable on H&E" if self.stain is not None and self.stain.stain == "he" else ""
        self.readout.setText(f"Fibrosis: {self.percent:.1f} % of tissue in the visible region{caveat} "
                             f"({region.message()})")
        show_region_layer(self.viewer, REGION_LAYER, mask, region, slide_layer, labels_colormap("fibrosis predicted"),
                          "result:region-fibrosis")

    @guarded
    def tune_from_layer(self):
        ws = self.ws
        if ws.image is None:
            raise SteatosisError("open an image first")
        mask = ws.masks.get("fibrosis")
        if mask is None or not np.any(mask):
            raise SteatosisError(f"'{FIBROSIS_MASK}' marks nothing: paint the collagen (key 4), or tune from a dataset")
        rgb = np.asarray(ws.rgb)
        mask = np.asarray(mask) > 0
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
                else f"{result.heldout_jaccard:.2f} on {count(result.n_heldout, 'held-out image')}")
        self.tuning_label.setText(
            f"AUC {result.auc:.2f}; operating point: {result.criterion}; "
            f"Jaccard {result.train_jaccard:.2f} on {count(result.n_train, 'tuning image')}; held-out Jaccard {held}")
        ax = self.figure.axes[0] if self.figure.axes else self.figure.add_subplot(111)
        draw_roc(ax, result)
        self.figure.tight_layout()
        self.roc_canvas.setVisible(True)
        self.roc_canvas.draw_idle()
