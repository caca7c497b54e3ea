"""Atomic file writes: a temporary file in the same folder, then a rename.

The previous file stays untouched until the new one is complete, so a crash, a full disk, a
SIGKILL or an exception in the writer never leaves a half-written file behind. The new file gets
the mode a plain ``open()`` would give it (0666 less the user's umask), or the mode of the file
it replaces, so a lab's shared folder stays readable by colleagues (``mkstemp`` alone makes 0600).
"""

from __future__ import annotations

import os
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import SteatosisError

TEMP_MARK = ".tmp"  # temporary files are ".<stem>.<random>.tmp<suffix>"
_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:  # elsewhere: set and restore, the only portable way to read it
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _final_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~current_umask()


def _atomic_write(path: str | os.PathLike) -> Iterator[Path]:
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
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f"{TEMP_MARK}{path.suffix}", dir=folder)
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
        os.chmod(tmp, _final_mode(path))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# wrapped here rather than decorated: mutation testing (mutmut) leaves decorated functions alone
atomic_write = contextmanager(_atomic_write)


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete temporary files a killed writer left in ``folder``; the count removed."""
    n = 0
    for p in Path(folder).glob(f".*.*{TEMP_MARK}*"):
        if p.is_file():
            p.unlink(missing_ok=True)
            n += 1
    return n


def output_folder(path: str | os.PathLike, what: str = "--out") -> Path:
    """Create an output folder (and its parents), or say in one line why it cannot be."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise SteatosisError(f"{what} {path}: a file of that name exists; choose a folder") from None
    except PermissionError:
        raise SteatosisError(f"{what} {path}: cannot create the folder (permission denied)") from None
    except OSError as exc:
        raise SteatosisError(f"{what} {path}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise SteatosisError(f"{what} {path}: folder is not writable")
    return path
