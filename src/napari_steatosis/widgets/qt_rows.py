"""Small Qt pieces the docks share: a row of widgets side by side (the shape the docks lay their buttons
out in), a status line that knows when it shows a hint tied to a state, and the wand's tolerance box
(Annotate and Review)."""

from __future__ import annotations

from qtpy.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel

WAND_TOLERANCE_LABEL = "wand tolerance (colour ΔE)"


def row_of(*widgets) -> QHBoxLayout:
    """A horizontal layout holding ``widgets`` left to right (for ``layout.addLayout`` or ``form.addRow``)."""
    row = QHBoxLayout()
    for w in widgets:
        row.addWidget(w)
    return row


def wand_tolerance_box() -> QDoubleSpinBox:
    """The wand's tolerance (``wand.wand``'s ``tolerance``), in ΔE; label it :data:`WAND_TOLERANCE_LABEL`."""
    from ..wand import TOLERANCE  # noqa: PLC0415

    box = QDoubleSpinBox()
    box.setRange(2, 60)
    box.setValue(TOLERANCE)
    box.setSuffix(" ΔE")
    box.setToolTip(
        "wand: how far a pixel's colour may be from the clicked colour for the region to grow over it, as a "
        "colour difference ΔE (CIELAB distance: lightness L* 0-100 and the a*/b* colour axes; about 2 is a "
        "just visible difference). Larger: the region grows further, past a faint rim; smaller: it stops sooner.")
    return box


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
