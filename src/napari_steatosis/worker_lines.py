"""How a worker process that napari follows (:class:`~.widgets.jobs.ProcessJob`) talks: one JSON object a line.

``emit(event=..., ...)`` prints one; :func:`reported` runs the worker's body and turns its end into the
last line and the exit code: ``{"event": "error", "message": ...}`` and 2 for a SteatosisError (a one-line
message for the user), ``{"event": "cancelled"}`` and 130 when the user cancelled.
"""

from __future__ import annotations

import json
from typing import Callable

from .errors import Cancelled, SteatosisError


def emit(**event) -> None:
    print(json.dumps(event, default=float), flush=True)


def reported(body: Callable[[], int]) -> int:
    try:
        return body()
    except Cancelled:
        emit(event="cancelled")
        return 130
    except SteatosisError as exc:
        emit(event="error", message=str(exc))
        return 2
    except KeyboardInterrupt:
        return 130


def scale_choice_text(event: dict) -> str:
    """What ``--scale auto`` chose, from a worker's done event or a slide's numbers (``scale`` and
    ``scale_note``); '' when the run had a number."""
    if event.get("scale") is None:
        return ""
    if event.get("scale_note"):
        return f"scale auto: x{event['scale']:.2g}, {event['scale_note']}"
    return f"scale auto: x{event['scale']:.2g} from nuclei"
