"""Turn a command-line argument (dataset folder, image or slide files, a folder of them) into images."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import DatasetError
from .dataset import CSV_NAME, Dataset, ImageRecord
from .images import IMAGE_SUFFIXES
from .slides import SLIDE_SUFFIXES, image_stem, is_slide

SUFFIXES = tuple(dict.fromkeys(IMAGE_SUFFIXES + SLIDE_SUFFIXES))


def _readable(p: Path) -> bool:
    name = p.name.lower()
    return p.is_file() and not name.startswith(".") and name.endswith(SUFFIXES)


def _subfolders_with_images(folder: Path) -> str:
    """The names of ``folder``'s subfolders that hold images or slides (at most three, then '…'), or ''."""
    subs = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")
                  and any(_readable(f) for f in d.iterdir()))
    return ", ".join(subs[:3]) + (", …" if len(subs) > 3 else "")


@dataclass
class ImageSource:
    """An image to process: its path, its name for outputs, and its dataset row if any."""

    path: Path
    stem: str
    patient: str | None = None
    record: ImageRecord | None = None
    dataset: Dataset | None = None

    @property
    def is_slide(self) -> bool:
        """A whole-slide image (processed block by block) rather than an image read whole."""
        return is_slide(self.path)


def collect_images(inputs: Iterable[str | os.PathLike]) -> list[ImageSource]:
    """Dataset folders (with dataset.csv), folders of images or slides, or their files, in the order given."""
    out: list[ImageSource] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir() and (p / CSV_NAME).is_file():
            ds = Dataset.open(p)
            out += [ImageSource(ds.image_path(r), r.stem, r.patient, r, ds) for r in ds.records]
        elif p.is_dir():
            files = sorted(f for f in p.iterdir() if _readable(f))
            nested = _subfolders_with_images(p)
            if not files:
                hint = f"; its subfolders {nested} hold some: give them ({p / '*'})" if nested else ""
                raise DatasetError(f"{p}: no images or slides ({', '.join(SUFFIXES)}) and no dataset.csv in this "
                                   f"folder{hint}")
            if nested:  # one patient per subfolder, say: not searched, so say it rather than leave them out unseen
                warnings.warn(f"{p}: the images in its subfolders {nested} are not measured (give them too: "
                              f"{p / '*'})", stacklevel=2)
            out += [ImageSource(f, image_stem(f)) for f in files]
        elif p.is_file():
            if not p.name.lower().endswith(SUFFIXES):
                raise DatasetError(f"{p}: not an image or slide ({', '.join(SUFFIXES)})")
            out.append(ImageSource(p, image_stem(p)))
        else:
            raise DatasetError(f"{p}: no such file or folder")
    stems = [s.stem for s in out]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise DatasetError(f"several inputs share the name {', '.join(dupes)}; outputs would overwrite each other")
    return out
