"""One object that owns a loaded U-Net with everything needed to use it: its threshold and scale.

Every user of a trained model (``steatosis predict``, ``quantify``, the napari worker process)
goes through :class:`Detector`, so that the card's decision threshold and working scale are
applied the same way everywhere::

    det = Detector.load()                 # the shipped model, its card's threshold and scale
    prob = det.probability(rgb)           # float32 H x W, at the image's own size
    fat = det.mask(rgb)                   # bool H x W: probability >= det.threshold, completed

What the card may say, all chosen on the validation split in training:

- ``threshold``: the decision threshold;
- ``working_scale``: the factor images are resized by before the network;
- ``fuse_scales``: more factors (relative to the working scale) to run the network at, the
  probability being the maximum over them: small vacuoles at full size, big ones at half;
- ``complete_min_cover``: complete detections to the white region they sit in when they cover
  at least this share of it (see complete.py); absent or null: no completion;
- ``nucleus_diameter_px``: how large the training images' nuclei measure at the working scale
  (magnification.py): ``median`` and ``range`` (10th to 90th percentile over the H&E training
  images). With ``scale="auto"`` an image whose nuclei fall outside that range is resized so
  that they measure its nearer end: an image of unknown magnification is brought into the
  magnifications the model was trained on; one inside runs at the working scale.

Importing this module does not import Keras; :meth:`Detector.load` does only where Keras runs the
network (card.load_network: on a CPU, OpenVINO runs it without Keras).
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from ..errors import SteatosisError

DEFAULT_TILE = 1036
DEFAULT_MIN_COVER = 0.3


def check_threshold(threshold: float, what: str = "threshold") -> float:
    t = float(threshold)
    if not 0.0 < t < 1.0:
        raise SteatosisError(f"{what} must be within (0, 1), got {threshold}")
    return t


def check_scale(scale: float, what: str = "scale") -> float:
    s = float(scale)
    if not 0.05 <= s <= 4:
        raise SteatosisError(f"{what} must be within 0.05..4, got {scale}")
    return s


class Detector:
    """A U-Net, its card, and how to run it.

    ``scale`` is the factor images are resized by before the network: the model card's working
    scale (``working_scale``, chosen in training; 1 for older models) times the user's own
    correction for an image whose magnification differs from the training data's. ``scale="auto"``
    chooses that factor for each image from the size of its nuclei (the card's
    ``nucleus_diameter_px`` range); where an image has too few nuclei to measure (or is not
    H&E), it runs at the card's working scale and :attr:`last_scale_note` says why. A whole slide
    takes one factor for all its blocks, chosen once from a few crops (slide_scale.py).
    """

    def __init__(self, model, card: dict | None = None, path: str | None = None, scale: float | None = None,
                 threshold: float | None = None, tile: int = DEFAULT_TILE, complete: float | bool | None = None,
                 fuse: bool = True):
        self.model = model
        self.card = dict(card or {})
        self.path = path
        self.working_scale = check_scale(self.card.get("working_scale", 1.0), "the card's working_scale")
        self.auto_scale = scale == "auto"
        if self.auto_scale:
            nuclei = self.card.get("nucleus_diameter_px")
            try:
                self.nucleus_range = [float(v) for v in nuclei["range"]]
            except (TypeError, KeyError, ValueError):
                self.nucleus_range = None
            if not self.nucleus_range or len(self.nucleus_range) != 2:
                raise SteatosisError("--scale auto needs a model whose card records its training images' nucleus "
                                     "size (nucleus_diameter_px; train-unet writes it for H&E training data); "
                                     "give --scale a number instead")
            scale = None
        self.last_scale, self.last_scale_note = None, None
        self.user_scale = 1.0 if scale is None else check_scale(scale)
        self.scale = self.working_scale * self.user_scale
        self.threshold = check_threshold(self.card.get("threshold", 0.5) if threshold is None else threshold,
                                         "--threshold" if threshold is not None else "the card's threshold")
        self.threshold_from_card = threshold is None
        self.tile = int(tile)
        fuse_scales = self.card.get("fuse_scales") or [1.0]
        self.fuse_scales = [check_scale(f, "the card's fuse_scales") for f in fuse_scales] if fuse else [1.0]
        if complete is None or complete is True:  # the card's choice; True: at least the default
            cover = self.card.get("complete_min_cover")
            if complete is True and cover is None:
                cover = DEFAULT_MIN_COVER
        else:
            cover = None if complete is False else complete
        if cover is not None and not 0.0 < float(cover) <= 1.0:
            raise SteatosisError(f"complete_min_cover must be within (0, 1], got {cover}")
        self.complete_min_cover = None if cover is None else float(cover)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, scale: float | None = None,
             threshold: float | None = None, tile: int = DEFAULT_TILE, complete: float | bool | None = None,
             fuse: bool = True) -> "Detector":
        """The model at ``path`` (default: the shipped one), safe mode, with its card."""
        from . import default_model  # noqa: PLC0415
        from .card import load_network  # noqa: PLC0415

        path = str(path) if path else str(default_model.path())
        model, card = load_network(path)
        return cls(model, card, path, scale, threshold, tile, complete, fuse)

    @property
    def scale_text(self) -> str:
        """The scale in words: a number, or how ``auto`` chooses it."""
        if self.auto_scale:
            lo, hi = self.auto_range
            return f"scale auto (nuclei into {lo:.1f}-{hi:.1f} px, else x{self.working_scale:g})"
        return f"scale {self.scale:g}"

    @property
    def settings(self) -> str:
        """Threshold, scale, fusion and completion in words (no Keras needed)."""
        text = f"threshold {self.threshold:.3f}"
        if self.auto_scale or self.scale != 1:
            text += f", {self.scale_text}"
        if len(self.fuse_scales) > 1:
            text += f" fused with x{', x'.join(f'{f:g}' for f in self.fuse_scales if f != 1)}"
        if self.complete_min_cover is not None:
            text += f", completed to white regions covered >= {self.complete_min_cover:g}"
        return text

    @property
    def device(self) -> str:
        """What runs the network, in words: ``OpenVINO on CPU``, ``tensorflow on GPU (...)``."""
        from .predict import device_description  # noqa: PLC0415

        return device_description(self.model)

    @property
    def description(self) -> str:
        return f"U-Net ({self.device}, {self.settings})"

    @property
    def scales(self) -> list[float]:
        """The resize factors the network runs at: the working scale times each fused scale."""
        if self.auto_scale:
            raise SteatosisError("scale auto chooses a factor per image (scales_for) or per slide (its plan's "
                                 "factor, see fused)")
        return self.fused(self.scale)

    def fused(self, scale: float) -> list[float]:
        """The resize factors for an image resized by ``scale``: ``scale`` times each fused scale."""
        return [scale * f for f in self.fuse_scales]

    @property
    def auto_range(self) -> tuple[float, float]:
        """The nucleus diameters (px) ``scale="auto"`` leaves an image at: the card's training range,
        its top widened by the smallest fused scale — a half-scale pass sees nuclei of up to twice the
        range at the training size, so an image at up to 2x the magnification is in the model's reach
        as it is (shrinking it lost 0.03 Jaccard on two high-magnification sets; see the README)."""
        lo, hi = self.nucleus_range
        return lo, hi / min(min(self.fuse_scales), 1.0)

    def choose_scale(self, rgb) -> float:
        """With ``scale="auto"``: the factor for ``rgb`` (an image, or a list of crops of a slide, their
        nuclei pooled) from its nuclei, else the working scale; recorded in :attr:`last_scale` and, when
        it falls back, why in :attr:`last_scale_note`."""
        from ..magnification import ADVICE, scale_to_nuclei  # noqa: PLC0415

        try:
            s, note = scale_to_nuclei(rgb, *self.auto_range, base=self.working_scale, name=None), None
        except SteatosisError as exc:
            # auto is the default: advice to give a number would only be noise where it could not measure
            why = str(exc).removesuffix(ADVICE)
            s, note = self.working_scale, f"{why}; ran at the model's working scale {self.working_scale:g}"
        self.last_scale, self.last_scale_note = s, note
        return s

    def scales_for(self, rgb: np.ndarray) -> list[float]:
        """The resize factors for this image: :attr:`scales`, or with ``scale="auto"`` its own
        estimate (:meth:`choose_scale`)."""
        return self.fused(self.choose_scale(rgb)) if self.auto_scale else self.scales

    @property
    def last_choice(self) -> dict:
        """With ``scale="auto"``: the last image's ``scale`` (the factor it ran at) and ``scale_note``
        (why it fell back to the working scale, else None); otherwise empty."""
        return dict(scale=self.last_scale, scale_note=self.last_scale_note) if self.auto_scale else {}

    def probability(self, rgb: np.ndarray, progress: Callable[[int, int], None] | None = None,
                    cancelled: Callable[[], bool] | None = None) -> np.ndarray:
        """Steatosis probability (float32, H x W) of an RGB uint8 image, at the image's size."""
        from .predict import predict_probability  # noqa: PLC0415

        scales = self.scales_for(rgb)
        n = len(scales)
        out = None
        for k, s in enumerate(scales):
            step = None if progress is None else (lambda d, t, k=k: progress(k * t + d, n * t))
            p = predict_probability(self.model, rgb, self.tile, progress=step, cancelled=cancelled,
                                    scale=check_scale(s))
            out = p if out is None else np.maximum(out, p)
        return out

    def mask(self, rgb: np.ndarray, probability: np.ndarray | None = None) -> np.ndarray:
        """Steatosis mask (bool, H x W); pass ``probability`` if it was computed already."""
        prob = self.probability(rgb) if probability is None else probability
        fat = prob >= self.threshold
        if self.complete_min_cover is not None:
            from .complete import complete_to_white  # noqa: PLC0415

            fat = complete_to_white(fat, rgb, self.complete_min_cover)
        return fat

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self.mask(rgb)
