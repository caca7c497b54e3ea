"""Turn a command-line argument (dataset folder, image files or a folder of images) into images."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import DatasetError
from .dataset import CSV_NAME, Dataset, ImageRecord
from .images import IMAGE_SUFFIXES


@dataclass
class ImageSource:
    """An image to process: its path, its name for outputs, and its dataset row if any."""

    path: Path
    stem: str
    patient: str | None = None
    record: ImageRecord | None = None
    dataset: Dataset | None = None


def collect_images(inputs: Iterable[str | os.PathLike]) -> list[ImageSource]:
    """Dataset folders (with dataset.csv), folders of images, or image files, in the order given."""
    out: list[ImageSource] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir() and (p / CSV_NAME).is_file():
            ds = Dataset.open(p)
            out += [ImageSource(ds.image_path(r), r.stem, r.patient, r, ds) for r in ds.records]
        elif p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
            if not files:
                raise DatasetError(f"{p}: no images ({', '.join(IMAGE_SUFFIXES)}) and no dataset.csv in this folder")
            out += [ImageSource(f, f.stem) for f in files]
        elif p.is_file():
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                raise DatasetError(f"{p}: not an image ({', '.join(IMAGE_SUFFIXES)})")
            out.append(ImageSource(p, p.stem))
        else:
            raise DatasetError(f"{p}: no such file or folder")
    stems = [s.stem for s in out]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise DatasetError(f"several inputs share the name {', '.join(dupes)}; outputs would overwrite each other")
    return out
