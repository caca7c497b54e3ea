"""Report dock: quantify every image of a dataset in the background, then tables, plot and export.

The run is `steatosis quantify` in a subprocess (progress per image, Cancel stops it, napari
never freezes and never loads TensorFlow). Clicking an image row opens it with its mask.
"""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from qtpy.QtCore import QProcess
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..data.dataset import Dataset
from ..data.images import read_image, read_mask
from ..errors import SteatosisError
from .jobs import JsonLines, guarded, notify_error, notify_info

IMAGE_COLUMNS = ["image", "patient", "steatosis_pct", "n_vacuoles", "macro_share_pct", "median_diameter_px",
                 "fibrosis_pct"]
PATIENT_COLUMNS = ["patient", "n_images", "steatosis_pct", "steatosis_grade", "physician_steatosis_pct",
                   "physician_grade", "fibrosis_pct"]
OVERLAY = "steatosis (report)"


class _Item(QTableWidgetItem):
    """Sorts numbers as numbers."""

    def __lt__(self, other):
        try:
            return float(self.text()) < float(other.text())
        except ValueError:
            return self.text() < other.text()


def _fill(table: QTableWidget, rows: list[dict], columns: list[str]) -> None:
    cols = [c for c in columns if any(c in r for r in rows)]
    table.setSortingEnabled(False)
    table.setColumnCount(len(cols))
    table.setHorizontalHeaderLabels(cols)
    table.setRowCount(len(rows))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            v = r.get(c, "")
            table.setItem(i, j, _Item(Path(v).stem if c == "image" else str(v)))
    table.setSortingEnabled(True)
    table.resizeColumnsToContents()


class ReportWidget(QWidget):
    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.process: QProcess | None = None
        self.out_dir: Path | None = None
        self.per_image: list[dict] = []
        self.per_patient: list[dict] = []
        self._tmp = None

        self.dataset_edit = QLineEdit()
        self.dataset_edit.setPlaceholderText("dataset folder")
        self.browse_btn = QPushButton("…")
        self.method = QComboBox()
        self.method.addItems(["unet", "classical"])
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("model file (U-Net: empty = shipped default)")
        self.fibrosis = QComboBox()
        self.fibrosis.addItems(["none", "trichrome", "sirius-red"])
        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.dataset_edit)
        row.addWidget(self.browse_btn)
        form.addRow("dataset", row)
        form.addRow("method", self.method)
        form.addRow("model", self.model_edit)
        form.addRow("fibrosis", self.fibrosis)
        self.run_btn = QPushButton("Run on all images")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.image_table = QTableWidget()
        self.patient_table = QTableWidget()
        for t in (self.image_table, self.patient_table):
            t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415

        self.figure = Figure(figsize=(3.2, 3.0), dpi=90)
        self.canvas = FigureCanvasQTAgg(self.figure)
        tabs = QTabWidget()
        tabs.addTab(self.image_table, "per image")
        tabs.addTab(self.patient_table, "per patient")
        tabs.addTab(self.canvas, "vs physician")
        self.export_btn = QPushButton("Export CSV + GeoJSON…")
        self.export_btn.setEnabled(False)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(self.run_btn)
        row.addWidget(self.cancel_btn)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(tabs, 1)
        layout.addWidget(self.export_btn)

        self.browse_btn.clicked.connect(self._browse)
        self.run_btn.clicked.connect(lambda: self.run())
        self.cancel_btn.clicked.connect(self.cancel)
        self.export_btn.clicked.connect(lambda: self.export())
        self.image_table.cellClicked.connect(self.open_row)

    def _browse(self):
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder")
        if folder:
            self.dataset_edit.setText(folder)

    @guarded
    def run(self):
        if self.process is not None:
            raise SteatosisError("a report is already running")
        folder = self.dataset_edit.text().strip()
        if not folder:
            raise SteatosisError("choose a dataset folder")
        ds = Dataset.open(folder)
        method, model = self.method.currentText(), self.model_edit.text().strip()
        if method == "classical" and not model:
            raise SteatosisError("the classical method needs a model file (train one in the classical dock)")
        if model and not Path(model).is_file():
            raise SteatosisError(f"{model}: model file not found")
        self._tmp = tempfile.TemporaryDirectory(prefix="steatosis-report-")
        self.out_dir = Path(self._tmp.name)
        args = ["-m", "napari_steatosis.cli", "quantify", str(ds.root), "--out", str(self.out_dir), "--method", method,
                "--fibrosis", self.fibrosis.currentText(), "--json-progress"]
        if model:
            args += ["--model", model]
        proc = QProcess(self)
        proc.setProgram(sys.executable)
        proc.setArguments(args)
        self._events, self._errors, self._cancelled = JsonLines(), "", False
        proc.readyReadStandardOutput.connect(self._read)
        proc.readyReadStandardError.connect(
            lambda: setattr(self, "_errors", (self._errors + bytes(proc.readAllStandardError()).decode(
                errors="replace"))[-4000:]))
        proc.finished.connect(self._finished)
        self.process = proc
        self.run_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.progress.setVisible(True)
        self.progress.setRange(0, len(ds))
        self.progress.setValue(0)
        self.status.setText(f"measuring {len(ds)} images with the {method} method…")
        proc.start()
        return proc

    def cancel(self):
        if self.process is not None:
            self._cancelled = True
            self.process.kill()

    def _read(self):
        for ev in self._events.feed(self.process.readAllStandardOutput()):
            if ev.get("event") == "image":
                self.progress.setRange(0, ev["total"])
                self.progress.setValue(ev["done"])

    def _finished(self, code, status=None):
        self.process = None
        self.run_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)
        self.progress.setVisible(False)
        if self._cancelled:
            self.status.setText("cancelled")
            notify_info("report cancelled")
            return
        if code != 0:
            last = [l for l in self._errors.splitlines() if l.strip()][-1:] or [f"exit code {code}"]
            self.status.setText(f"failed: {last[0]}")
            notify_error(SteatosisError(last[0]))
            return
        self.load_results(self.out_dir)

    def load_results(self, folder: Path) -> None:
        with open(folder / "per_image.csv", newline="") as fh:
            self.per_image = list(csv.DictReader(fh))
        with open(folder / "per_patient.csv", newline="") as fh:
            self.per_patient = list(csv.DictReader(fh))
        _fill(self.image_table, self.per_image, IMAGE_COLUMNS)
        _fill(self.patient_table, self.per_patient, PATIENT_COLUMNS)
        self._plot()
        self.export_btn.setEnabled(True)
        self.status.setText(f"{len(self.per_image)} images, {len(self.per_patient)} patients "
                            f"({self.per_image[0]['method'] if self.per_image else ''})")

    def _plot(self):
        from ..measure import r_squared  # noqa: PLC0415
        from ..plots import draw_patient_scatter  # noqa: PLC0415

        rows = [dict(patient=p["patient"], steatosis_pct=float(p["steatosis_pct"]),
                     physician_steatosis_pct=float(p["physician_steatosis_pct"]))
                for p in self.per_patient if p.get("physician_steatosis_pct", "") != ""]
        r2 = r_squared([r["steatosis_pct"] for r in rows], [r["physician_steatosis_pct"] for r in rows]) \
            if len(rows) >= 3 else None
        ax = self.figure.axes[0] if self.figure.axes else self.figure.add_subplot(111)
        draw_patient_scatter(ax, rows, None if r2 is None or np.isnan(r2) else r2)
        self.figure.tight_layout()
        self.canvas.draw_idle()

    @guarded
    def open_row(self, row: int, column: int = 0):
        stem = self.image_table.item(row, 0).text()
        rec = next(r for r in self.per_image if Path(r["image"]).stem == stem)
        rgb = read_image(rec["image"])
        mask = read_mask(self.out_dir / f"{stem}.steatosis.png", rgb.shape[:2])
        for name in (stem, OVERLAY):
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
        self.viewer.add_image(rgb, name=stem, rgb=True)
        self.viewer.add_labels(mask.astype(np.uint8), name=OVERLAY, opacity=0.45)

    @guarded
    def export(self, folder: str | None = None):
        if self.out_dir is None:
            raise SteatosisError("run a report first")
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Export the report to")
            if not folder:
                return
        dest = Path(folder)
        dest.mkdir(parents=True, exist_ok=True)
        n = 0
        for f in self.out_dir.iterdir():
            if f.suffix in (".csv", ".geojson", ".png"):
                shutil.copy2(f, dest / f.name)
                n += 1
        notify_info(f"exported {n} files to {dest}")
