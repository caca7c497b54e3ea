"""Turn a command-line argument (dataset folder, image or slide files, a folder of them) into images."""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import DatasetError
from ..words import count
from .dataset import CSV_NAME, Dataset, ImageRecord
from .images import IMAGE_SUFFIXES
from .slides import SLIDE_SUFFIXES, image_stem, is_slide

SUFFIXES = tuple(dict.fromkeys(IMAGE_SUFFIXES + SLIDE_SUFFIXES))


def _readable(p: Path) -> bool:
    name = p.name.lower()
    return p.is_file() and not name.startswith(".") and name.endswith(SUFFIXES)


def _images_in(folder: Path) -> list[Path]:
    """The images and slides directly in ``folder``, sorted."""
    return sorted(f for f in folder.iterdir() if _readable(f))


def _subfolders_with_images(folder: Path) -> dict[Path, list[Path]]:
    """``folder``'s subfolders (not hidden) that hold images or slides directly, sorted, with those images."""
    listed = {d: _images_in(d) for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    return {d: files for d, files in listed.items() if files}


def _names(folders: list[Path]) -> str:
    """At most three folder names, then '…'."""
    return ", ".join(d.name for d in folders[:3]) + (", …" if len(folders) > 3 else "")


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
    """Dataset folders (with dataset.csv), folders of images or slides, or their files, in the order given.

    Without a dataset.csv the patient is the folder when images come one folder per patient: the
    subfolders of a folder that holds no images itself (``study``), or two or more folders given
    (``study/*``); a single folder of images, or images given one by one, leave each image its own
    patient (``patient`` None). :func:`patient_rule` says which, in one line.
    """
    paths = [Path(item) for item in inputs]
    listed = {p: _images_in(p) for p in paths if p.is_dir() and not (p / CSV_NAME).is_file()}  # each listed once
    folder_is_patient = sum(bool(files) for files in listed.values()) >= 2  # study/*: one folder per patient
    out: list[ImageSource] = []
    for p in paths:
        if p.is_dir() and (p / CSV_NAME).is_file():
            ds = Dataset.open(p)
            out += [ImageSource(ds.image_path(r), r.stem, r.patient, r, ds) for r in ds.records]
        elif p.is_dir():
            files = listed[p]
            nested = _subfolders_with_images(p)
            if not files and not nested:
                raise DatasetError(f"{p}: no images or slides ({', '.join(SUFFIXES)}) and no dataset.csv in this "
                                   "folder or its subfolders")
            if files and nested:  # not searched, so say it rather than leave them out unseen
                warnings.warn(f"{p}: the images in its subfolders {_names(list(nested))} are not measured (only the "
                              f"images beside them are; give the subfolders too: {p / '*'})", stacklevel=2)
            if files:
                patient = _folder_name(p) if folder_is_patient else None
                out += [ImageSource(f, image_stem(f), patient) for f in files]
            else:  # one subfolder per patient
                out += [ImageSource(f, image_stem(f), d.name) for d, found in nested.items() for f in found]
        elif p.is_file():
            if not p.name.lower().endswith(SUFFIXES):
                raise DatasetError(f"{p}: not an image or slide ({', '.join(SUFFIXES)})")
            out.append(ImageSource(p, image_stem(p)))
        else:
            raise DatasetError(f"{p}: no such file or folder")
    _unique_stems(out)
    return out


def _by_stem(sources: list[ImageSource]) -> dict[str, list[ImageSource]]:
    by_stem: dict[str, list[ImageSource]] = {}
    for s in sources:
        by_stem.setdefault(s.stem, []).append(s)
    return by_stem


def _file_name_part(name: str) -> str:
    """``name`` fit to go into a file name (a patient id from dataset.csv may hold slashes or spaces)."""
    return re.sub(r"[^\w.-]+", "_", name)


def _unique_stems(sources: list[ImageSource]) -> None:
    """Outputs are named by stem: where inputs share one (scanners name files alike: ``P1/slide1.png``,
    ``P2/slide1.png``), each gets its patient's name in front (else its folder's), ``P1_slide1``, and the
    run says so; inputs that still share a name (the same folder, the same file twice) are refused."""
    clashes = {stem: group for stem, group in _by_stem(sources).items() if len(group) > 1}
    for stem, group in clashes.items():
        for s in group:
            s.stem = f"{_file_name_part(s.patient or _folder_name(s.path.parent))}_{stem}"
    by_stem = _by_stem(sources)
    dupes = sorted(stem for stem, group in by_stem.items() if len(group) > 1)
    if dupes:
        first = ", ".join(str(s.path) for s in by_stem[dupes[0]][:3])
        more = f" (and {count(len(dupes) - 1, 'other name')})" if len(dupes) > 1 else ""
        raise DatasetError(f"several inputs would name their outputs {dupes[0]} ({first}){more}: they would overwrite "
                           "each other; rename them")
    if clashes:
        stem, group = next(iter(clashes.items()))
        more = f" (and {count(len(clashes) - 1, 'other name')})" if len(clashes) > 1 else ""
        warnings.warn(f"several folders hold a file named {stem}{more}: its outputs are named after the patient or "
                      f"folder, {', '.join(s.stem for s in group[:3])}", stacklevel=3)


def _folder_name(folder: Path) -> str:
    return Path(os.path.abspath(folder)).name  # "." and ".." are named by where they are


def patient_rule(sources: list[ImageSource]) -> str | None:
    """How the images without a dataset.csv row got their patient, in one line (None when every image has a
    row, or for a single image: one image is one patient whatever the rule)."""
    plain = [s for s in sources if s.record is None]
    if not plain or len(sources) == 1:
        return None
    folders: dict[str, int] = {}
    for s in plain:
        if s.patient is not None:
            folders[s.patient] = folders.get(s.patient, 0) + 1
    parts = []
    if folders:
        shown = ", ".join(f"{p} ({count(n, 'image')})" for p, n in list(folders.items())[:5])
        parts.append(f"one patient per folder: {shown}{', …' if len(folders) > 5 else ''}")
    alone = sum(s.patient is None for s in plain)
    if alone:
        parts.append(f"{count(alone, 'image')} given one by one or in a single folder, each its own patient (one "
                     "subfolder per patient, or a dataset.csv with a patient column, groups them)")
    return f"patients (no dataset.csv): {'; '.join(parts)}"
