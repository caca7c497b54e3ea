"""CSV tables: checked reading (header, required columns, clear errors) and atomic writing."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..errors import DatasetError
from .atomic import atomic_write


def read_table(path: str | os.PathLike, required: Sequence[str]) -> tuple[list[str], Iterator[tuple[int, dict]]]:
    """The header and ``(line number, row)`` pairs of a CSV file; missing columns are an error.

    Cells are stripped of surrounding spaces; a byte-order mark (Excel's "CSV UTF-8") and Windows
    line ends are accepted; a semicolon-separated file is refused with a message that says so.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise DatasetError(f"{path}: empty file; the header needs the columns {','.join(required)}")
    missing = [c for c in required if c not in header]
    if missing and len(header) == 1 and ";" in header[0]:
        raise DatasetError(f"{path}: the columns are separated by semicolons (Excel in some languages saves CSV "
                           "so); save it as comma-separated CSV (CSV UTF-8)")
    if missing:
        raise DatasetError(f"{path}: missing required column(s) {', '.join(missing)} (need {','.join(required)})")
    reader.fieldnames = header

    def rows():
        for line_no, row in enumerate(reader, start=2):
            yield line_no, {k: (v or "").strip() for k, v in row.items() if k is not None}

    return header, rows()


def write_table(path: str | os.PathLike, rows: Iterable[dict], fieldnames: Sequence[str]) -> None:
    """Write rows as CSV atomically; keys not in ``fieldnames`` are left out."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fieldnames), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_write(path) as tmp:
        Path(tmp).write_text(buf.getvalue(), encoding="utf-8")


def columns_of(rows: Iterable[dict]) -> list[str]:
    """Every key of the rows, in first-seen order (for tables whose rows differ in keys)."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    return cols
