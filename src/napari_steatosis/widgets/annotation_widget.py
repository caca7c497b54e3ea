"""Annotation dock: a dataset's images in a table, point labels and painted masks, saved safely.

Shortcuts (in the viewer): 1 add steatosis points, 2 add not-steatosis points, 3 paint the
steatosis mask, 4 paint the fibrosis mask, 5 erase in the active mask, Ctrl+Shift+S save.
Saving happens on Save, when another image is opened, when the dock is closed and when
napari is closed. Every write is atomic and checked first (shapes, points inside the image);
a refused save writes nothing and keeps what is on disk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtCore import QEvent, QObject
from qtpy.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..data.dataset import Dataset, PointLabels
from ..data.importers import import_mask, import_points
from ..errors import SteatosisError
from .jobs import guarded, notify_info
from .layers import (
    FIBROSIS_MASK,
    NOT_STEATOSIS_POINTS,
    STEATOSIS_MASK,
    STEATOSIS_POINTS,
    mask_kwargs,
    points_kwargs,
)

COLUMNS = ["image", "patient", "split", "points +/−", "steatosis", "fibrosis", "saved"]
IMAGE_LAYER_META = "steatosis_record"


class _CloseWatcher(QObject):
    """Saves when the napari window is about to close."""

    def __init__(self, callback):
        super().__init__()
        self.callback = callback

    def eventFilter(self, obj, event):  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.Close:
            self.callback()
        return False


class AnnotationWidget(QWidget):
    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.dataset: Dataset | None = None
        self.current = None  # the ImageRecord shown
        self.shape: tuple[int, int] | None = None
        self.dirty = False
        self._loading = False

        self.open_btn = QPushButton("Open dataset…")
        self.new_btn = QPushButton("New from images…")
        self.add_btn = QPushButton("Add images…")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setMinimumHeight(180)
        self.prev_btn = QPushButton("◀ Previous")
        self.next_btn = QPushButton("Next ▶")
        self.save_btn = QPushButton("Save")
        self.brush = QSpinBox()
        self.brush.setRange(1, 200)
        self.brush.setValue(10)
        self.import_mask_btn = QPushButton("Import mask…")
        self.import_points_btn = QPushButton("Import points…")
        self.status = QLabel("Open a dataset folder, or make one from images.")
        self.status.setWordWrap(True)
        help_text = QLabel("Keys: 1 fat points · 2 not-fat points · 3 paint fat · 4 paint fibrosis · 5 erase · "
                           "Ctrl+Shift+S save")
        help_text.setWordWrap(True)
        help_text.setStyleSheet("color: grey")

        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        for b in (self.open_btn, self.new_btn, self.add_btn):
            row.addWidget(b)
        layout.addLayout(row)
        layout.addWidget(self.table)
        row = QHBoxLayout()
        for b in (self.prev_btn, self.next_btn, self.save_btn):
            row.addWidget(b)
        layout.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("brush"))
        row.addWidget(self.brush)
        row.addWidget(self.import_mask_btn)
        row.addWidget(self.import_points_btn)
        layout.addLayout(row)
        layout.addWidget(help_text)
        layout.addWidget(self.status)

        self.open_btn.clicked.connect(lambda: self.open_dataset())
        self.new_btn.clicked.connect(lambda: self.new_dataset())
        self.add_btn.clicked.connect(lambda: self.add_images())
        self.table.itemSelectionChanged.connect(self._on_select)
        self.prev_btn.clicked.connect(lambda: self.step(-1))
        self.next_btn.clicked.connect(lambda: self.step(1))
        self.save_btn.clicked.connect(lambda: self.save())
        self.brush.valueChanged.connect(self._apply_brush)
        self.import_mask_btn.clicked.connect(lambda: self.import_mask_file())
        self.import_points_btn.clicked.connect(lambda: self.import_points_file())
        self._bind_keys()
        self._watcher = _CloseWatcher(self.autosave)
        qt_window = getattr(self.viewer.window, "_qt_window", None)
        if qt_window is not None:
            qt_window.installEventFilter(self._watcher)

    # ------------------------------------------------------------------ dataset
    @guarded
    def open_dataset(self, folder: str | None = None):
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Dataset folder (with dataset.csv)")
            if not folder:
                return
        ds = Dataset.open(folder)
        if not self.autosave():
            return
        self.dataset, self.current = ds, None
        self.refresh_table()
        if len(ds):
            self.table.selectRow(0)
        self.status.setText(f"{ds.root}: {len(ds)} images of {len(ds.patients)} patients")

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

    def refresh_table(self):
        ds = self.dataset
        if ds is None:
            return
        splits = ds.splits()
        self.table.blockSignals(True)
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

    def _mark_dirty(self, event=None):
        if self._loading or self.current is None or self.dirty:
            return
        self.dirty = True
        row = self.dataset.records.index(self.current)
        self.table.setItem(row, COLUMNS.index("saved"), QTableWidgetItem("unsaved"))

    # ------------------------------------------------------------------ images
    def _on_select(self):
        rows = self.table.selectionModel().selectedRows()
        if rows and self.dataset is not None:
            self.show_image(rows[0].row())

    @guarded
    def show_image(self, index: int):
        rec = self.dataset.records[index]
        if rec is self.current:
            return
        if not self.autosave():
            self._select_row_quietly(self.dataset.records.index(self.current))
            return
        rgb = self.dataset.read_image(rec)
        shape = rgb.shape[:2]
        pts = self.dataset.read_points(rec, shape) or PointLabels()
        masks = {k: self.dataset.read_mask(rec, k, shape) for k in ("steatosis", "fibrosis")}
        self._loading = True
        try:
            for name in [l.name for l in self.viewer.layers if l.metadata.get(IMAGE_LAYER_META)]:
                self.viewer.layers.remove(name)
            for name in (STEATOSIS_POINTS, NOT_STEATOSIS_POINTS, STEATOSIS_MASK, FIBROSIS_MASK):
                if name in self.viewer.layers:
                    self.viewer.layers.remove(name)
            self.viewer.add_image(rgb, name=rec.stem, rgb=True, metadata={IMAGE_LAYER_META: rec.image})
            for kind in ("steatosis", "fibrosis"):
                m = masks[kind]
                data = m.astype(np.uint8) if m is not None else np.zeros(shape, np.uint8)
                layer = self.viewer.add_labels(data, **mask_kwargs(kind))
                layer.brush_size = self.brush.value()
                layer.events.paint.connect(self._mark_dirty)
                layer.events.data.connect(self._mark_dirty)
            for positive, data in ((True, pts.positive), (False, pts.negative)):
                layer = self.viewer.add_points(data, **points_kwargs(positive))
                layer.events.data.connect(self._mark_dirty)
            self.current, self.shape, self.dirty = rec, shape, False
            self.viewer.reset_view()
        finally:
            self._loading = False
        self._select_row_quietly(index)
        self.status.setText(f"{rec.stem} ({rec.patient}): {shape[1]}x{shape[0]} px")

    def _select_row_quietly(self, index):
        self.table.blockSignals(True)
        self.table.selectRow(index)
        self.table.blockSignals(False)

    def step(self, delta: int):
        if self.dataset is None or not len(self.dataset):
            return
        i = self.dataset.records.index(self.current) if self.current is not None else -delta
        self.show_image(int(np.clip(i + delta, 0, len(self.dataset) - 1)))

    # ------------------------------------------------------------------ saving
    def _layer(self, name):
        return self.viewer.layers[name] if name in self.viewer.layers else None

    def collect(self):
        """What the layers hold, checked against the image: ``(points, {kind: mask or None})``."""
        rec, shape = self.current, self.shape
        name = rec.stem
        masks = {}
        for kind, lname in (("steatosis", STEATOSIS_MASK), ("fibrosis", FIBROSIS_MASK)):
            layer = self._layer(lname)
            if layer is None:
                masks[kind] = None
                continue
            data = np.asarray(layer.data)
            if data.shape != shape:
                raise SteatosisError(f"'{lname}' is {data.shape[-1]}x{data.shape[0]} px but {name} is "
                                     f"{shape[1]}x{shape[0]} px; nothing was saved")
            masks[kind] = data
        pos, neg = self._layer(STEATOSIS_POINTS), self._layer(NOT_STEATOSIS_POINTS)
        points = PointLabels(np.asarray(pos.data)[:, -2:] if pos is not None else [],
                             np.asarray(neg.data)[:, -2:] if neg is not None else [])
        points.check_inside(shape, f"points of {name}")
        return points, masks

    @guarded
    def save(self) -> bool:
        if self.current is None:
            return True
        points, masks = self.collect()  # every check before any write
        ds, rec = self.dataset, self.current
        for kind, m in masks.items():
            if m is None:
                continue
            if m.any() or ds.has_label(rec, kind):  # an empty layer never creates a file ("unlabelled")
                ds.write_mask(rec, kind, m, self.shape)
        if len(points) or ds.has_label(rec, "points"):
            ds.write_points(rec, points, self.shape)
        self.dirty = False
        row = ds.records.index(rec)  # only this image's labels changed: re-read its row alone
        self.table.blockSignals(True)
        self._fill_row(row, rec, self.table.item(row, COLUMNS.index("split")).text())
        self.table.blockSignals(False)
        self.status.setText(f"saved {rec.stem}")
        return True

    def autosave(self) -> bool:
        """Save if there are unsaved changes; False when the save was refused (the message says why)."""
        if not self.dirty:
            return True
        return bool(self.save())

    def hideEvent(self, event):  # noqa: N802 (the dock was closed)
        self.autosave()
        super().hideEvent(event)

    # ------------------------------------------------------------------ tools
    def _apply_brush(self, size):
        for name in (STEATOSIS_MASK, FIBROSIS_MASK):
            layer = self._layer(name)
            if layer is not None:
                layer.brush_size = size

    def _bind_keys(self):
        def activate(name, mode):
            def handler(viewer):
                layer = self._layer(name)
                if layer is None:
                    return
                viewer.layers.selection.active = layer
                layer.mode = mode
            return handler

        keys = {"1": (STEATOSIS_POINTS, "add"), "2": (NOT_STEATOSIS_POINTS, "add"), "3": (STEATOSIS_MASK, "paint"),
                "4": (FIBROSIS_MASK, "paint")}
        for key, (name, mode) in keys.items():
            self.viewer.bind_key(key, activate(name, mode), overwrite=True)

        def erase(viewer):
            layer = viewer.layers.selection.active
            if layer is not None and layer.name in (STEATOSIS_MASK, FIBROSIS_MASK):
                layer.mode = "erase"

        self.viewer.bind_key("5", erase, overwrite=True)
        self.viewer.bind_key("Control-Shift-S", lambda v: self.save(), overwrite=True)

    @guarded
    def import_mask_file(self, path: str | None = None, kind: str | None = None):
        if self.current is None:
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
        self._layer(STEATOSIS_MASK if kind == "steatosis" else FIBROSIS_MASK).data = mask.astype(np.uint8)
        self._mark_dirty()
        notify_info(f"imported {Path(path).name} as the {kind} mask; Save to keep it")

    @guarded
    def import_points_file(self, path: str | None = None, default_class: str | None = None):
        if self.current is None:
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
        for name, new in ((STEATOSIS_POINTS, pts.positive), (NOT_STEATOSIS_POINTS, pts.negative)):
            layer = self._layer(name)
            if len(new):
                layer.data = np.concatenate([np.asarray(layer.data).reshape(-1, 2), new])
        self._mark_dirty()
        notify_info(f"imported {len(pts.positive)} steatosis and {len(pts.negative)} other points; Save to keep them")
