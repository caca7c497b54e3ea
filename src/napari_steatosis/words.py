"""Words for messages: a count with its noun in the right number ("1 image", "3 images")."""

from __future__ import annotations


def noun(n: float, singular: str, plural: str | None = None) -> str:
    """``singular`` when ``n`` is 1, else ``plural`` (default: ``singular + "s"``)."""
    return singular if n == 1 else plural or singular + "s"


def count(n: float, singular: str, plural: str | None = None, fmt: str = "") -> str:
    """``n`` (formatted with ``fmt``) and its noun: ``count(1, "patient")`` is "1 patient",
    ``count(0, "patient")`` "0 patients", ``count(2.5, "minute", fmt="g")`` "2.5 minutes"."""
    return f"{n:{fmt}} {noun(n, singular, plural)}"
