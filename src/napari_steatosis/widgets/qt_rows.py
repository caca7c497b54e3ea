"""Small Qt pieces the docks share: a row of widgets side by side (the shape the docks lay their buttons
out in), and a status line that knows when it shows a hint tied to a state."""

from __future__ import annotations

from qtpy.QtWidgets import QHBoxLayout, QLabel


def row_of(*widgets) -> QHBoxLayout:
    """A horizontal layout holding ``widgets`` left to right (for ``layout.addLayout`` or ``form.addRow``)."""
    row = QHBoxLayout()
    for w in widgets:
        row.addWidget(w)
    return row


class StatusLine(QLabel):
    """A word-wrapped status line that remembers whether it shows a hint tied to a state (``hint``: its
    name, None for any other message), so a dock takes the hint down when the state ends (a slide left for
    an image) without reading its own words back, and leaves any later message alone."""

    def __init__(self, text: str = ""):
        super().__init__(text)
        self.setWordWrap(True)
        self.hint: str | None = None

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name): any other message replaces the hint
        self.hint = None
        super().setText(text)

    def show_hint(self, hint: str, text: str) -> None:
        super().setText(text)
        self.hint = hint

    def end_hint(self, hint: str, text: str = "") -> None:
        """``text`` in place of the ``hint`` if that is what it shows; otherwise nothing changes."""
        if self.hint == hint:
            self.setText(text)
