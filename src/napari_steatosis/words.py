"""Words for messages: a count with its noun in the right number ("1 image", "3 images")."""

from __future__ import annotations


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, plural (``plural`` or ``noun + "s"``) unless ``n`` is 1: ``count(1, "patient")``
    is "1 patient", ``count(0, "patient")`` "0 patients"."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
