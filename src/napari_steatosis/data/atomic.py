"""Atomic file writes: a temporary file in the same folder, then a rename.

The previous file stays untouched until the new one is complete, so a crash, a full disk
or an exception in the writer never leaves a half-written label file behind.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import SteatosisError


@contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` when the block succeeds.

    The temporary file keeps the final suffix so that writers that choose a format by
    extension (OpenCV, tifffile) work unchanged. On any error the temporary file is removed
    and ``path`` keeps its previous content.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise SteatosisError(f"cannot write {path}: folder {folder} does not exist")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=folder)
    except PermissionError as exc:
        raise SteatosisError(f"cannot write {path}: folder {folder} is not writable") from exc
    except OSError as exc:
        raise SteatosisError(f"cannot write {path}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise SteatosisError(f"writing {path} produced no data; the previous file was kept")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
