"""U-Net run panel: the network on the workspace's current image, in a worker process, with a live threshold.

The network never runs in napari's own process (``python -m napari_steatosis.unet.worker``
through a :class:`~.jobs.ProcessJob`): TensorFlow and Qt 6 in one process crash on some
systems, and a process can be stopped at once. The result goes into the workspace as the
"unet" result (probability map and thresholded mask); the threshold slider re-thresholds
it without running the network again. Changing image drops the result and its number.

On a whole slide, "Run on visible region" has the worker read the level-0 region on screen and
draws its mask over the slide where it was read (the slider re-thresholds it too); "Run on the
whole slide" (:class:`~.slide_panel.WholeSlidePanel`) runs the model over every tissue block.

*scale* is the worker's ``--scale``; *auto (from nuclei)* passes ``--scale auto`` (each image or
visible region resized from the size of its nuclei, the factor shown after the run); a whole
slide gets one factor for all its blocks, from the nuclei of a few crops, shown with its numbers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QGroupBox,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QVBoxLayout,
)

from ..errors import SteatosisError
from ..measure import grade_name
from ..preprocess import percent_of_tissue, tissue_mask
from ..stain import require_colour
from ..unet.complete import WhiteRegions
from ..worker_lines import scale_choice_text
from ..workspace import Result
from .jobs import ProcessJob, guarded, notify_error, notify_info
from .layers import labels_colormap
from .qt_rows import row_of
from .slide_panel import WholeSlidePanel, show_region_layer
from .workspace_view import view_of, visible_region, workspace_of

REGION_LAYER = "steatosis (U-Net, visible region)"


def model_card(path):
    from ..unet import default_model  # noqa: PLC0415 (no TensorFlow: reads the JSON card only)
    from ..unet.card import load_card  # noqa: PLC0415

    return load_card(path or default_model.path())


AUTO_TIP = ("measure each image's nuclei and resize it so that they fall in the reach of the model's training "
            "images (as `steatosis predict --scale auto`); a whole slide: one factor from a few crops' nuclei")
NO_AUTO_TIP = "this model's card records no nucleus size (train-unet writes it for H&E training data): set a number"


def auto_scale_text(done: dict) -> str:
    """What --scale auto chose, from the worker's done event ('' when the run had a number)."""
    text = scale_choice_text(done)
    return f"; {text}" if text else ""


def steatosis_readout(percent: float) -> str:
    """"Steatosis: 12.3 % of tissue, S1, mild (5-33 %)"; more decimals where one would round across a
    grade's cut (33.04 % is S2: shown as 33.04, not as a 33.0 that reads as S1)."""
    digits = 1
    while digits < 4 and grade_name(round(percent, digits)) != grade_name(percent):
        digits += 1
    return f"Steatosis: {percent:.{digits}f} % of tissue, {grade_name(percent)}"


class UNetRunPanel(QGroupBox):
    def __init__(self, napari_viewer):
        super().__init__("Run")
        self.viewer = napari_viewer
        self.ws = workspace_of(napari_viewer)
        self.model_path: str | None = None  # None: the shipped default
        self.job: ProcessJob | None = None
        self.prob = self.tissue = None
        self.cover: float | None = None  # the card's completion to white regions, as predict and quantify apply it
        self.region_rgb: np.ndarray | None = None  # a slide region's pixels, read by the worker (for completion)
        self._white: WhiteRegions | None = None  # the result's white regions, found once: the slider moves only t
        self.percent: float | None = None
        self._region = None  # (Region, slide layer) when the probability is of a slide's visible region

        self.model_label = QLabel("model: shipped default")
        self.model_label.setWordWrap(True)
        self.load_btn = QPushButton("Load model…")
        self.default_btn = QPushButton("Use default")
        self.run_btn = QPushButton("Run on current image")
        self.region_btn = QPushButton("Run on visible region")
        self.region_btn.setToolTip("a whole slide on screen: the U-Net on its visible region at full resolution "
                                   "(at most 4096 x 4096 px), drawn over the slide; the threshold follows it")
        self.cancel_run_btn = QPushButton("Cancel")
        self.cancel_run_btn.setEnabled(False)
        self.run_progress = QProgressBar()
        self.run_progress.setVisible(False)
        self.threshold = QSlider(Qt.Horizontal)
        self.threshold.setRange(1, 99)
        self.threshold.setValue(50)
        self.threshold_label = QLabel("0.50")
        self.readout = QLabel("")
        self.readout.setStyleSheet("font-weight: bold")
        self.readout.setWordWrap(True)
        self.device_label = QLabel("")
        self.device_label.setWordWrap(True)  # scale auto can say at length why it fell back
        self.scale = QDoubleSpinBox()
        self.scale.setRange(0.05, 4.0)
        self.scale.setSingleStep(0.1)
        self.scale.setValue(1.0)
        self.scale.setToolTip("resize the image by this factor before the network: below 1 for images at a higher "
                              "magnification than the model's (hepatocytes much larger than ~25-30 px)")
        self.auto_scale = QCheckBox("auto (from nuclei)")
        self.auto_scale.setToolTip(AUTO_TIP)
        self.auto_scale.toggled.connect(lambda on: self.scale.setEnabled(not on))
        lay = QVBoxLayout(self)
        lay.addWidget(self.model_label)
        lay.addLayout(row_of(self.load_btn, self.default_btn))
        lay.addLayout(row_of(QLabel("scale"), self.scale, self.auto_scale))  # with Run and Cancel: wider than the dock
        lay.addLayout(row_of(self.run_btn, self.region_btn, self.cancel_run_btn))  # run_btn on images, region on slides
        lay.addWidget(self.run_progress)
        lay.addLayout(row_of(QLabel("threshold"), self.threshold, self.threshold_label))
        lay.addWidget(self.readout)
        lay.addWidget(self.device_label)
        self.slide_panel = WholeSlidePanel(napari_viewer, "steatosis", "unet", "U-Net", self.slide_settings)
        lay.addWidget(self.slide_panel)

        self.load_btn.clicked.connect(lambda: self.load_model())
        self.default_btn.clicked.connect(lambda: self.set_model_path(None))
        self.run_btn.clicked.connect(lambda: self.run())
        self.region_btn.clicked.connect(lambda: self.run_on_visible_region())
        self.threshold.valueChanged.connect(lambda _: self.apply_threshold())
        self.ws.image_changed.connect(self._on_image)
        self._on_image(self.ws)
        try:  # the shipped model's threshold from its card, quietly if it is missing
            self._apply_card(model_card(None))
        except SteatosisError:
            pass

    def slide_settings(self) -> dict:
        """The whole-slide worker's settings: this model, threshold and scale (a number, or "auto": one factor
        for every block, from the slide's nuclei)."""
        return dict(method="unet", model=self.model_path, threshold=self.threshold.value() / 100,
                    scale=self.chosen_scale())

    def chosen_scale(self) -> float | str:
        """'auto' when ticked, else the number in the box."""
        return "auto" if self.auto_scale.isChecked() else self.scale.value()

    def scale_arg(self) -> str:
        """The worker's --scale: 'auto', or the number in the box."""
        scale = self.chosen_scale()
        return scale if scale == "auto" else f"{scale:g}"

    @property
    def run_process(self):
        return self.job.process if self.job is not None else None

    # ------------------------------------------------------------------ model
    def set_model_path(self, path: str | None) -> None:
        self.model_path = path
        self.model_label.setText(f"model: {path or 'shipped default'}")
        card = {}
        try:
            card = model_card(path)
        except SteatosisError as exc:
            notify_error(exc)
        self._apply_card(card)

    def _apply_card(self, card: dict) -> None:
        from ..unet.card import default_scale  # noqa: PLC0415

        can_auto = default_scale(card) == "auto"
        self.auto_scale.setEnabled(can_auto)
        self.auto_scale.setToolTip(AUTO_TIP if can_auto else NO_AUTO_TIP)
        self.auto_scale.setChecked(can_auto)  # each model's default, as the command line's
        if "threshold" in card:
            self.threshold.setValue(int(round(100 * float(card["threshold"]))))
            vj = card.get("val_jaccard")
            self.model_label.setText(self.model_label.text() + (f" (validation Jaccard {vj:.2f})" if vj else ""))

    @guarded
    def load_model(self, path: str | None = None):
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "U-Net model", "", "Keras models (*.keras)")
            if not path:
                return
        if not Path(path).is_file():
            raise SteatosisError(f"{path}: model file not found")
        self.set_model_path(path)

    # ------------------------------------------------------------------ run
    @guarded
    def run(self):
        """Predict the current image in a worker process (progress by tile, Cancel stops it)."""
        if self.job is not None:
            raise SteatosisError("a prediction is already running")
        if self.ws.multiscale:
            raise SteatosisError(f"{self.ws.name} is a whole slide: Run on visible region, or Run on the whole slide")
        rgb = np.asarray(self.ws.rgb)
        if rgb.dtype != np.uint8:
            raise SteatosisError(f"'{self.ws.name}' is {rgb.dtype}; the U-Net needs an 8-bit RGB image")
        require_colour(rgb, self.ws.name)
        self._tmp = tempfile.TemporaryDirectory(prefix="steatosis-unet-")
        src = Path(self._tmp.name) / "image.npy"
        np.save(src, rgb, allow_pickle=False)
        return self._start(["--input", str(src)], None)

    @guarded
    def run_on_visible_region(self):
        """The U-Net on the slide's level-0 region on screen, read and predicted by the worker process."""
        if self.job is not None:
            raise SteatosisError("a prediction is already running")
        slide_path, region, layer = visible_region(view_of(self.viewer))
        self._tmp = tempfile.TemporaryDirectory(prefix="steatosis-unet-")
        self._tissue_out = Path(self._tmp.name) / "tissue.npy"
        self._rgb_out = Path(self._tmp.name) / "rgb.npy"
        return self._start(["--slide", str(slide_path), "--region", f"{region.r0},{region.c0},{region.r1},{region.c1}",
                            "--tissue-output", str(self._tissue_out), "--rgb-output", str(self._rgb_out)],
                           (region, layer))

    def _start(self, source: list, region):
        out = Path(self._tmp.name) / "prob.npy"
        self._run_for, self._run_out, self._device, self._run_region = self.ws.image, out, "?", region
        args = ["-m", "napari_steatosis.unet.worker", *source, "--output", str(out),
                "--scale", self.scale_arg()]
        if self.model_path:
            args += ["--model", self.model_path]
        self.job = ProcessJob(args, on_event=self._on_event, on_done=self._done,
                              disable=(self.run_btn, self.region_btn, self.load_btn, self.default_btn),
                              progress_bar=self.run_progress,
                              cancel_button=self.cancel_run_btn, desc="U-Net prediction", parent=self)
        return self.job

    def cancel_run(self):
        if self.job is not None:
            self.job.cancel()

    def _on_event(self, ev: dict) -> None:
        if ev.get("event") == "device":
            self._device = ev["device"]
            self.device_label.setText(f"running on {ev['device']}")

    def _done(self, job: ProcessJob) -> None:
        self.job = None
        try:
            if job.cancelled:
                notify_info("U-Net prediction cancelled")
            elif job.error or not self._run_out.exists():
                notify_error(SteatosisError(job.error or "U-Net prediction failed: no output"))
            elif self.ws.image is not self._run_for:
                notify_info("U-Net result dropped: the image changed while it ran")
            else:
                self.prob = np.load(self._run_out, allow_pickle=False)
                self._region = self._run_region
                self.tissue = (tissue_mask(self.ws.rgb) if self._region is None
                               else np.load(self._tissue_out, allow_pickle=False))
                self.region_rgb = None if self._region is None else np.load(self._rgb_out, allow_pickle=False)
                done = next((e for e in reversed(job.events) if e.get("event") == "done"), {})
                self.device_label.setText(f"ran on {self._device}{auto_scale_text(done)}")
                self.cover = done.get("complete_min_cover")
                self._white = None
                self.apply_threshold()
        finally:
            self._tmp.cleanup()

    def apply_threshold(self):
        t = self.threshold.value() / 100
        self.threshold_label.setText(f"{t:.2f}")
        if self.prob is None:
            return
        mask = (self.prob >= t) & self.tissue
        if self.cover is not None:  # a slide region's pixels: those the worker read
            if self._white is None:
                self._white = WhiteRegions(np.asarray(self.ws.rgb) if self._region is None else self.region_rgb)
            mask = self._white.complete(mask, self.cover) & self.tissue
        self.percent = percent_of_tissue(mask, self.tissue)
        if self._region is not None:
            region, slide_layer = self._region
            show_region_layer(self.viewer, REGION_LAYER, mask.astype(np.uint8), region, slide_layer,
                              labels_colormap("steatosis predicted"), "result:region-unet")
            self.readout.setText(f"{steatosis_readout(self.percent)} in the visible region (threshold {t:.2f}; "
                                 f"{region.message()})")
            return
        self.ws.set_result(Result("unet", mask, self.percent, probability=self.prob,
                                  description=f"U-Net, threshold {t:.2f}"))
        self.readout.setText(f"{steatosis_readout(self.percent)} (threshold {t:.2f})")

    def _on_image(self, ws) -> None:
        self.prob = self.tissue = self.percent = self._region = self.region_rgb = self._white = None
        self.readout.setText("")
        self.region_btn.setVisible(bool(ws.multiscale))
        self.run_btn.setVisible(not ws.multiscale)
