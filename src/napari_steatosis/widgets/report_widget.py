"""Report dock: quantify every image of a dataset in the background, then tables, plot and export.

The run is `steatosis quantify` in a subprocess (a :class:`~.jobs.ProcessJob`: progress per
image, Cancel stops it, napari never freezes and never loads TensorFlow). Clicking an image
row makes it the workspace's current image (every dock follows; the previous image's labels
are saved first) with the report's mask as its "report" result.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
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
from ..data.images import read_mask
from ..errors import SteatosisError
from ..measure import GRADE_NAMES
from ..workspace import Result
from .jobs import ProcessJob, guarded, notify_error, notify_info
from .layers import RESULT_LAYERS
from .qt_rows import StatusLine, row_of
from .workspace_view import workspace_of
from ..words import count

IMAGE_COLUMNS = ["image", "patient", "steatosis_pct", "n_vacuoles", "macro_share_pct", "median_diameter_px",
                 "median_diameter_um", "fibrosis_pct", "stain"]  # µm and stain where quantify wrote them
PATIENT_COLUMNS = ["patient", "n_images", "steatosis_pct", "steatosis_grade", "physician_steatosis_pct",
                   "physician_grade", "fibrosis_pct"]
HEADERS = {  # what a pathologist reads instead of the CSV's column names
    "image": "image", "patient": "patient", "n_images": "images", "steatosis_pct": "Steatosis % of tissue",
    "n_vacuoles": "vacuoles", "macro_share_pct": "macrovesicular % of fat", "median_diameter_px": "median diameter (px)",
    "median_diameter_um": "median diameter (µm)", "stain": "stain (fibrosis on H&E: not measurable)",
    "fibrosis_pct": "Fibrosis % of tissue", "steatosis_grade": "grade", "physician_steatosis_pct": "physician %",
    "physician_grade": "physician grade",
}
OVERLAY = RESULT_LAYERS["report"][0]


def slide_hint(name: str) -> str:
    """What the report is for when a whole slide is on screen, and where that slide's own numbers come from."""
    return (f"{name} is a whole slide: its numbers come from Run on the whole slide (U-Net, Classical or Fibrosis "
            "tab). The report measures every image of a dataset folder: choose one.")


def _cell(column: str, value: str) -> str:
    """One decimal for percentages and sizes, named grades, image stems."""
    if value in ("", None):
        return ""
    if column == "image":
        return Path(value).stem
    if column.endswith("grade"):
        return GRADE_NAMES.get(int(float(value)), value)
    if column.endswith("_pct") or column.endswith("_px"):
        return f"{float(value):.1f}"
    return str(value)


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
    table.setHorizontalHeaderLabels([HEADERS.get(c, c) for c in cols])
    table.setRowCount(len(rows))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            table.setItem(i, j, _Item(_cell(c, r.get(c, ""))))
    table.setSortingEnabled(True)
    table.resizeColumnsToContents()


class ReportWidget(QWidget):
    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.ws = workspace_of(napari_viewer)
        self.job: ProcessJob | None = None
        self.out_dir: Path | None = None
        self.per_image: list[dict] = []
        self.per_patient: list[dict] = []
        self._tmp = None

        self.dataset_edit = QLineEdit()
        self.dataset_edit.setPlaceholderText("dataset folder (default: the open one)")
        self.browse_btn = QPushButton("…")
        self.method = QComboBox()
        self.method.addItems(["unet", "classical"])
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("model file (U-Net: empty = shipped default)")
        self.fibrosis = QComboBox()
        self.fibrosis.addItems(["none", "trichrome", "sirius-red"])
        form = QFormLayout()
        form.addRow("dataset", row_of(self.dataset_edit, self.browse_btn))
        form.addRow("method", self.method)
        form.addRow("model", self.model_edit)
        form.addRow("fibrosis", self.fibrosis)
        self.run_btn = QPushButton("Run on all images")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = StatusLine()
        self.image_table = QTableWidget()
        self.patient_table = QTableWidget()
        for t in (self.image_table, self.patient_table):
            t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415

        self.figure = Figure(figsize=(3.2, 4.4), dpi=90)
        self.canvas = FigureCanvasQTAgg(self.figure)
        tabs = QTabWidget()
        tabs.addTab(self.image_table, "per image")
        tabs.addTab(self.patient_table, "per patient")
        tabs.addTab(self.canvas, "vs physician")
        self.export_btn = QPushButton("Export CSV + GeoJSON…")
        self.export_btn.setEnabled(False)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(row_of(self.run_btn, self.cancel_btn))
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(tabs, 1)
        layout.addWidget(self.export_btn)

        self.browse_btn.clicked.connect(self._browse)
        self.run_btn.clicked.connect(lambda: self.run())
        self.export_btn.clicked.connect(lambda: self.export())
        self.image_table.cellClicked.connect(self.open_row)
        self.ws.image_changed.connect(self._on_image)
        self._on_image(self.ws)

    def _on_image(self, ws) -> None:
        if self.job is not None or self.per_image:
            return  # a report running or shown says more
        if ws.multiscale and ws.dataset is None:
            self.status.show_hint("slide", slide_hint(ws.name))
        else:
            self.status.end_hint("slide")

    def _browse(self):
        folder = QFileDialog.getExistingDirectory(self, "Dataset folder")
        if folder:
            self.dataset_edit.setText(folder)

    @property
    def process(self):
        return self.job.process if self.job is not None else None

    def dataset_folder(self) -> str:
        folder = self.dataset_edit.text().strip()
        if not folder and self.ws.dataset is not None:
            folder = str(self.ws.dataset.root)
        if not folder:
            raise SteatosisError(slide_hint(self.ws.name) if self.ws.multiscale else "choose a dataset folder")
        return folder

    @guarded
    def run(self):
        if self.job is not None:
            raise SteatosisError("a report is already running")
        ds = Dataset.open(self.dataset_folder())
        method, model = self.method.currentText(), self.model_edit.text().strip()
        if method == "classical" and not model:
            raise SteatosisError("the classical method needs a model file (train one in the classical dock)")
        if model and not Path(model).is_file():
            raise SteatosisError(f"{model}: model file not found")
        self._tmp = tempfile.TemporaryDirectory(prefix="steatosis-report-")
        self.out_dir, self.dataset_root = Path(self._tmp.name), ds.root
        args = ["-m", "napari_steatosis.cli", "quantify", str(ds.root), "--out", str(self.out_dir), "--method", method,
                "--fibrosis", self.fibrosis.currentText(), "--json-progress"]
        if model:
            args += ["--model", model]
        self.status.setText(f"measuring {count(len(ds), 'image')} with the {method} method…")
        self.job = ProcessJob(args, on_done=self._finished, disable=(self.run_btn,), progress_bar=self.progress,
                              cancel_button=self.cancel_btn, desc="Steatosis report", parent=self)
        return self.job

    def cancel(self):
        if self.job is not None:
            self.job.cancel()

    def _finished(self, job: ProcessJob):
        self.job = None
        if job.cancelled:
            self.status.setText("cancelled")
            notify_info("report cancelled")
            return
        if job.error:
            self.status.setText(f"failed: {job.error}")
            notify_error(SteatosisError(job.error))
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
        self.status.setText(f"{count(len(self.per_image), 'image')}, {count(len(self.per_patient), 'patient')} "
                            f"({self.per_image[0]['method'] if self.per_image else ''})")

    def _plot(self):
        from ..measure import r_squared  # noqa: PLC0415
        from ..plots import draw_bland_altman, draw_patient_scatter  # noqa: PLC0415

        rows = [dict(patient=p["patient"], steatosis_pct=float(p["steatosis_pct"]),
                     physician_steatosis_pct=float(p["physician_steatosis_pct"]))
                for p in self.per_patient if p.get("physician_steatosis_pct", "") != ""]
        r2 = r_squared([r["steatosis_pct"] for r in rows], [r["physician_steatosis_pct"] for r in rows]) \
            if len(rows) >= 3 else None
        if not self.figure.axes:
            self.figure.add_subplot(211)
            self.figure.add_subplot(212)
        draw_patient_scatter(self.figure.axes[0], rows, None if r2 is None or np.isnan(r2) else r2)
        draw_bland_altman(self.figure.axes[1], rows)
        self.figure.tight_layout()
        self.canvas.draw_idle()

    @guarded
    def open_row(self, row: int, column: int = 0):
        """Make the row's image the workspace's current image, with the report's mask as its result."""
        stem = self.image_table.item(row, 0).text()
        rec = next(r for r in self.per_image if Path(r["image"]).stem == stem)
        ws = self.ws
        if ws.dataset is None or Path(ws.dataset.root).resolve() != Path(self.dataset_root).resolve():
            ws.open_dataset(self.dataset_root, first=False)
        ws.open_record(stem)
        mask = read_mask(self.out_dir / f"{stem}.steatosis.png", ws.shape)
        pct = float(rec["steatosis_pct"]) if rec.get("steatosis_pct", "") != "" else None
        ws.set_result(Result("report", mask, pct, description=f"report ({rec.get('method', '')})"))

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
        notify_info(f"exported {count(n, 'file')} to {dest}")
