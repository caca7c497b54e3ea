"""A row of widgets side by side, the shape the docks lay their buttons out in."""

from __future__ import annotations

from qtpy.QtWidgets import QHBoxLayout


def row_of(*widgets) -> QHBoxLayout:
    """A horizontal layout holding ``widgets`` left to right (for ``layout.addLayout`` or ``form.addRow``)."""
    row = QHBoxLayout()
    for w in widgets:
        row.addWidget(w)
    return row
