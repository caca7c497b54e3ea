"""U-Net dock: the run panel (the network on the current image) above the retrain panel (with its plot).

Neither panel runs TensorFlow in napari's process: both follow worker processes
(:class:`~.jobs.ProcessJob`). See ``unet_run.py`` and ``unet_training.py``.
"""

from __future__ import annotations

from qtpy.QtWidgets import QVBoxLayout, QWidget

from .unet_run import UNetRunPanel
from .unet_training import RetrainPanel


class UNetWidget(QWidget):
    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.run_panel = UNetRunPanel(napari_viewer)
        self.retrain_panel = RetrainPanel(napari_viewer, self.run_panel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.run_panel)
        layout.addWidget(self.retrain_panel)
        layout.addStretch(1)
