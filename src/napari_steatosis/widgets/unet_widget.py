"""U-Net dock: run the network on the image (background, by tile, cancellable) and retrain it.

The network never runs in napari's own process: prediction runs in a worker process
(``napari_steatosis.unet.worker``) and training in ``steatosis train-unet``; TensorFlow and
Qt 6 in one process crash on some systems, and a process can be stopped at once.

Run shows the probability map (Image layer) and the thresholded mask (Labels layer); the
threshold slider re-thresholds without running the network again. Retrain runs the same
`steatosis train-unet` command in a subprocess (napari never freezes and Cancel really stops
it, keeping the best model so far), follows its JSON progress lines, plots loss and
validation Jaccard live, and offers "Use this model" at the end.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from qtpy.QtCore import QProcess, Qt
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..errors import SteatosisError
from ..preprocess import percent_of_tissue, tissue_mask
from .jobs import JsonLines, guarded, notify_error, notify_info
from .layers import current_rgb_layer

PROB_LAYER = "steatosis probability (U-Net)"
MASK_LAYER = "steatosis (U-Net)"
_MASK_COLOURS = {0: "transparent", 1: "orange", None: "transparent"}


def _model_card(path):
    from ..unet import default_model  # noqa: PLC0415 (no TensorFlow: reads the JSON card only)
    from ..unet.card import load_card  # noqa: PLC0415

    return load_card(path or default_model.path())


def _activity(desc: str):
    """napari's indeterminate activity indicator while a process works."""
    from napari.utils import progress  # noqa: PLC0415

    return progress(total=0, desc=desc)


class UNetWidget(QWidget):
    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.model_path: str | None = None  # None: the shipped default
        self.run_process: QProcess | None = None
        self._activity = None
        self.prob = self.tissue = None
        self.percent: float | None = None
        self.process: QProcess | None = None
        self.history: list[dict] = []
        self.trained_model: str | None = None

        # ---- run
        run_box = QGroupBox("Run")
        self.model_label = QLabel("model: shipped default")
        self.model_label.setWordWrap(True)
        self.load_btn = QPushButton("Load model…")
        self.default_btn = QPushButton("Use default")
        self.run_btn = QPushButton("Run on current image")
        self.cancel_run_btn = QPushButton("Cancel")
        self.cancel_run_btn.setEnabled(False)
        self.run_progress = QProgressBar()
        self.run_progress.setVisible(False)
        self.threshold = QSlider(Qt.Horizontal)
        self.threshold.setRange(1, 99)
        self.threshold.setValue(50)
        self.threshold_label = QLabel("0.50")
        self.readout = QLabel("")
        self.readout.setStyleSheet("font-weight: bold")
        self.device_label = QLabel("")
        self.scale = QDoubleSpinBox()
        self.scale.setRange(0.05, 4.0)
        self.scale.setSingleStep(0.1)
        self.scale.setValue(1.0)
        self.scale.setToolTip("resize the image by this factor before the network: below 1 for images at a higher "
                              "magnification than the model's (hepatocytes much larger than ~25-30 px)")
        lay = QVBoxLayout(run_box)
        lay.addWidget(self.model_label)
        row = QHBoxLayout()
        row.addWidget(self.load_btn)
        row.addWidget(self.default_btn)
        lay.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("scale"))
        row.addWidget(self.scale)
        row.addWidget(self.run_btn)
        row.addWidget(self.cancel_run_btn)
        lay.addLayout(row)
        lay.addWidget(self.run_progress)
        row = QHBoxLayout()
        row.addWidget(QLabel("threshold"))
        row.addWidget(self.threshold)
        row.addWidget(self.threshold_label)
        lay.addLayout(row)
        lay.addWidget(self.readout)
        lay.addWidget(self.device_label)

        # ---- retrain
        train_box = QGroupBox("Retrain")
        self.dataset_edit = QLineEdit()
        self.dataset_edit.setPlaceholderText("dataset folder")
        self.browse_btn = QPushButton("…")
        self.start_from = QComboBox()
        self.start_from.addItems(["shipped default", "model in Run", "scratch"])
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(30)
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.1, 10000)
        self.minutes.setValue(20)
        self.patches = QSpinBox()
        self.patches.setRange(1, 1000)
        self.patches.setValue(60)
        self.start_btn = QPushButton("Start")
        self.cancel_train_btn = QPushButton("Cancel")
        self.cancel_train_btn.setEnabled(False)
        self.use_btn = QPushButton("Use this model")
        self.use_btn.setEnabled(False)
        self.train_progress = QProgressBar()
        self.train_status = QLabel("")
        self.train_status.setWordWrap(True)
        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.dataset_edit)
        row.addWidget(self.browse_btn)
        form.addRow("dataset", row)
        form.addRow("start from", self.start_from)
        form.addRow("epochs", self.epochs)
        form.addRow("time budget (min)", self.minutes)
        form.addRow("patches per image", self.patches)
        lay = QVBoxLayout(train_box)
        lay.addLayout(form)
        row = QHBoxLayout()
        for b in (self.start_btn, self.cancel_train_btn, self.use_btn):
            row.addWidget(b)
        lay.addLayout(row)
        lay.addWidget(self.train_progress)
        lay.addWidget(self.train_status)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415

        self.figure = Figure(figsize=(3.2, 2.4), dpi=90)
        self.ax_loss = self.figure.add_subplot(111)
        self.ax_jac = self.ax_loss.twinx()
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(180)
        lay.addWidget(self.canvas)

        layout = QVBoxLayout(self)
        layout.addWidget(run_box)
        layout.addWidget(train_box)
        layout.addStretch(1)

        self.load_btn.clicked.connect(lambda: self.load_model())
        self.default_btn.clicked.connect(lambda: self.set_model_path(None))
        self.run_btn.clicked.connect(lambda: self.run())
        self.cancel_run_btn.clicked.connect(self.cancel_run)
        self.threshold.valueChanged.connect(lambda _: self.apply_threshold())
        self.browse_btn.clicked.connect(self._browse)
        self.start_btn.clicked.connect(lambda: self.start_training())
        self.cancel_train_btn.clicked.connect(self.cancel_training)
        self.use_btn.clicked.connect(lambda: self.set_model_path(self.trained_model))
        try:  # the shipped model's threshold from its card, quietly if it is missing
            self._apply_card(_model_card(None))
        except SteatosisError:
            pass

    # ------------------------------------------------------------------ run
    def set_model_path(self, path: str | None) -> None:
        self.model_path = path
        self.model_label.setText(f"model: {path or 'shipped default'}")
        card = {}
        try:
            card = _model_card(path)
        except SteatosisError as exc:
            notify_error(exc)
        self._apply_card(card)

    def _apply_card(self, card: dict) -> None:
        if "threshold" in card:
            self.threshold.setValue(int(round(100 * float(card["threshold"]))))
            vj = card.get("val_jaccard")
            self.model_label.setText(self.model_label.text() + (f" (validation Jaccard {vj:.3f})" if vj else ""))

    @guarded
    def load_model(self, path: str | None = None):
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "U-Net model", "", "Keras models (*.keras)")
            if not path:
                return
        if not Path(path).is_file():
            raise SteatosisError(f"{path}: model file not found")
        self.set_model_path(path)

    def _image(self):
        return current_rgb_layer(self.viewer)

    @guarded
    def run(self):
        """Predict the current image in a worker process (progress by tile, Cancel stops it)."""
        if self.run_process is not None:
            raise SteatosisError("a prediction is already running")
        layer = self._image()
        self._image_layer = layer
        rgb = np.asarray(layer.data)
        if rgb.dtype != np.uint8:
            raise SteatosisError(f"'{layer.name}' is {rgb.dtype}; the U-Net needs an 8-bit RGB image")
        self._tmp = tempfile.TemporaryDirectory(prefix="steatosis-unet-")
        src, out = Path(self._tmp.name) / "image.npy", Path(self._tmp.name) / "prob.npy"
        np.save(src, rgb, allow_pickle=False)
        self._run_tissue = tissue_mask(rgb)
        args = ["-m", "napari_steatosis.unet.worker", "--input", str(src), "--output", str(out),
                "--scale", f"{self.scale.value():g}"]
        if self.model_path:
            args += ["--model", self.model_path]
        proc = QProcess(self)
        proc.setProgram(sys.executable)
        proc.setArguments(args)
        self._run_events, self._run_error, self._run_out = JsonLines(), "", out
        proc.readyReadStandardOutput.connect(self._read_run)
        proc.finished.connect(self._run_finished)
        self.run_process = proc
        for b in (self.run_btn, self.load_btn, self.default_btn):
            b.setEnabled(False)
        self.cancel_run_btn.setEnabled(True)
        self.run_progress.setVisible(True)
        self.run_progress.setRange(0, 0)
        self._activity = _activity("U-Net prediction")
        proc.start()
        return proc

    def cancel_run(self):
        if self.run_process is not None:
            self._run_cancelled = True
            self.run_process.kill()

    def _read_run(self):
        for ev in self._run_events.feed(self.run_process.readAllStandardOutput()):
            if ev.get("event") == "device":
                self.device_label.setText(f"running on {ev['device']}")
                self._device = ev["device"]
            elif ev.get("event") == "tile":
                self.run_progress.setRange(0, ev["total"])
                self.run_progress.setValue(ev["done"])
            elif ev.get("event") == "error":
                self._run_error = ev["message"]

    def _run_finished(self, code, status=None):
        self._read_run()
        cancelled = getattr(self, "_run_cancelled", False)
        self.run_process, self._run_cancelled = None, False
        for b in (self.run_btn, self.load_btn, self.default_btn):
            b.setEnabled(True)
        self.cancel_run_btn.setEnabled(False)
        self.run_progress.setVisible(False)
        if self._activity is not None:
            self._activity.close()
        try:
            if cancelled:
                notify_info("U-Net prediction cancelled")
            elif code != 0 or not self._run_out.exists():
                notify_error(SteatosisError(self._run_error or f"U-Net prediction failed (exit code {code})"))
            else:
                self.prob = np.load(self._run_out, allow_pickle=False)
                self.tissue = self._run_tissue
                self._show()
        finally:
            self._tmp.cleanup()

    def _show(self):
        self.device_label.setText(f"ran on {getattr(self, '_device', '?')}")
        if PROB_LAYER in self.viewer.layers and self.viewer.layers[PROB_LAYER].data.shape == self.prob.shape:
            self.viewer.layers[PROB_LAYER].data = self.prob
        else:
            if PROB_LAYER in self.viewer.layers:
                self.viewer.layers.remove(PROB_LAYER)
            self.viewer.add_image(self.prob, name=PROB_LAYER, colormap="inferno", opacity=0.5,
                                  contrast_limits=(0, 1), blending="additive", visible=False)
        self.apply_threshold()
        self.viewer.layers.selection.active = self._image_layer

    def apply_threshold(self):
        t = self.threshold.value() / 100
        self.threshold_label.setText(f"{t:.2f}")
        if self.prob is None:
            return
        mask = (self.prob >= t) & self.tissue
        self.percent = percent_of_tissue(mask, self.tissue)
        data = mask.astype(np.uint8)
        if MASK_LAYER in self.viewer.layers and self.viewer.layers[MASK_LAYER].data.shape == data.shape:
            self.viewer.layers[MASK_LAYER].data = data
        else:
            if MASK_LAYER in self.viewer.layers:
                self.viewer.layers.remove(MASK_LAYER)
            from napari.utils.colormaps import DirectLabelColormap  # noqa: PLC0415

            self.viewer.add_labels(data, name=MASK_LAYER, opacity=0.45,
                                   colormap=DirectLabelColormap(color_dict=_MASK_COLOURS))
        self.readout.setText(f"steatosis: {self.percent:.2f} % of tissue (threshold {t:.2f})")

    # ------------------------------------------------------------------ retrain
    def _browse(self):
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder with steatosis masks")
        if folder:
            self.dataset_edit.setText(folder)

    def training_command(self, out: str) -> list[str]:
        from ..data.dataset import Dataset  # noqa: PLC0415

        folder = self.dataset_edit.text().strip()
        if not folder:
            raise SteatosisError("choose the dataset folder to train on")
        Dataset.open(folder)  # refuse a bad folder before starting anything
        args = ["-m", "napari_steatosis.cli", "train-unet", folder, "--out", out, "--epochs", str(self.epochs.value()),
                "--max-minutes", f"{self.minutes.value():g}", "--patches-per-image", str(self.patches.value())]
        start = self.start_from.currentText()
        if start == "shipped default":
            from ..unet import default_model  # noqa: PLC0415

            args += ["--init", str(default_model.path()), "--lr-grid", "1e-3,1e-4"]
        elif start == "model in Run":
            if not self.model_path:
                from ..unet import default_model  # noqa: PLC0415

                args += ["--init", str(default_model.path())]
            else:
                args += ["--init", self.model_path]
            args += ["--lr-grid", "1e-3,1e-4"]
        return args

    @guarded
    def start_training(self, out: str | None = None, extra: list[str] | None = None):
        if self.process is not None:
            raise SteatosisError("a training run is already going")
        if out is None:
            folder = Path(self.dataset_edit.text().strip() or ".")
            out = str(folder / "models" / f"unet-{time.strftime('%Y%m%d-%H%M%S')}.keras")
        args = self.training_command(out) + list(extra or [])
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        self.history, self.trained_model, self._out, self._train_events = [], None, out, JsonLines()
        self._errors = ""
        proc = QProcess(self)
        proc.setProgram(sys.executable)
        proc.setArguments(args)
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._finished)
        self.process = proc
        self.train_progress.setRange(0, 0)
        self.train_status.setText("starting…")
        self.start_btn.setEnabled(False)
        self.use_btn.setEnabled(False)
        self.cancel_train_btn.setEnabled(True)
        self._draw()
        proc.start()
        return proc

    def cancel_training(self):
        if self.process is not None:
            self.train_status.setText("cancelling: the best model so far is kept…")
            self.process.terminate()

    def _read_stderr(self):
        self._errors = (self._errors + bytes(self.process.readAllStandardError()).decode(errors="replace"))[-4000:]

    def _read_stdout(self):
        for ev in self._train_events.feed(self.process.readAllStandardOutput()):
            self._on_event(ev)

    def _on_event(self, ev: dict):
        kind = ev.get("event")
        if kind == "start":
            self.train_progress.setRange(0, self.epochs.value())
            self.train_progress.setValue(0)
            self.train_status.setText(f"training on {ev['train_images']} images, validating on {ev['val_images']}")
        elif kind == "lr_grid":
            self.train_status.setText(f"learning rate {ev['lr']:g}: validation Jaccard {ev['val_jaccard']:.3f}")
        elif kind == "epoch":
            self.history.append(ev)
            self.train_progress.setValue(ev["epoch"])
            self.train_status.setText(f"epoch {ev['epoch']}: loss {ev['loss']:.3f}, validation Jaccard "
                                      f"{ev['val_jaccard']:.3f} ({ev['seconds']:.0f} s)")
            self._draw()
        elif kind in ("done", "cancelled"):
            if ev.get("model") or (kind == "cancelled" and ev.get("best_epoch")):
                self.trained_model = self._out

    def _draw(self):
        self.ax_loss.clear()
        self.ax_jac.clear()
        if self.history:
            ep = [h["epoch"] for h in self.history]
            self.ax_loss.plot(ep, [h["loss"] for h in self.history], "o-", color="tab:blue", label="loss")
            self.ax_loss.plot(ep, [h["val_loss"] for h in self.history], "s--", color="tab:cyan", label="val loss")
            self.ax_jac.plot(ep, [h["val_jaccard"] for h in self.history], "^-", color="tab:red", label="val Jaccard")
            self.ax_jac.set_ylim(0, 1)
        self.ax_loss.set_xlabel("epoch")
        self.ax_loss.set_ylabel("loss")
        self.ax_jac.set_ylabel("validation Jaccard", color="tab:red")
        self.figure.tight_layout()
        self.canvas.draw_idle()

    def _finished(self, code, status=None):
        self._read_stdout()
        self.process = None
        self.start_btn.setEnabled(True)
        self.cancel_train_btn.setEnabled(False)
        self.train_progress.setRange(0, 1)
        self.train_progress.setValue(1 if self.trained_model else 0)
        if self.trained_model and Path(self.trained_model).is_file():
            self.use_btn.setEnabled(True)
            self.train_status.setText(f"saved {self.trained_model}")
            notify_info(f"U-Net training finished: {self.trained_model}")
        else:
            tail = self._errors.strip().splitlines()[-1:] or ["no model was written"]
            self.train_status.setText(f"training stopped: {tail[0]}")
            if code not in (0, 130):
                notify_error(SteatosisError(f"U-Net training failed: {tail[0]}"))
