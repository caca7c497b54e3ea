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
            self._bar.setRange(0, 0)
            self._bar.setVisible(True)
        if self._cancel is not None:
            self._cancel.setEnabled(True)
            self._cancel.clicked.connect(self.cancel)
        for w in self._disable:
            w.setEnabled(False)
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
        for w in self._disable:
            w.setEnabled(True)
        if self._cancel is not None:
            try:
                self._cancel.clicked.disconnect(self.cancel)
            except (TypeError, RuntimeError):
                pass
            self._cancel.setEnabled(False)
        if self._bar is not None:
            self._bar.setRange(0, 1)
            self._bar.setValue(0)
            self._bar.setVisible(False)


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
