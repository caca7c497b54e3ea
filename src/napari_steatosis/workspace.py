"""The one "current image" every napari dock shares (Qt-free, evented with psygnal).

A :class:`Workspace` holds the open dataset, the current image (an array, or a list of arrays
for a multiscale slide), its labels (points and masks) with their unsaved state, and the
current results per method ("unet", "classical", "report", ...). Docks never keep their own
current image: they call the workspace and listen to its signals. Changing image (from any
dock, Next, or File > Open) saves the previous image's labels first and clears its results,
so a click can only ever be saved into the file of the image on screen.

Labels are held here, in memory; the napari side pushes edits in (``set_points``,
``set_mask``, ``mark_dirty``) and renders what the signals announce. The mask arrays are
shared with napari's Labels layers (painting changes them in place and calls ``mark_dirty``).

For docks (and slide actions): ``workspace_of(viewer)`` (widgets/workspace_view.py) gives the
viewer's workspace. Show something with ``open_dataset``, ``open_record``, ``open_path`` or
``open_image(levels, name, pixel_size_um)`` (a list of levels is a multiscale slide: shown as
one multiscale layer, no full-size label arrays); follow ``image_changed``; publish a result
with ``set_result(Result(method, mask, percent, ...))`` (drawn as that method's layers, gone
with the image); save with ``save()`` or, for large images, ``snapshot()`` + ``write_snapshot``
in a job + ``saved_snapshot``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from psygnal import Signal

from .data.dataset import MASK_KINDS, Dataset, ImageRecord, PointLabels
from .data.images import read_image, tiff_pixel_size_um
from .errors import SteatosisError


@dataclass
class LabelSnapshot:
    """A copy of an image's labels taken for saving (in the background for a large image)."""

    dataset: Dataset
    record: ImageRecord
    shape: tuple[int, int]
    points: PointLabels
    masks: dict
    edits: int  # the workspace's edit count when taken: a later edit keeps the image unsaved


def write_snapshot(snap: LabelSnapshot, progress=None, cancelled=None) -> LabelSnapshot:
    """Write a snapshot's files (each one atomic); ``cancelled()`` is checked between files."""
    from .errors import Cancelled  # noqa: PLC0415

    ds, rec = snap.dataset, snap.record
    jobs = [(kind, m) for kind, m in snap.masks.items() if m is not None and (np.any(m) or ds.has_label(rec, kind))]
    write_points = len(snap.points) or ds.has_label(rec, "points")
    total = len(jobs) + int(bool(write_points))
    for k, (kind, m) in enumerate(jobs):
        if cancelled is not None and cancelled():
            raise Cancelled(f"saving {rec.stem} cancelled: its labels are still unsaved")
        ds.write_mask(rec, kind, np.asarray(m) > 0, snap.shape)  # an empty layer never creates a file
        if progress is not None:
            progress(k + 1, total)
    if write_points:
        ds.write_points(rec, snap.points, snap.shape)
    if progress is not None:
        progress(total, total)
    return snap


@dataclass
class Result:
    """One method's result on the current image: ``mask`` is what it predicts (``kind``) per pixel."""

    method: str
    mask: np.ndarray
    percent: float | None = None
    probability: np.ndarray | None = None  # per pixel, 0..1
    regions: np.ndarray | None = None  # labelled candidate regions (classical)
    region_probability: dict = field(default_factory=dict)  # region -> probability (classical)
    description: str = ""
    kind: str = "steatosis"  # or "fibrosis"


class Workspace:
    """Dataset, current image, its labels and dirty state, and results per method."""

    dataset_changed = Signal(object)  # the Dataset (or None)
    image_changed = Signal(object)  # the Workspace; read .name, .record, .image
    labels_replaced = Signal(str)  # "points" or a mask kind: the array was replaced, redraw it
    dirty_changed = Signal(bool)
    saved = Signal(object)  # the ImageRecord saved
    result_changed = Signal(str)  # the method; ``results.get(method)`` is None when cleared

    def __init__(self):
        self.dataset: Dataset | None = None
        self.record: ImageRecord | None = None
        self.name: str | None = None
        self.path: Path | None = None
        self.image = None  # (H, W, 3) uint8 array, or a list of levels (multiscale slide)
        self.shape: tuple[int, int] | None = None
        self.pixel_size_um: float | None = None
        self.read_only = False
        self.points = PointLabels()
        self.masks: dict[str, np.ndarray | None] = {k: None for k in MASK_KINDS}
        self.dirty = False
        self.edits = 0  # counts edits, so a background save knows whether the labels changed meanwhile
        self.results: dict[str, Result] = {}

    # ------------------------------------------------------------------ queries
    @property
    def multiscale(self) -> bool:
        return isinstance(self.image, (list, tuple))

    @property
    def rgb(self) -> np.ndarray:
        """The full-resolution image (level 0 of a slide)."""
        if self.image is None:
            raise SteatosisError("open an image first")
        return self.image[0] if self.multiscale else self.image

    def index(self) -> int | None:
        if self.dataset is None or self.record is None:
            return None
        return self.dataset.records.index(self.record)

    # ------------------------------------------------------------------ opening
    def open_dataset(self, folder: str | os.PathLike | Dataset, first: bool = True, read_only: bool = False) -> Dataset:
        """Open a dataset folder (the current labels are saved first); shows its first image."""
        ds = folder if isinstance(folder, Dataset) else Dataset.open(folder)
        self.save_if_dirty()
        self.close_image()
        self.dataset, self.read_only = ds, read_only
        self.dataset_changed.emit(ds)
        if first and len(ds):
            self.open_record(0)
        return ds

    def open_record(self, which: int | str | ImageRecord) -> ImageRecord:
        """Show an image of the open dataset (by index, stem or record) with its labels."""
        ds = self.dataset
        if ds is None:
            raise SteatosisError("open a dataset first")
        if isinstance(which, ImageRecord):
            rec = which
        elif isinstance(which, str):
            rec = ds.record(which)
        else:
            rec = ds.records[int(which)]
        if rec is self.record and self.image is not None:
            return rec
        rgb = ds.read_image(rec)
        shape = rgb.shape[:2]
        points = ds.read_points(rec, shape) or PointLabels()
        masks = {k: ds.read_mask(rec, k, shape) for k in MASK_KINDS}
        self.save_if_dirty()  # refused: raises, and the old image stays
        path = ds.image_path(rec)
        self._set_image(rgb, rec.stem, rec, path, points, masks, tiff_pixel_size_um(path))
        return rec

    def open_path(self, path: str | os.PathLike, image=None) -> None:
        """Show an image file (File > Open): the dataset's record if it is one of its images."""
        path = Path(path)
        rec = self._record_of(path)
        if rec is not None:
            self.open_record(rec)
            return
        rgb = read_image(path) if image is None else image
        self.save_if_dirty()
        self._set_image(rgb, path.stem, None, path, PointLabels(), {k: None for k in MASK_KINDS},
                        tiff_pixel_size_um(path) if path.exists() else None)

    def open_image(self, image, name: str, pixel_size_um: float | None = None) -> None:
        """Show an image that belongs to no dataset (its labels cannot be saved), or a slide's levels."""
        self.save_if_dirty()
        self._set_image(image, name, None, None, PointLabels(), {k: None for k in MASK_KINDS}, pixel_size_um)

    def step(self, delta: int) -> ImageRecord | None:
        """Next (``+1``) or previous (``-1``) image of the dataset."""
        if self.dataset is None or not len(self.dataset):
            return None
        i = self.index()
        i = -delta if i is None else i
        return self.open_record(int(np.clip(i + delta, 0, len(self.dataset) - 1)))

    def close_image(self) -> None:
        self.save_if_dirty()
        if self.image is not None:
            self._set_image(None, None, None, None, PointLabels(), {k: None for k in MASK_KINDS}, None)

    def _record_of(self, path: Path) -> ImageRecord | None:
        if self.dataset is None:
            return None
        try:
            target = path.resolve()
        except OSError:
            return None
        for rec in self.dataset.records:
            if self.dataset.image_path(rec).resolve() == target:
                return rec
        return None

    def _set_image(self, image, name, record, path, points, masks, pixel_size_um) -> None:
        self.image, self.name, self.record, self.path = image, name, record, path
        self.shape = None if image is None else tuple(int(s) for s in
                                                      (image[0] if isinstance(image, (list, tuple)) else image).shape[:2])
        self.pixel_size_um = pixel_size_um
        self.points, self.masks = points, masks
        self.results = {}
        self._set_dirty(False)
        self.image_changed.emit(self)

    # ------------------------------------------------------------------ labels
    def _set_dirty(self, value: bool) -> None:
        if value != self.dirty:
            self.dirty = value
            self.dirty_changed.emit(value)

    def mark_dirty(self) -> None:
        """Labels were edited. A slide's labels have no file of their own (they go into the dataset with the
        regions added from it), so they never hold up opening another image."""
        if self.image is not None and not self.multiscale:
            self.edits += 1
            self._set_dirty(True)

    def set_points(self, positive=None, negative=None) -> None:
        """Replace the steatosis (``positive``) and/or not-steatosis points, ``(row, col)``."""
        self.points = PointLabels(self.points.positive if positive is None else np.asarray(positive)[:, -2:],
                                  self.points.negative if negative is None else np.asarray(negative)[:, -2:])
        self.mark_dirty()

    def set_mask(self, kind: str, mask: np.ndarray | None, announce: bool = False) -> None:
        if kind not in MASK_KINDS:
            raise SteatosisError(f"unknown mask kind {kind!r}; use one of {', '.join(MASK_KINDS)}")
        self.masks[kind] = mask
        self.mark_dirty()
        if announce:
            self.labels_replaced.emit(kind)

    def add_points(self, points: PointLabels) -> None:
        self.points = PointLabels(np.concatenate([self.points.positive, points.positive]),
                                  np.concatenate([self.points.negative, points.negative]))
        self.mark_dirty()
        self.labels_replaced.emit("points")

    def check_labels(self) -> None:
        """Every check a save makes, before any write (sizes, points inside the image)."""
        name, shape = self.name, self.shape
        for kind, m in self.masks.items():
            if m is not None and tuple(np.shape(m)) != shape:
                raise SteatosisError(f"the {kind} mask is {np.shape(m)[-1]}x{np.shape(m)[0]} px but {name} is "
                                     f"{shape[1]}x{shape[0]} px; nothing was saved")
        self.points.check_inside(shape, f"points of {name}")

    def snapshot(self) -> LabelSnapshot:
        """A checked copy of the current labels to write (every check made before any write)."""
        if self.record is None or self.dataset is None:
            raise SteatosisError(f"{self.name} is not an image of a dataset, so its labels have no file: make a dataset "
                                 "with it (Annotate > New from images) to keep them")
        if self.read_only:
            raise SteatosisError(f"{self.dataset.root} is the bundled sample, which is read-only: make your own "
                                 "dataset (Annotate > New from images) to keep labels")
        self.check_labels()
        masks = {k: (None if m is None else np.array(m, copy=True)) for k, m in self.masks.items()}
        points = PointLabels(self.points.positive.copy(), self.points.negative.copy())
        return LabelSnapshot(self.dataset, self.record, self.shape, points, masks, self.edits)

    def saved_snapshot(self, snap: LabelSnapshot) -> None:
        """A snapshot was written: the image is saved unless it was edited (or changed) since."""
        if snap.record is self.record and snap.edits == self.edits:
            self._set_dirty(False)
        self.saved.emit(snap.record)

    def save(self) -> ImageRecord | None:
        """Write the current image's labels into its dataset (atomic files; a refused save writes nothing)."""
        if self.image is None:
            return None
        snap = write_snapshot(self.snapshot())
        self.saved_snapshot(snap)
        return snap.record

    def save_if_dirty(self) -> None:
        """Save unsaved labels; raises (and keeps them) when the save is refused."""
        if self.dirty:
            self.save()

    # ------------------------------------------------------------------ results
    def set_result(self, result: Result) -> None:
        if self.shape is None:
            raise SteatosisError("open an image first")
        if tuple(result.mask.shape) != self.shape:
            raise SteatosisError(f"a {result.method} result of {result.mask.shape[1]}x{result.mask.shape[0]} px does "
                                 f"not belong to {self.name} ({self.shape[1]}x{self.shape[0]} px)")
        self.results[result.method] = result
        self.result_changed.emit(result.method)

    def clear_result(self, method: str) -> None:
        if self.results.pop(method, None) is not None:
            self.result_changed.emit(method)

    def accept_as_labels(self, mask: np.ndarray, kind: str = "steatosis") -> None:
        """Take a (corrected) result as the image's labels and save them: the image counts as labelled."""
        self.set_mask(kind, np.asarray(mask, bool).astype(np.uint8), announce=True)
        self.save()
