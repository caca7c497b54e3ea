"""Run one task per image over a batch, here or on a dask.distributed cluster.

A task turns one image (a path the worker reads itself) into its output files and a small
JSON-able result. :func:`run_one` runs it and then writes the image's *record*,
``OUT/records/<stem>.<kind>.json`` (the result, the settings and the input file's size and
time), last and atomically: an image whose record is there and matches is complete, so
``--resume`` skips it. A failing image gets no output at all (what it wrote is removed), its
error is kept, and the other images go on. The driver assembles the tables from the results
in input order, so they do not depend on the order in which workers finish.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

from .data.atomic import atomic_write, output_folder, remove_stale_temporaries
from .data.tables import write_table

RECORDS = "records"
FAILURES = "failures.csv"


@dataclass(frozen=True)
class Job:
    """One image of a batch: what a worker needs to find it and name its outputs.

    ``path`` is absolute, so that a worker started in another folder finds the file; ``shown``
    is the path as the user gave it, for the tables.
    """

    path: str
    stem: str
    patient: str | None = None
    shown: str = ""
    slide: bool = False  # a whole-slide image: processed block by block, pyramidal outputs
    pixel_size_um: float | None = None  # the dataset's pixel_size_um column, when the image has a row there

    @classmethod
    def of(cls, path, stem: str, patient: str | None = None, slide: bool = False,
           pixel_size_um: float | None = None) -> "Job":
        return cls(os.path.abspath(path), stem, patient, str(path), slide, pixel_size_um)


class ImageTask(Protocol):
    kind: str  # names the records: quantify, predict, fibrosis

    def settings(self) -> dict: ...  # JSON-able; a record made with other settings is not reused

    def outputs(self, stem: str, slide: bool = False) -> list[str]: ...  # file names in OUT it writes for an image

    def load(self): ...  # its model, loaded once per process

    def __call__(self, job: Job, out: Path) -> dict: ...  # writes the outputs, returns the result


@dataclass
class BatchResult:
    results: list[tuple[Job, dict]] = field(default_factory=list)  # in input order
    failures: list[tuple[Job, str]] = field(default_factory=list)  # in input order
    skipped: int = 0  # complete from an earlier run (--resume)


def record_path(out: Path, kind: str, stem: str) -> Path:
    return Path(out) / RECORDS / f"{stem}.{kind}.json"


def _input_stamp(path: str) -> dict:
    from .errors import DatasetError  # noqa: PLC0415

    try:
        st = os.stat(path)
    except FileNotFoundError:
        where = (" on this dask worker: is it on a filesystem every worker sees under the same path?"
                 if on_dask_worker() else "")
        raise DatasetError(f"{path}: file not found{where}") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return dict(path=str(path), size=st.st_size, mtime_ns=st.st_mtime_ns)


def one_line(exc: BaseException) -> str:
    """An exception as one line: our own errors already name the file; others say their type."""
    from .errors import SteatosisError  # noqa: PLC0415

    text = str(exc) if isinstance(exc, SteatosisError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


def run_one(task: ImageTask, job: Job, out: str | os.PathLike) -> tuple[str, dict | str]:
    """Run ``task`` on one image where this is called (a worker): ``("done", result)`` or ``("failed", error)``.

    The record is written last; on any failure or interruption the image's outputs and record
    are removed, so an image is either complete or absent.
    """
    out = Path(out)
    if on_dask_worker():  # its warnings reach the terminal as the command's own do: one line each
        import warnings  # noqa: PLC0415

        warnings.showwarning = lambda message, *_, **__: print(f"warning: {message}", file=sys.stderr, flush=True)
    try:
        stamp = _input_stamp(job.path)
        result = task(job, out)
        record = dict(kind=task.kind, settings=task.settings(), input=stamp, result=result)
        with atomic_write(record_path(out, task.kind, job.stem)) as tmp:
            tmp.write_text(json.dumps(record))
        return "done", result
    except BaseException as exc:
        for name in [*task.outputs(job.stem, job.slide), str(Path(RECORDS) / f"{job.stem}.{task.kind}.json")]:
            (out / name).unlink(missing_ok=True)
        if not isinstance(exc, Exception):
            raise
        return "failed", one_line(exc)


def load_once(task, client=None) -> None:
    """Load the task's model here (or on one worker) first: a model that cannot be loaded is one
    clear error before the batch starts, not one failure per image."""
    if client is None:
        task.load()
    else:
        client.submit(_load, task, pure=False).result()


def _load(task) -> None:
    task.load()


def finished_result(task: ImageTask, job: Job, out: Path) -> dict | None:
    """The result of an earlier run of the same task with the same settings on the same file, if complete."""
    try:
        record = json.loads(record_path(out, task.kind, job.stem).read_text())
        if (record.get("kind") != task.kind or record.get("settings") != json.loads(json.dumps(task.settings()))
                or record.get("input") != _input_stamp(job.path)):
            return None
    except (OSError, ValueError, AttributeError):
        return None
    if not all((out / name).is_file() for name in task.outputs(job.stem, job.slide)):
        return None
    return record.get("result")


def run_batch(task: ImageTask, jobs: Sequence[Job], out: str | os.PathLike, client=None, resume: bool = False,
              progress: Callable[[int, int], None] | None = None,
              on_failure: Callable[[Job, str], None] | None = None,
              block_progress: Callable[[int, int], None] | None = None) -> BatchResult:
    """Run ``task`` on every job, in this process or on ``client`` (a dask.distributed Client).

    Workers get only the job (paths and names) and read the image themselves. ``progress(done,
    total)`` counts images as they finish, in any order; ``block_progress(done, total)`` the
    blocks of slides (see :func:`report_blocks`); ``on_failure`` hears of each failed image as it
    happens. Ctrl-C cancels what is still queued; finished images keep their outputs.
    """
    with _listening_to_blocks(client, block_progress):
        return _run_batch(task, jobs, out, client, resume, progress, on_failure)


def _run_batch(task, jobs, out, client, resume, progress, on_failure) -> BatchResult:
    out = output_folder(out).resolve()  # absolute: workers may run in another folder
    (out / RECORDS).mkdir(exist_ok=True)
    remove_stale_temporaries(out)
    remove_stale_temporaries(out / RECORDS)
    done: dict[str, dict] = {}
    failed: dict[str, str] = {}
    pending = []
    for job in jobs:
        previous = finished_result(task, job, out) if resume else None
        if previous is None:
            pending.append(job)
        else:
            done[job.stem] = previous
    skipped = len(done)
    total = len(jobs)

    def finish(job: Job, status: str, value) -> None:
        if status == "done":
            done[job.stem] = value
        else:
            failed[job.stem] = value
            if on_failure:
                on_failure(job, value)
        if progress:
            progress(len(done) + len(failed), total)

    if progress:
        progress(len(done), total)
    if client is None:
        for job in pending:
            finish(job, *run_one(task, job, str(out)))
    else:
        _run_on_cluster(client, task, pending, out, finish)
    return BatchResult([(j, done[j.stem]) for j in jobs if j.stem in done],
                       [(j, failed[j.stem]) for j in jobs if j.stem in failed], skipped)


def _submit(client, task: ImageTask, job: Job, out: Path):
    return client.submit(run_one, task, job, str(out), pure=False, key=f"{task.kind}-{job.stem}-{os.urandom(4).hex()}")


def _run_on_cluster(client, task: ImageTask, jobs: Sequence[Job], out: Path, finish) -> None:
    from distributed import KilledWorker, as_completed  # noqa: PLC0415

    futures = {_submit(client, task, job, out): job for job in jobs}
    killed = []
    try:
        for future in as_completed(list(futures)):
            job = futures[future]
            try:
                finish(job, *future.result())
            except KilledWorker:  # its worker died (e.g. out of memory), maybe because of another image
                killed.append(job)
            except Exception as exc:  # noqa: BLE001 (the task could not even be run)
                finish(job, "failed", f"{job.path}: worker failed ({one_line(exc)})")
        # dask blames every image a dying worker held; alone, each shows whether it kills its worker itself
        for job in killed:
            future = _submit(client, task, job, out)
            futures[future] = job
            try:
                finish(job, *future.result())
            except KilledWorker:
                finish(job, "failed", f"{job.path}: its worker died while running it, each time it was tried "
                                      "(out of memory? the workers' logs say)")
            except Exception as exc:  # noqa: BLE001
                finish(job, "failed", f"{job.path}: worker failed ({one_line(exc)})")
    except BaseException:
        client.cancel(list(futures), force=True)
        raise


def on_dask_worker() -> bool:
    """Whether this code runs inside a task of a dask worker."""
    if "distributed" not in sys.modules:  # a worker has imported it; importing it here costs ~1 s
        return False
    try:
        from distributed import get_worker  # noqa: PLC0415

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def fan_out(fn: Callable, shared, chunks: Sequence, each: Callable[[object], None] | None = None) -> list:
    """``[fn(shared, chunk) for chunk in chunks]``, spread over the cluster when called inside a task of
    a dask worker (e.g. the blocks of one big slide), else one after another right here.

    ``shared`` (a slide's plan) is sent to the cluster once; the calling task steps aside while
    its chunks run, so it holds no worker thread. Results come back in the order of ``chunks``;
    ``each(result)`` hears of every one as it finishes.
    """
    if not on_dask_worker():
        results = []
        for chunk in chunks:
            results.append(fn(shared, chunk))
            if each:
                each(results[-1])
        return results
    from distributed import as_completed, worker_client  # noqa: PLC0415

    with worker_client() as client:
        shared_future = client.scatter(shared, broadcast=True)  # on every worker: no pull towards one
        futures = [client.submit(fn, shared_future, chunk, pure=False) for chunk in chunks]
        order = {f.key: k for k, f in enumerate(futures)}
        results: list = [None] * len(futures)
        try:
            for future in as_completed(futures):
                results[order[future.key]] = future.result()
                if each:
                    each(results[order[future.key]])
        except BaseException:
            client.cancel(futures)
            raise
        return results


BLOCK_TOPIC = "napari-steatosis-blocks"
_block_listener: Callable[[int, int], None] | None = None


def report_blocks(done: int = 0, total: int = 0) -> None:
    """Tell whoever runs the batch that ``total`` more blocks are planned or ``done`` more finished:
    on a dask worker as an event of the cluster, here to the listener of :func:`run_batch`."""
    if on_dask_worker():
        from distributed import get_worker  # noqa: PLC0415

        get_worker().log_event(BLOCK_TOPIC, dict(done=done, total=total))
    elif _block_listener is not None:
        _block_listener(done, total)


@contextmanager
def _listening_to_blocks(client, block_progress):
    global _block_listener
    if block_progress is None:
        yield
        return
    counts = [0, 0]
    lock = threading.Lock()

    def heard(done: int, total: int) -> None:
        with lock:
            counts[0] += done
            counts[1] += total
            block_progress(*counts)

    if client is None:
        _block_listener = heard
    else:
        client.subscribe_topic(BLOCK_TOPIC, lambda event: heard(event[1]["done"], event[1]["total"]))
    try:
        yield
    finally:
        if client is None:
            _block_listener = None
        else:
            client.unsubscribe_topic(BLOCK_TOPIC)


def write_failures(out: Path, failures: list[tuple[Job, str]]) -> Path | None:
    """``failures.csv`` (image, error) when images failed; a stale one from an earlier run is removed."""
    path = Path(out) / FAILURES
    if not failures:
        path.unlink(missing_ok=True)
        return None
    write_table(path, [dict(image=j.shown or j.path, error=e) for j, e in failures], ["image", "error"])
    return path


def require_some_done(batch: BatchResult, out: Path) -> None:
    """When every image failed: ``failures.csv`` and one error naming them, before any table is written,
    so an empty table never passes for a result and an earlier run's tables stay as they were."""
    from .errors import SteatosisError  # noqa: PLC0415

    if batch.results or not batch.failures:
        return
    path = write_failures(out, batch.failures)
    names = [j.shown or j.path for j, _ in batch.failures]
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    raise SteatosisError(f"every image failed ({', '.join(names[:5])}{more}): nothing measured and no table "
                         f"written; the reasons are in {path}")


_CACHE: dict = {}
_CACHE_LOCK = threading.RLock()  # a factory may itself use per_process


def per_process(key, factory: Callable[[], object]):
    """``factory()`` made once per process (per dask worker) and kept: models are loaded once, not per image."""
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = factory()
        return _CACHE[key]
