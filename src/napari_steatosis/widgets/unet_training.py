"""U-Net retrain panel and its live training plot.

Training is ``steatosis train-unet`` in a subprocess (a :class:`~.jobs.ProcessJob`): napari
never freezes, and Cancel sends SIGTERM so the run stops cleanly and keeps the best epoch so
far. "Retrain with my corrections" fine-tunes the model of the Run panel on the workspace's
dataset (the images whose labels were corrected count as labelled).
"""

from __future__ import annotations

import time
from pathlib import Path

from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..errors import SteatosisError
from .jobs import ProcessJob, guarded, notify_error, notify_info
from .qt_rows import row_of
from .workspace_view import workspace_of
from ..words import count


class TrainingPlot(QWidget):
    """Loss and validation Jaccard per epoch; hidden until the first epoch (no empty axes)."""

    def __init__(self):
        super().__init__()
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415

        self.figure = Figure(figsize=(3.2, 2.2), dpi=90)
        self.ax_loss = self.figure.add_subplot(111)
        self.ax_jac = self.ax_loss.twinx()
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setMinimumHeight(160)
        self.canvas.setMaximumHeight(240)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.canvas)
        self.setVisible(False)

    def draw(self, history: list[dict]) -> None:
        self.ax_loss.clear()
        self.ax_jac.clear()
        if not history:
            self.setVisible(False)
            return
        ep = [h["epoch"] for h in history]
        self.ax_loss.plot(ep, [h["loss"] for h in history], "o-", color="tab:blue", label="training loss")
        self.ax_loss.plot(ep, [h["val_loss"] for h in history], "s--", color="tab:cyan", label="validation loss")
        self.ax_jac.plot(ep, [h["val_jaccard"] for h in history], "^-", color="tab:red", label="validation Jaccard")
        self.ax_jac.set_ylim(0, 1)
        self.ax_loss.set_xlabel("epoch")
        self.ax_loss.set_ylabel("loss")
        self.ax_jac.set_ylabel("validation Jaccard", color="tab:red")
        self.ax_loss.legend(loc="upper center", fontsize=7)
        self.figure.tight_layout()
        self.setVisible(True)
        self.canvas.draw_idle()


class RetrainPanel(QGroupBox):
    def __init__(self, napari_viewer, run_panel):
        super().__init__("Retrain")
        self.viewer = napari_viewer
        self.ws = workspace_of(napari_viewer)
        self.run_panel = run_panel
        self.job: ProcessJob | None = None
        self.history: list[dict] = []
        self.trained_model: str | None = None

        self.dataset_edit = QLineEdit()
        self.dataset_edit.setPlaceholderText("dataset folder (default: the open one)")
        self.browse_btn = QPushButton("…")
        self.start_from = QComboBox()
        self.start_from.addItems(["model in Run", "shipped default", "scratch"])
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(30)
        self.minutes = QDoubleSpinBox()
        self.minutes.setRange(0.1, 10000)
        self.minutes.setValue(20)
        self.validate_every = QDoubleSpinBox()  # epochs by time: a short run still gets a curve and a threshold
        self.validate_every.setRange(0.01, 60)
        self.validate_every.setDecimals(2)
        self.validate_every.setValue(2.5)
        self.validate_every.setToolTip("minutes of training between two validations on the val patients")
        self.corrections_btn = QPushButton("Retrain with my corrections")
        self.corrections_btn.setToolTip("fine-tune the Run panel's model on the open dataset, corrected labels included")
        self.start_btn = QPushButton("Start")
        self.cancel_train_btn = QPushButton("Cancel")
        self.cancel_train_btn.setEnabled(False)
        self.use_btn = QPushButton("Use this model")
        self.use_btn.setEnabled(False)
        self.train_progress = QProgressBar()
        self.train_progress.setVisible(False)
        self.train_status = QLabel("")
        self.train_status.setWordWrap(True)
        self.plot = TrainingPlot()
        form = QFormLayout()
        form.addRow("dataset", row_of(self.dataset_edit, self.browse_btn))
        form.addRow("start from", self.start_from)
        form.addRow("epochs", self.epochs)
        form.addRow("time budget (min)", self.minutes)
        form.addRow("validate every (min)", self.validate_every)
        lay = QVBoxLayout(self)
        lay.addWidget(self.corrections_btn)
        lay.addLayout(form)
        lay.addLayout(row_of(self.start_btn, self.cancel_train_btn, self.use_btn))
        lay.addWidget(self.train_progress)
        lay.addWidget(self.train_status)
        lay.addWidget(self.plot)

        self.browse_btn.clicked.connect(self._browse)
        self.start_btn.clicked.connect(lambda: self.start_training())
        self.corrections_btn.clicked.connect(lambda: self.retrain_with_corrections())
        self.use_btn.clicked.connect(lambda: self.run_panel.set_model_path(self.trained_model))

    @property
    def process(self):
        return self.job.process if self.job is not None else None

    def _browse(self):
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder with steatosis masks")
        if folder:
            self.dataset_edit.setText(folder)

    def dataset_folder(self) -> str:
        folder = self.dataset_edit.text().strip()
        if not folder and self.ws.dataset is not None:
            folder = str(self.ws.dataset.root)
        if not folder:
            raise SteatosisError("choose the dataset folder to train on (or open one in Annotation)")
        return folder

    def training_command(self, out: str) -> list[str]:
        from ..data.dataset import Dataset  # noqa: PLC0415
        from ..unet import default_model  # noqa: PLC0415
        from ..unet.train import FINE_TUNE_LR_GRID  # noqa: PLC0415 (no TensorFlow)

        folder = self.dataset_folder()
        Dataset.open(folder)  # refuse a bad folder before starting anything
        args = ["-m", "napari_steatosis.cli", "train-unet", folder, "--out", out, "--epochs", str(self.epochs.value()),
                "--max-minutes", f"{self.minutes.value():g}", "--validate-minutes", f"{self.validate_every.value():g}"]
        start = self.start_from.currentText()
        if start != "scratch":
            init = self.run_panel.model_path if start == "model in Run" and self.run_panel.model_path else None
            args += ["--init", init or str(default_model.path()), "--lr-grid", ",".join(f"{x:g}" for x in FINE_TUNE_LR_GRID)]
        return args

    @guarded
    def retrain_with_corrections(self, out: str | None = None, extra: list[str] | None = None):
        """Fine-tune the Run panel's model on the open dataset (the current labels saved first)."""
        if self.ws.dataset is None:
            raise SteatosisError("open the dataset whose labels you corrected first (Annotate > Open dataset)")
        if self.ws.read_only:
            raise SteatosisError("the open dataset is the bundled sample, which holds no corrections of yours: open "
                                 "your own dataset (Annotate > Open dataset)")
        self.ws.save_if_dirty()
        self.dataset_edit.setText(str(self.ws.dataset.root))
        self.start_from.setCurrentText("model in Run")
        return self.start_training(out, extra)

    @guarded
    def start_training(self, out: str | None = None, extra: list[str] | None = None):
        if self.job is not None:
            raise SteatosisError("a training run is already going")
        if out is None:
            folder = Path(self.dataset_folder())
            if self.ws.read_only and self.ws.dataset is not None and folder.resolve() == self.ws.dataset.root.resolve():
                raise SteatosisError(f"{folder} is the bundled sample (read-only): train on your own dataset folder")
            out = str(folder / "models" / f"unet-{time.strftime('%Y%m%d-%H%M%S')}.keras")
        args = self.training_command(out) + list(extra or [])
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        self.history, self.trained_model, self._out = [], None, out
        self.train_status.setText("starting…")
        self.use_btn.setEnabled(False)
        self.plot.draw([])
        self.job = ProcessJob(args, on_event=self._on_event, on_done=self._finished,
                              disable=(self.start_btn, self.corrections_btn), progress_bar=self.train_progress,
                              cancel_button=self.cancel_train_btn, desc="U-Net training", stop="terminate", parent=self)
        return self.job

    def cancel_training(self):
        if self.job is not None:
            self.train_status.setText("cancelling: the best model so far is kept…")
            self.job.cancel()

    def _on_event(self, ev: dict):
        kind = ev.get("event")
        if kind == "start":
            self.train_progress.setRange(0, self.epochs.value())
            self.train_progress.setValue(0)
            self.train_status.setText(f"training on {count(ev['train_images'], 'image')}, "
                                      f"validating on {ev['val_images']}")
        elif kind == "lr_grid":
            self.train_status.setText(f"learning rate {ev['lr']:g}: validation Jaccard {ev['val_jaccard']:.2f}")
        elif kind == "epoch":
            self.history.append(ev)
            self.train_progress.setRange(0, self.epochs.value())
            self.train_progress.setValue(ev["epoch"])
            self.train_status.setText(f"epoch {ev['epoch']}: loss {ev['loss']:.3f}, validation Jaccard "
                                      f"{ev['val_jaccard']:.2f} ({ev['seconds']:.0f} s)")
            self.plot.draw(self.history)
        elif kind in ("done", "cancelled"):
            if ev.get("model") or (kind == "cancelled" and ev.get("best_epoch")):
                self.trained_model = self._out

    def _finished(self, job: ProcessJob):
        self.job = None
        if self.trained_model and Path(self.trained_model).is_file():
            self.use_btn.setEnabled(True)
            self.train_status.setText(f"saved {self.trained_model}" + (" (cancelled: best epoch so far)"
                                                                       if job.cancelled else ""))
            notify_info(f"U-Net training finished: {self.trained_model}")
        else:
            tail = job.error or (job.last_error_line() if job.stderr_tail.strip() else "no model was written")
            self.train_status.setText(f"training stopped: {tail}")
            if job.error and not job.cancelled:
                notify_error(SteatosisError(f"U-Net training failed: {tail}"))
