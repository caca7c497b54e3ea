"""The one "Steatosis" dock: every tool as a tab over the shared workspace, with the colour legend.

One dock instead of five keeps napari's window within a 1600 x 1000 screen: each tab scrolls
inside the dock instead of stretching the window. The tabs are the same widgets the separate
docks show, all reading and writing the viewer's workspace.
"""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFrame, QLabel, QScrollArea, QTabWidget, QVBoxLayout, QWidget

from .annotation_widget import AnnotationWidget
from .classical_widget import ClassicalWidget
from .fibrosis_widget import FibrosisWidget
from .layers import legend_html
from .report_widget import ReportWidget
from .review_widget import ReviewWidget
from .unet_widget import UNetWidget
from .workspace_view import view_of

TABS = (("Annotate", AnnotationWidget), ("U-Net", UNetWidget), ("Review", ReviewWidget),
        ("Classical", ClassicalWidget), ("Fibrosis", FibrosisWidget), ("Report", ReportWidget))


def scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


class SteatosisDock(QWidget):
    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.view = view_of(napari_viewer)
        self.ws = self.view.ws
        self.legend = QLabel(legend_html())
        self.legend.setWordWrap(True)
        self.current = QLabel("")
        self.current.setStyleSheet("font-weight: bold")
        self.tabs = QTabWidget()
        self.panels: dict[str, QWidget] = {}
        for title, cls in TABS:
            panel = cls(napari_viewer) if cls is not ReviewWidget else cls(napari_viewer,
                                                                            self.panels["U-Net"].retrain_panel)
            self.panels[title] = panel
            self.tabs.addTab(scrolled(panel), title)
        self.panels["Fibrosis"].set_live(False)  # its overlay follows the image once its tab is opened
        self.tabs.currentChanged.connect(self._on_tab)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.current)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.legend)
        self.setMinimumWidth(420)
        self.ws.image_changed.connect(self._on_image)
        self.ws.dirty_changed.connect(lambda _: self._on_image(self.ws))
        self._on_image(self.ws)

    def _on_tab(self, index: int) -> None:
        if TABS[index][0] == "Fibrosis":
            self.panels["Fibrosis"].set_live(True)

    def show_tab(self, title: str) -> QWidget:
        self.tabs.setCurrentIndex([t for t, _ in TABS].index(title))
        return self.panels[title]

    def _on_image(self, ws) -> None:
        if ws.image is None:
            self.current.setText("No image: open a dataset (Annotate) or an image (File > Open)")
            return
        where = f"{ws.record.patient}, {ws.dataset.root.name}" if ws.record is not None else "not in a dataset"
        self.current.setText(f"{ws.name} ({where})" + (" — unsaved labels" if ws.dirty else ""))
