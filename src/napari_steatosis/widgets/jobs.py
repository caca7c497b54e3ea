"""Background jobs for widgets: a progress bar, buttons disabled while running, errors as notifications."""

from __future__ import annotations

from typing import Callable, Sequence

from ..errors import SteatosisError


def user_message(exc: BaseException) -> str:
    """What to tell the user about an exception: our own messages as they are, others with their type."""
    if isinstance(exc, SteatosisError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def notify_error(exc: BaseException) -> None:
    from napari.utils.notifications import show_error  # noqa: PLC0415

    show_error(user_message(exc))


def run_job(
    func: Callable,
    *args,
    on_done: Callable | None = None,
    disable: Sequence = (),
    desc: str = "working",
    **kwargs,
):
    """Run ``func(*args, **kwargs)`` in a napari thread worker with an indeterminate progress bar.

    The widgets in ``disable`` are disabled until the job ends, whatever the outcome; an
    exception becomes a napari error notification. Returns the started worker.
    """
    from napari.qt.threading import create_worker  # noqa: PLC0415

    worker = create_worker(func, *args, _progress={"desc": desc}, _ignore_errors=True, **kwargs)
    for w in disable:
        w.setEnabled(False)

    def _reenable():
        for w in disable:
            w.setEnabled(True)

    if on_done is not None:
        worker.returned.connect(on_done)
    worker.errored.connect(notify_error)
    worker.finished.connect(_reenable)
    worker.start()
    return worker


def guarded(method):
    """Decorator for widget slots: an exception becomes a notification, not a traceback."""
    from functools import wraps  # noqa: PLC0415

    @wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 (every failure must reach the user as a message)
            notify_error(exc)
            return None

    return wrapper
