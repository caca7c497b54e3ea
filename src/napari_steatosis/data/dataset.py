"""The dataset folder of docs/dataset.md: images, labels, patients and splits.

```
my_study/dataset.csv
my_study/images/<stem>.<png|jpg|jpeg|tif|tiff>
my_study/labels/<stem>.steatosis.png   (or .tif)
my_study/labels/<stem>.fibrosis.png    (or .tif)
my_study/labels/<stem>.points.csv      (x,y,class; x = column, y = row)
```
Point coordinates are held in memory in napari's order, ``(row, col)``, and written as
``x,y`` (QuPath's convention) in the CSV.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import DatasetError
from .atomic import atomic_write
from .images import IMAGE_SUFFIXES, read_image, read_mask, write_mask
from .tables import read_table, write_table

CSV_NAME = "dataset.csv"
REQUIRED_COLUMNS = ("image", "patient")
SPLITS = ("train", "val", "test")
MASK_KINDS = ("steatosis", "fibrosis")
POINT_CLASSES = ("steatosis", "not_steatosis")


@dataclass
class PointLabels:
    """Positive (steatosis) and negative (white but not steatosis) points, ``(row, col)``."""

    positive: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    negative: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    def __post_init__(self):
        self.positive = np.asarray(self.positive, dtype=float).reshape(-1, 2)
        self.negative = np.asarray(self.negative, dtype=float).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.positive) + len(self.negative)

    def check_inside(self, shape: tuple[int, int], name: str) -> None:
        """Refuse points that fall outside an image of ``shape`` ``(H, W)``."""
        for label, pts in (("steatosis", self.positive), ("not_steatosis", self.negative)):
            bad = (pts[:, 0] < 0) | (pts[:, 0] >= shape[0]) | (pts[:, 1] < 0) | (pts[:, 1] >= shape[1])
            if bad.any():
                r, c = pts[np.argmax(bad)]
                raise DatasetError(
                    f"{name}: {int(bad.sum())} {label} point(s) lie outside the {shape[1]}x{shape[0]} px image "
                    f"(first at x={c:.1f}, y={r:.1f})"
                )


def read_points(path: str | os.PathLike, shape: tuple[int, int] | None = None) -> PointLabels:
    """Read a points CSV (``x,y,class``; other columns ignored)."""
    path = Path(path)
    _, rows = read_table(path, ("x", "y", "class"))
    pos, neg = [], []
    for line_no, row in rows:
        try:
            x, y = float(row["x"]), float(row["y"])
        except (TypeError, ValueError):
            raise DatasetError(f"{path}, line {line_no}: non-numeric coordinates x={row['x']!r}, y={row['y']!r}")
        if not (math.isfinite(x) and math.isfinite(y)):
            raise DatasetError(f"{path}, line {line_no}: coordinates must be finite numbers")
        cls = (row["class"] or "").strip()
        if cls == "steatosis":
            pos.append((y, x))
        elif cls == "not_steatosis":
            neg.append((y, x))
        else:
            raise DatasetError(
                f"{path}, line {line_no}: unknown point class {cls!r} (use 'steatosis' or 'not_steatosis')"
            )
    points = PointLabels(pos, neg)
    if shape is not None:
        points.check_inside(shape, str(path))
    return points


def write_points(path: str | os.PathLike, points: PointLabels, shape: tuple[int, int] | None = None) -> None:
    """Write points atomically as ``x,y,class``; points outside ``shape`` are refused first."""
    path = Path(path)
    if shape is not None:
        points.check_inside(shape, str(path))
    rows = [dict(x=repr(float(c)), y=repr(float(r)), **{"class": cls})
            for cls, pts in (("steatosis", points.positive), ("not_steatosis", points.negative)) for r, c in pts]
    write_table(path, rows, ("x", "y", "class"))


@dataclass
class ImageRecord:
    """One row of dataset.csv."""

    image: str
    patient: str
    split: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return Path(self.image).stem


def patient_split(
    patients: Iterable[str], seed: int = 0, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
) -> dict[str, str]:
    """Assign each patient to train/val/test, reproducibly from ``seed``.

    With at least 3 patients val and test get at least one patient each; train always gets
    the most.
    """
    unique = sorted(set(patients))
    if any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise DatasetError(f"split fractions must be non-negative and not all zero, got {fractions}")
    n = len(unique)
    total = sum(fractions)
    n_val = round(n * fractions[1] / total)
    n_test = round(n * fractions[2] / total)
    if n >= 3:
        n_val = max(n_val, 1 if fractions[1] > 0 else 0)
        n_test = max(n_test, 1 if fractions[2] > 0 else 0)
    elif n == 2:
        n_val, n_test = (1 if fractions[1] > 0 else 0), 0
    else:
        n_val = n_test = 0
    while n - n_val - n_test < 1 and (n_val or n_test):
        if n_test >= n_val:
            n_test -= 1
        else:
            n_val -= 1
    order = np.random.default_rng(seed).permutation(n)
    out = {}
    for rank, idx in enumerate(order):
        out[unique[idx]] = "val" if rank < n_val else "test" if rank < n_val + n_test else "train"
    return out


def make_dataset_folder(root: str | os.PathLike) -> Path:
    """Create ``root/images`` and ``root/labels``; refuse a folder that already holds a dataset."""
    root = Path(root)
    if (root / CSV_NAME).exists():
        raise DatasetError(f"{root / CSV_NAME}: a dataset already exists here; choose another folder or open it")
    try:
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "labels").mkdir(exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"{root}: cannot create the dataset folder ({exc.strerror or exc})") from exc
    return root


class Dataset:
    """A dataset folder. Open an existing one with :meth:`open`, make one with :meth:`create`."""

    def __init__(self, root: str | os.PathLike, records: list[ImageRecord], columns: list[str] | None = None):
        self.root = Path(root)
        self.records = list(records)
        self.columns = list(columns) if columns else ["image", "patient", "split"]

    # ---------------------------------------------------------------- reading
    @property
    def csv_path(self) -> Path:
        return self.root / CSV_NAME

    @classmethod
    def open(cls, root: str | os.PathLike) -> "Dataset":
        root = Path(root)
        if not root.is_dir():
            raise DatasetError(f"{root}: dataset folder not found")
        path = root / CSV_NAME
        if not path.is_file():
            raise DatasetError(f"{path}: not found; a dataset folder needs a dataset.csv (see docs/dataset.md)")
        header, rows = read_table(path, REQUIRED_COLUMNS)
        records, seen = [], {}
        for line_no, row in rows:
            image, patient = row.get("image", ""), row.get("patient", "")
            if not image:
                raise DatasetError(f"{path}, line {line_no}: empty 'image'")
            if not patient:
                raise DatasetError(f"{path}, line {line_no}: image {image} has no patient id")
            if Path(image).suffix.lower() not in IMAGE_SUFFIXES:
                raise DatasetError(f"{path}, line {line_no}: {image} is not a supported image type")
            stem = Path(image).stem
            if stem in seen:
                raise DatasetError(f"{path}, line {line_no}: image name {stem!r} already used on line {seen[stem]}")
            seen[stem] = line_no
            split = row.get("split") or None
            if split is not None and split not in SPLITS:
                raise DatasetError(f"{path}, line {line_no}: split {split!r} must be one of {', '.join(SPLITS)}")
            extra = {k: v for k, v in row.items() if k not in ("image", "patient", "split")}
            records.append(ImageRecord(image, patient, split, extra))
        ds = cls(root, records, header if "split" in header else header + ["split"])
        ds._check_splits()
        for kind in MASK_KINDS:
            ds.physician_pct(kind)  # validates the column early
        return ds

    def _check_splits(self) -> None:
        given = [r.split for r in self.records]
        if any(given) and not all(given):
            empty = sum(1 for g in given if not g)
            raise DatasetError(f"{self.csv_path}: column 'split' is filled for some rows but empty for {empty}")
        by_patient: dict[str, set] = {}
        for r in self.records:
            if r.split:
                by_patient.setdefault(r.patient, set()).add(r.split)
        for patient, splits in by_patient.items():
            if len(splits) > 1:
                raise DatasetError(
                    f"{self.csv_path}: patient {patient} is in several splits ({', '.join(sorted(splits))}); "
                    "splits must be per patient"
                )

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def record(self, stem: str) -> ImageRecord:
        for r in self.records:
            if r.stem == stem:
                return r
        raise DatasetError(f"{self.csv_path}: no image named {stem!r}")

    @property
    def patients(self) -> list[str]:
        return sorted({r.patient for r in self.records})

    def image_path(self, rec: ImageRecord) -> Path:
        return self.root / rec.image

    def label_path(self, rec: ImageRecord, kind: str) -> Path:
        """Path of an existing label file, or where a new one goes (PNG for masks)."""
        if kind == "points":
            return self.root / "labels" / f"{rec.stem}.points.csv"
        if kind not in MASK_KINDS:
            raise DatasetError(f"unknown label kind {kind!r}; use one of {', '.join(MASK_KINDS)} or 'points'")
        for suffix in (".png", ".tif", ".tiff"):
            p = self.root / "labels" / f"{rec.stem}.{kind}{suffix}"
            if p.exists():
                return p
        return self.root / "labels" / f"{rec.stem}.{kind}.png"

    def read_image(self, rec: ImageRecord) -> np.ndarray:
        return read_image(self.image_path(rec))

    def has_label(self, rec: ImageRecord, kind: str) -> bool:
        return self.label_path(rec, kind).exists()

    def read_mask(self, rec: ImageRecord, kind: str = "steatosis", shape: tuple[int, int] | None = None):
        """The mask as ``(H, W) bool``, or ``None`` when the image has no such mask."""
        path = self.label_path(rec, kind)
        if not path.exists():
            return None
        return read_mask(path, shape)

    def read_points(self, rec: ImageRecord, shape: tuple[int, int] | None = None) -> PointLabels | None:
        path = self.label_path(rec, "points")
        return read_points(path, shape) if path.exists() else None

    def physician_pct(self, kind: str = "steatosis") -> dict[str, float]:
        """The pathologist's per-patient score from ``physician_<kind>_pct``, where given."""
        col = f"physician_{kind}_pct"
        out: dict[str, float] = {}
        for r in self.records:
            raw = r.extra.get(col, "")
            if raw == "":
                continue
            try:
                value = float(raw)
            except ValueError:
                raise DatasetError(f"{self.csv_path}: {col} of {r.image} is not a number: {raw!r}")
            if not (0.0 <= value <= 100.0):
                raise DatasetError(f"{self.csv_path}: {col} of {r.image} must be within 0..100, got {value}")
            if r.patient in out and not math.isclose(out[r.patient], value):
                raise DatasetError(
                    f"{self.csv_path}: patient {r.patient} has different {col} values ({out[r.patient]}, {value})"
                )
            out[r.patient] = value
        return out

    def splits(self, seed: int = 0, fractions=(0.6, 0.2, 0.2)) -> dict[str, str]:
        """Split per image stem: the ``split`` column when given, else a seeded patient split."""
        if self.records and all(r.split for r in self.records):
            return {r.stem: r.split for r in self.records}
        by_patient = patient_split([r.patient for r in self.records], seed, fractions)
        return {r.stem: by_patient[r.patient] for r in self.records}

    def records_in(self, split: str, seed: int = 0) -> list[ImageRecord]:
        s = self.splits(seed)
        return [r for r in self.records if s[r.stem] == split]

    # ---------------------------------------------------------------- writing
    @classmethod
    def create(cls, root: str | os.PathLike, images: Iterable[tuple[str | os.PathLike, str]] = ()) -> "Dataset":
        """Make a new dataset folder and copy ``(image path, patient)`` pairs into it."""
        root = make_dataset_folder(root)
        ds = cls(root, [])
        for src, patient in images:
            ds.add_image(src, patient, save=False)
        ds.save()
        return ds

    def add_image(self, src: str | os.PathLike, patient: str, split: str | None = None, save: bool = True,
                  **extra: str) -> ImageRecord:
        """Copy an image into ``images/`` and record its patient. Name collisions are refused."""
        src = Path(src)
        patient = str(patient).strip()
        if not patient:
            raise DatasetError(f"{src}: a patient id is required")
        if split is not None and split not in SPLITS:
            raise DatasetError(f"split {split!r} must be one of {', '.join(SPLITS)}")
        read_image(src)  # refuse unreadable images before copying anything
        stem = src.stem
        if any(r.stem == stem for r in self.records):
            raise DatasetError(f"{src}: an image named {stem!r} is already in {self.root}; rename it first")
        dest = self.root / "images" / src.name
        if dest.exists() and dest.resolve() != src.resolve():
            raise DatasetError(f"{dest}: a different file with this name already exists")
        (self.root / "images").mkdir(parents=True, exist_ok=True)
        if dest.resolve() != src.resolve():
            with atomic_write(dest) as tmp:
                shutil.copyfile(src, tmp)
        rec = ImageRecord(f"images/{src.name}", patient, split, {k: str(v) for k, v in extra.items()})
        for k in extra:
            if k not in self.columns:
                self.columns.append(k)
        self.records.append(rec)
        if save:
            self.save()
        return rec

    def save(self) -> None:
        """Write dataset.csv atomically, keeping extra columns."""
        rows = [{**r.extra, "image": r.image, "patient": r.patient, "split": r.split or ""} for r in self.records]
        write_table(self.csv_path, rows, self.columns)

    def write_mask(self, rec: ImageRecord, kind: str, mask: np.ndarray, shape: tuple[int, int] | None = None) -> Path:
        path = self.label_path(rec, kind)
        path.parent.mkdir(exist_ok=True)
        write_mask(path, mask, shape)
        return path

    def write_points(self, rec: ImageRecord, points: PointLabels, shape: tuple[int, int] | None = None) -> Path:
        path = self.label_path(rec, "points")
        path.parent.mkdir(exist_ok=True)
        write_points(path, points, shape)
        return path


def pixel_size_of(rec) -> float | None:
    """The image's pixel size in µm from the dataset's optional ``pixel_size_um`` column (None if absent)."""
    try:
        v = float(rec.extra.get("pixel_size_um") or "nan")
    except ValueError:
        return None
    return v if math.isfinite(v) and v > 0 else None
