"""Background jobs for widgets: progress, Cancel, buttons disabled while running, errors as notifications.

A job runs ``func(*args, progress=..., cancelled=..., **kwargs)`` in a napari thread worker
(napari's activity indicator shows it). ``progress(done, total)`` moves the dock's progress
bar through a queued Qt signal; ``cancelled()`` turns true when the user presses Cancel, and
the core function then raises :class:`~napari_steatosis.errors.Cancelled`. Whatever happens,
the buttons come back and the progress bar is reset.
"""

from __future__ import annotations

import json
import threading
from functools import wraps
from typing import Callable, Sequence

from qtpy.QtCore import QObject, Signal

from ..errors import Cancelled, SteatosisError


def user_message(exc: BaseException) -> str:
    """What to tell the user about an exception: our own messages as they are, others with their type."""
    if isinstance(exc, SteatosisError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def notify_error(exc: BaseException) -> None:
    from napari.utils.notifications import show_error  # noqa: PLC0415

    show_error(user_message(exc))


def notify_info(text: str) -> None:
    from napari.utils.notifications import show_info  # noqa: PLC0415

    show_info(text)


_RUNNING: set = set()  # jobs keep themselves alive until they finish


def _claim_controls(disable, bar, cancel, cancel_slot) -> None:
    """While a job runs: its buttons disabled, Cancel enabled and wired, the progress bar busy."""
    for w in disable:
        w.setEnabled(False)
    if cancel is not None:
        cancel.setEnabled(True)
        cancel.clicked.connect(cancel_slot)
    if bar is not None:
        bar.setRange(0, 0)
        bar.setVisible(True)


def _release_controls(disable, bar, cancel, cancel_slot) -> None:
    """Whatever happened: the buttons back, Cancel off and unwired, the progress bar reset and hidden."""
    for w in disable:
        w.setEnabled(True)
    if cancel is not None:
        try:
            cancel.clicked.disconnect(cancel_slot)
        except (TypeError, RuntimeError):
            pass
        cancel.setEnabled(False)
    if bar is not None:
        bar.setRange(0, 1)
        bar.setValue(0)
        bar.setVisible(False)


class Job(QObject):
    progressed = Signal(int, int)

    def __init__(self, func: Callable, *args, on_done: Callable | None = None, disable: Sequence = (),
                 desc: str = "working", progress_bar=None, cancel_button=None, callbacks: bool = True, **kwargs):
        super().__init__()
        from napari.qt.threading import create_worker  # noqa: PLC0415

        self.cancel_event = threading.Event()
        self.result = None
        self.error: BaseException | None = None
        self.finished = False
        self._disable, self._bar, self._cancel = list(disable), progress_bar, cancel_button
        if callbacks:
            kwargs = dict(kwargs, progress=self.progressed.emit, cancelled=self.cancel_event.is_set)
        self.worker = create_worker(func, *args, _progress={"desc": desc}, _ignore_errors=True, **kwargs)
        if self._bar is not None:
            self.progressed.connect(self._show_progress)
        _claim_controls(self._disable, self._bar, self._cancel, self.cancel)
        self.worker.returned.connect(self._returned)
        if on_done is not None:
            self.worker.returned.connect(on_done)
        self.worker.errored.connect(self._errored)
        self.worker.finished.connect(self._finished)
        _RUNNING.add(self)
        self.worker.start()

    def cancel(self):
        self.cancel_event.set()

    def _show_progress(self, done: int, total: int):
        if self._bar is not None:
            self._bar.setRange(0, max(total, 1))
            self._bar.setValue(done)

    def _returned(self, value):
        self.result = value

    def _errored(self, exc):
        self.error = exc
        if isinstance(exc, Cancelled):
            notify_info(str(exc) or "cancelled")
        else:
            notify_error(exc)

    def _finished(self):
        self.finished = True
        _RUNNING.discard(self)
        _release_controls(self._disable, self._bar, self._cancel, self.cancel)


def run_job(func: Callable, *args, on_done: Callable | None = None, disable: Sequence = (), desc: str = "working",
            **kwargs) -> Job:
    """A job for a function that takes no progress/cancel callbacks."""
    return Job(func, *args, on_done=on_done, disable=disable, desc=desc, callbacks=False, **kwargs)


def guarded(method):
    """Decorator for widget slots: an exception becomes a notification, not a traceback."""

    @wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 (every failure must reach the user as a message)
            notify_error(exc)
            return None

    return wrapper


class JsonLines:
    """Splits a worker process's stdout into its JSON events; other lines are ignored."""

    def __init__(self):
        self.buffer = ""

    def feed(self, data: bytes) -> list[dict]:
        self.buffer += bytes(data).decode(errors="replace")
        *lines, self.buffer = self.buffer.split("\n")
        events = []
        for line in lines:
            line = line.strip()
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass
        return events


class ProcessJob(QObject):
    """A worker process (``python -m ...``) followed through the JSON lines it prints, with Cancel.

    Owns the QProcess, the JSON-lines reader, the tail of stderr, the progress bar (any event
    with ``done`` and ``total`` moves it), the Cancel button and the buttons disabled while it
    runs. ``on_event(event)`` gets every JSON event; ``on_done(job)`` runs once at the end with
    ``job.exit_code``, ``job.cancelled`` and ``job.error`` (the worker's ``{"event": "error"}``
    message or the last line of stderr, None when it succeeded). ``stop="terminate"`` lets the
    process finish cleanly (a training run keeps its best epoch); ``"kill"`` stops it at once;
    with ``kill_after_s`` a terminated process that is still running that much later is killed.
    """

    def __init__(self, args: Sequence[str], *, on_event: Callable | None = None, on_done: Callable | None = None,
                 disable: Sequence = (), progress_bar=None, cancel_button=None, desc: str = "working",
                 stop: str = "kill", kill_after_s: float | None = None, parent=None):
        import sys  # noqa: PLC0415

        from napari.utils import progress  # noqa: PLC0415
        from qtpy.QtCore import QProcess  # noqa: PLC0415

        super().__init__(parent)
        self.args = list(args)
        self.events: list[dict] = []
        self.stderr_tail = ""
        self.cancelled = self.finished = False
        self.exit_code: int | None = None
        self.error: str | None = None
        self._worker_error: str | None = None
        self._reader = JsonLines()
        self._on_event, self._on_done, self._stop, self._kill_after_s = on_event, on_done, stop, kill_after_s
        self._disable, self._bar, self._cancel = list(disable), progress_bar, cancel_button
        self.process = QProcess(self)
        self.process.setProgram(sys.executable)
        self.process.setArguments(self.args)
        self.process.readyReadStandardOutput.connect(self._read_stdout)
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.finished.connect(self._finished)
        _claim_controls(self._disable, self._bar, self._cancel, self.cancel)
        self._activity = progress(total=0, desc=desc)  # napari's activity indicator
        _RUNNING.add(self)
        self.process.start()

    def cancel(self) -> None:
        if self.finished or self.cancelled:
            return
        self.cancelled = True
        if self._stop == "terminate":
            self.process.terminate()
            if self._kill_after_s is not None:
                from qtpy.QtCore import QTimer  # noqa: PLC0415

                QTimer.singleShot(int(1000 * self._kill_after_s), self._kill_if_running)
        else:
            self.process.kill()

    def _kill_if_running(self) -> None:
        if not self.finished:
            self.process.kill()

    def _read_stdout(self) -> None:
        for ev in self._reader.feed(self.process.readAllStandardOutput()):
            self.events.append(ev)
            if ev.get("event") == "error":
                self._worker_error = str(ev.get("message", "the worker failed"))
            if self._bar is not None and "done" in ev and "total" in ev:
                self._bar.setRange(0, max(int(ev["total"]), 1))
                self._bar.setValue(int(ev["done"]))
            if self._on_event is not None:
                self._on_event(ev)

    def _read_stderr(self) -> None:
        text = bytes(self.process.readAllStandardError()).decode(errors="replace")
        self.stderr_tail = (self.stderr_tail + text)[-4000:]

    def last_error_line(self) -> str:
        lines = [l for l in self.stderr_tail.splitlines() if l.strip()]
        return lines[-1] if lines else f"exit code {self.exit_code}"

    def _finished(self, code, status=None) -> None:
        self._read_stdout()
        self._read_stderr()
        self.finished, self.exit_code = True, int(code)
        if not self.cancelled and code != 0:
            self.error = self._worker_error or self.last_error_line()
        _RUNNING.discard(self)
        self._activity.close()
        _release_controls(self._disable, self._bar, self._cancel, self.cancel)
        if self._on_done is not None:
            self._on_done(self)

    def wait(self, msecs: int = 30000) -> bool:
        return self.process.waitForFinished(msecs)
