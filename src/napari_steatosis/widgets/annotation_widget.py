"""Annotation dock: a dataset's images in a table, point labels and painted masks, saved safely.

Shortcuts (in the viewer): 1 add steatosis points, 2 add not-steatosis points, 3 paint the
steatosis mask, 4 paint the fibrosis mask, 5 erase in the active mask, Ctrl+Shift+S save.
The dock is a view of the viewer's shared workspace (``workspace_view.workspace_of``): the
table and the layers follow the workspace's current image whichever dock changed it.
Saving happens on Save, when another image is opened (from any dock), when the dock is
closed and when napari is closed. Every write is atomic and checked first (shapes, points inside the image);
a refused save writes nothing and keeps what is on disk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtCore import QEvent
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QHeaderView,
    QInputDialog,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..data.dataset import MASK_KINDS, Dataset
from ..data.importers import import_mask, import_points
from ..errors import SteatosisError
from ..preprocess import tissue_mask
from ..slide_region import add_region_to_dataset
from ..wand import wand
from ..workspace import write_snapshot
from .jobs import Job, guarded, notify_error, notify_info
from .layers import STEATOSIS_MASK
from .qt_rows import WAND_TOLERANCE_LABEL, row_of, wand_tolerance_box
from .workspace_view import plain_click, view_of, visible_region
from ..words import count

COLUMNS = ["image", "patient", "split", "points +/−", "steatosis", "fibrosis", "saved"]
BACKGROUND_SAVE_PX = 16_000_000  # from 4000 x 4000 px on, Save writes in the background (progress, Cancel)
KEYS_HELP = "Keys: 1 fat points · 2 not-fat points · 3 paint fat · 4 paint fibrosis · 5 erase · Ctrl+Shift+S save"


def _save_quietly(ws) -> None:
    """The last chance to save (the widgets are gone): unsaved labels are written, a refusal is reported."""
    try:
        ws.save_if_dirty()
    except Exception as exc:  # noqa: BLE001
        notify_error(exc)


class AnnotationWidget(QWidget):
    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.view = view_of(napari_viewer)
        self.ws = self.view.ws

        self.open_btn = QPushButton("Open dataset…")
        self.new_btn = QPushButton("New from images…")
        self.add_btn = QPushButton("Add images…")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(150)
        self.prev_btn = QPushButton("◀ Previous")
        self.next_btn = QPushButton("Next ▶")
        self.save_btn = QPushButton("Save")
        self.save_progress = QProgressBar()
        self.save_progress.setVisible(False)
        self.save_cancel_btn = QPushButton("Cancel save")
        self.save_cancel_btn.setEnabled(False)
        self.save_cancel_btn.setVisible(False)
        self.save_job: Job | None = None
        self.brush = QSpinBox()
        self.brush.setRange(1, 200)
        self.brush.setValue(self.view.brush_size)
        self.wand_box = QCheckBox("Wand: a click fills a vacuole")
        self.wand_box.setToolTip("while on, a click adds the whole white region under it to the steatosis mask "
                                 "(as QuPath's wand); Ctrl+Z in the mask layer undoes")
        self.tolerance = wand_tolerance_box()
        self.import_mask_btn = QPushButton("Import mask…")
        self.import_points_btn = QPushButton("Import points…")
        self.add_region_btn = QPushButton("Add visible region to the dataset")
        self.add_region_btn.setToolTip("a whole slide on screen: its visible region at full resolution (at most "
                                       "4096 x 4096 px) becomes an image of the open dataset, to annotate")
        self.status = QLabel("Open a dataset folder, or make one from images.")
        self.status.setWordWrap(True)
        help_text = QLabel(KEYS_HELP)
        help_text.setWordWrap(True)
        help_text.setStyleSheet("color: grey")

        layout = QVBoxLayout(self)
        layout.addLayout(row_of(self.open_btn, self.new_btn, self.add_btn))
        layout.addWidget(self.table, 1)
        layout.addLayout(row_of(self.prev_btn, self.next_btn, self.save_btn))
        layout.addLayout(row_of(self.save_progress, self.save_cancel_btn))
        layout.addLayout(row_of(QLabel("brush"), self.brush, self.wand_box))
        layout.addLayout(row_of(QLabel(WAND_TOLERANCE_LABEL), self.tolerance))
        layout.addLayout(row_of(self.import_mask_btn, self.import_points_btn))
        layout.addWidget(self.add_region_btn)
        layout.addWidget(help_text)
        layout.addWidget(self.status)

        self.open_btn.clicked.connect(lambda: self.open_dataset())
        self.new_btn.clicked.connect(lambda: self.new_dataset())
        self.add_btn.clicked.connect(lambda: self.add_images())
        self.table.itemSelectionChanged.connect(self._on_select)
        self.prev_btn.clicked.connect(lambda: self.step(-1))
        self.next_btn.clicked.connect(lambda: self.step(1))
        self.save_btn.clicked.connect(lambda: self.save())
        self.brush.valueChanged.connect(self.view.set_brush_size)
        self.wand_box.toggled.connect(self._toggle_wand)
        self.import_mask_btn.clicked.connect(lambda: self.import_mask_file())
        self.import_points_btn.clicked.connect(lambda: self.import_points_file())
        self.add_region_btn.clicked.connect(lambda: self.add_visible_region())
        self.ws.dataset_changed.connect(self._on_dataset)
        self.ws.image_changed.connect(self._on_image)
        self.ws.dirty_changed.connect(self._on_dirty)
        self.ws.saved.connect(self._on_saved)
        self.view.bind_keys(self, save=self.save)
        self.destroyed.connect(lambda *_, ws=self.ws: _save_quietly(ws))  # napari closed with the dock open
        self._on_dataset(self.ws.dataset)
        self._on_image(self.ws)

    # ------------------------------------------------------------------ state, read from the workspace
    @property
    def dataset(self) -> Dataset | None:
        return self.ws.dataset

    @property
    def current(self):
        return self.ws.record

    @property
    def shape(self):
        return self.ws.shape

    @property
    def dirty(self) -> bool:
        return self.ws.dirty

    # ------------------------------------------------------------------ dataset
    @guarded
    def open_dataset(self, folder: str | None = None):
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Dataset folder (with dataset.csv)")
            if not folder:
                return
        ds = self.ws.open_dataset(folder)
        self.status.setText(f"{ds.root}: {count(len(ds), 'image')} of {count(len(ds.patients), 'patient')}")

    @guarded
    def new_dataset(self, folder: str | None = None, images: list | None = None, patient: str | None = None):
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Empty folder for the new dataset")
            if not folder:
                return
        if images is None:
            images, _ = QFileDialog.getOpenFileNames(self, "Images", "", "Images (*.png *.jpg *.jpeg *.tif *.tiff)")
            if not images:
                return
        pairs = [(img, self._ask_patient(img, patient)) for img in images]
        if any(p is None for _, p in pairs):
            return
        ds = Dataset.create(folder, pairs)
        self.open_dataset(str(ds.root))

    @guarded
    def add_images(self, images: list | None = None, patient: str | None = None):
        if self.dataset is None:
            raise SteatosisError("open or create a dataset first")
        if images is None:
            images, _ = QFileDialog.getOpenFileNames(self, "Images", "", "Images (*.png *.jpg *.jpeg *.tif *.tiff)")
        for img in images or []:
            pid = self._ask_patient(img, patient)
            if pid is None:
                return
            self.dataset.add_image(img, pid)
        self.refresh_table()

    def _ask_patient(self, image, given):
        if given is not None:
            return given
        text, ok = QInputDialog.getText(self, "Patient", f"Patient (or slide) id of {Path(image).name}:")
        return text.strip() if ok and text.strip() else None

    def _on_dataset(self, ds) -> None:
        self.refresh_table()
        self._enable_region()

    def _enable_region(self) -> None:
        self.add_region_btn.setEnabled(self.ws.multiscale and self.dataset is not None and not self.ws.read_only)

    def refresh_table(self):
        ds = self.dataset
        self.table.blockSignals(True)
        if ds is None:
            self.table.setRowCount(0)
        else:
            splits = ds.splits()
            self.table.setRowCount(len(ds))
            for i, rec in enumerate(ds.records):
                self._fill_row(i, rec, splits[rec.stem])
        self.table.blockSignals(False)

    def _fill_row(self, i: int, rec, split: str) -> None:
        ds = self.dataset
        pts = ds.read_points(rec) if ds.has_label(rec, "points") else None
        values = [rec.stem, rec.patient, split,
                  f"{len(pts.positive)}/{len(pts.negative)}" if pts is not None else "–",
                  "✓" if ds.has_label(rec, "steatosis") else "", "✓" if ds.has_label(rec, "fibrosis") else "",
                  "unsaved" if (self.dirty and self.current is rec) else ""]
        for j, v in enumerate(values):
            self.table.setItem(i, j, QTableWidgetItem(v))

    def _on_dirty(self, dirty: bool) -> None:
        i = self.ws.index()
        if i is not None and i < self.table.rowCount():
            self.table.setItem(i, COLUMNS.index("saved"), QTableWidgetItem("unsaved" if dirty else ""))

    def _on_saved(self, rec) -> None:
        ds = self.dataset
        if ds is None or rec not in ds.records:
            return
        row = ds.records.index(rec)  # only this image's labels changed: re-read its row alone
        self.table.blockSignals(True)
        self._fill_row(row, rec, ds.splits()[rec.stem])
        self.table.blockSignals(False)
        self.status.setText(f"saved {rec.stem}")

    # ------------------------------------------------------------------ images
    def _on_select(self):
        rows = self.table.selectionModel().selectedRows()
        if rows and self.dataset is not None:
            self.show_image(rows[0].row())

    @guarded
    def show_image(self, index: int):
        try:
            self.ws.open_record(index)
        finally:
            self._select_row_quietly(self.ws.index())

    def _on_image(self, ws) -> None:
        self._select_row_quietly(ws.index())
        self._enable_region()
        if ws.image is None:
            return
        where = f" ({ws.record.patient})" if ws.record is not None else " (not in a dataset: labels are not saved)"
        if ws.multiscale:
            paint = "paint masks (3, 4) and " if self.view.layer(STEATOSIS_MASK) is not None else ""
            where = (f" (a whole slide: put points (1, 2), {paint}then Add visible region to the dataset: the labels "
                     "in the region go with it; they are not saved with the slide)")
        self.status.setText(f"{ws.name}{where}: {ws.shape[1]}x{ws.shape[0]} px")

    def _select_row_quietly(self, index):
        self.table.blockSignals(True)
        if index is None:
            self.table.clearSelection()
        else:
            self.table.selectRow(index)
        self.table.blockSignals(False)

    @guarded
    def step(self, delta: int):
        if self.ws.dataset is None:  # the buttons did nothing at all: say what they go through
            raise SteatosisError("Previous and Next go through the images of a dataset: open one (Open dataset…) "
                                 "or make one from images (New from images…)")
        self.ws.step(delta)

    # ------------------------------------------------------------------ saving
    @guarded
    def save(self) -> bool:
        """Save the current labels; a large image is written in the background (progress, Cancel)."""
        ws = self.ws
        if ws.image is None:
            return True
        if ws.shape[0] * ws.shape[1] < BACKGROUND_SAVE_PX:
            ws.save()
            return True
        if self.save_job is not None and not self.save_job.finished:
            raise SteatosisError("a save is already running")
        snap = ws.snapshot()  # checked and copied now: painting on while it writes is safe
        self.save_cancel_btn.setVisible(True)
        self.save_job = Job(write_snapshot, snap, on_done=ws.saved_snapshot, disable=(self.save_btn,),
                            desc=f"Saving {snap.record.stem}", progress_bar=self.save_progress,
                            cancel_button=self.save_cancel_btn)
        self.save_job.worker.finished.connect(lambda: self.save_cancel_btn.setVisible(False))
        self.status.setText(f"saving {snap.record.stem}…")
        return True

    def autosave(self) -> bool:
        """Save if there are unsaved changes; False when the save was refused (the message says why)."""
        try:
            self.ws.save_if_dirty()
        except Exception as exc:  # noqa: BLE001
            notify_error(exc)
            return False
        return True

    def hideEvent(self, event):  # noqa: N802 (the dock was closed or napari is closing)
        self.autosave()
        super().hideEvent(event)

    def event(self, event):  # noqa: A003 (Qt's name)
        if event.type() == QEvent.Type.ParentChange and self.parent() is None:  # napari closed the dock
            self.autosave()
            self.view.unbind_keys(self)
            self._toggle_wand(False)
        return super().event(event)

    # ------------------------------------------------------------------ slides
    @guarded
    def add_visible_region(self, patient: str | None = None):
        """The slide's region on screen (level 0) becomes a PNG image of the open dataset (a row of the table)."""
        slide_path, region, _ = visible_region(self.view)
        if self.dataset is None or self.ws.read_only:
            raise SteatosisError("open or create your own dataset first: the region is added to it")
        dataset = self.dataset
        rec = add_region_to_dataset(dataset, slide_path, region, patient,  # patient: the slide's name by default
                                    self.ws.points, self.ws.masks)  # the labels drawn on the slide, cropped
        self.refresh_table()  # the slide stays on screen for the next region; the table row opens the crop
        labels = [k for k in ("points", *MASK_KINDS) if dataset.has_label(rec, k)]
        notify_info(f"added {rec.image} (patient {rec.patient}) to {dataset.root.name}"
                    f"{' with its ' + ', '.join(labels) if labels else ''}: {region.message()}")
        return rec

    # ------------------------------------------------------------------ wand
    def _toggle_wand(self, on: bool) -> None:
        callbacks = self.viewer.mouse_drag_callbacks
        if on and self.on_click not in callbacks:
            callbacks.append(self.on_click)
        elif not on and self.on_click in callbacks:
            callbacks.remove(self.on_click)

    def on_click(self, viewer, event):
        """napari mouse callback while the wand is on: a plain left click (no drag) fills the vacuole under it."""
        yield from plain_click(self.view, event, self.wand_at)

    @guarded
    def wand_at(self, point) -> None:
        ws = self.ws
        if ws.image is None or ws.multiscale:
            raise SteatosisError("open an image first")
        region = wand(ws.rgb, point, self.tolerance.value(), within=tissue_mask(ws.rgb))
        layer = self.view.layer(STEATOSIS_MASK)
        layer.data_setitem(np.nonzero(region), 1)  # napari's own edit: undoable (Ctrl+Z), marks the image unsaved
        ws.mark_dirty()

    # ------------------------------------------------------------------ imports
    @guarded
    def import_mask_file(self, path: str | None = None, kind: str | None = None):
        if self.ws.image is None:
            raise SteatosisError("open an image first")
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Mask", "", "Masks (*.png *.tif *.tiff)")
            if not path:
                return
        if kind is None:
            kind, ok = QInputDialog.getItem(self, "Mask", "This mask shows:", ["steatosis", "fibrosis"], 0, False)
            if not ok:
                return
        mask = import_mask(path, self.shape)
        self.ws.set_mask(kind, mask.astype(np.uint8), announce=True)
        notify_info(f"imported {Path(path).name} as the {kind} mask; Save to keep it")

    @guarded
    def import_points_file(self, path: str | None = None, default_class: str | None = None):
        if self.ws.image is None:
            raise SteatosisError("open an image first")
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Points CSV", "", "CSV (*.csv)")
            if not path:
                return
        try:
            pts = import_points(path, self.shape, default_class)
        except SteatosisError as exc:
            if default_class is None and "say whether" in str(exc):
                cls, ok = QInputDialog.getItem(self, "Points", "These points are:", ["steatosis", "not_steatosis"],
                                               0, False)
                if not ok:
                    return
                pts = import_points(path, self.shape, cls)
            else:
                raise
        self.ws.add_points(pts)
        notify_info(f"imported {len(pts.positive)} steatosis and {count(len(pts.negative), 'other point')}; "
                    "Save to keep them")
