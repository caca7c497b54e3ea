"""Which stain an image shows (H&E, Masson's trichrome, picrosirius red), from colour statistics.

The statistics are medians over the tissue (``preprocess.tissue_mask``) in CIELAB: lightness
``L`` (0-100), chroma and hue angle (degrees; 0 = red, +90 = yellow, -90 = blue). What tells
the stains apart, checked on the real tiles of ``shared/real-tiles`` (4 H&E fields, 3
delineate H&E tiles, 1 picrosirius, 3 trichrome):
- picrosirius red on a picric-acid yellow background: hue angle far on the yellow side
  (median +79° on the tile; H&E and trichrome are magenta, -18° to -35°);
- Masson's trichrome: dark, saturated red-purple cytoplasm. The share of tissue that is dark
  and saturated (L < 50, chroma > 25) is 0.58-0.82 on the real trichrome tiles and 0.35-0.54
  on the bundled synthetic ones; 0.04-0.20 on H&E, except densely stained, very saturated
  H&E (delineate tiles: 0.30-0.39, but median chroma 41-52 where trichrome here has 23-48);
  the rule below is fitted to these 23 images (all right), so a new lab's field that falls
  between gets "uncertain";
- grey-scale: no colour at all (median chroma below 6).
A field that fits neither well is "uncertain": callers say so instead of guessing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .errors import SteatosisError

STAIN_NAMES = {"he": "H&E", "trichrome": "Masson's trichrome", "sirius-red": "picrosirius red",
               "greyscale": "grey-scale", "uncertain": "uncertain (H&E or trichrome)"}
PRESET_STAIN = {"trichrome": "trichrome", "sirius-red": "sirius-red"}  # fibrosis preset -> the stain it is for


@dataclass(frozen=True)
class StainGuess:
    stain: str  # a key of STAIN_NAMES
    lightness: float
    chroma: float
    hue_deg: float
    dark_share: float  # share of tissue that is dark and saturated (trichrome's red-purple cytoplasm)

    @property
    def name(self) -> str:
        return STAIN_NAMES[self.stain]

    def describe(self) -> str:
        return (f"{self.name} (tissue median lightness {self.lightness:.0f}, chroma {self.chroma:.0f}, hue "
                f"{self.hue_deg:+.0f}°, dark saturated share {self.dark_share:.2f})")


def detect_stain(rgb: np.ndarray, max_pixels: int = 1_000_000) -> StainGuess:
    """Guess the stain of an RGB uint8 image (subsampled to about ``max_pixels``)."""
    import cv2  # noqa: PLC0415

    from .preprocess import tissue_mask  # noqa: PLC0415

    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise SteatosisError(f"stain detection needs an RGB image, got shape {rgb.shape}")
    step = max(1, int(np.sqrt(rgb.shape[0] * rgb.shape[1] / max_pixels)))
    rgb = np.ascontiguousarray(rgb[::step, ::step])
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    tissue = tissue_mask(rgb)
    if tissue.sum() < 100:
        tissue = np.ones(rgb.shape[:2], bool)
    L = lab[..., 0][tissue] * (100 / 255)
    a, b = lab[..., 1][tissue] - 128, lab[..., 2][tissue] - 128
    chroma = np.hypot(a, b)
    angle = np.degrees(np.arctan2(b, a))
    coloured = chroma > 12
    dark = float(np.mean((L < 50) & (chroma > 25)))
    med_l, med_c = float(np.median(L)), float(np.median(chroma))
    hue = float(np.degrees(np.arctan2(np.median(b[coloured]), np.median(a[coloured])))) if coloured.any() else 0.0
    if med_c < 6:
        stain = "greyscale"
    elif hue > 20:
        stain = "sirius-red"
    elif dark >= 0.45 or (dark >= 0.3 and med_c < 35):
        stain = "trichrome"
    elif dark < 0.25 or med_c >= 35:
        stain = "he"
    else:
        stain = "uncertain"
    return StainGuess(stain, med_l, med_c, hue, dark)


def preset_warning(guess: StainGuess, preset: str) -> str | None:
    """What to tell the user when a fibrosis preset does not fit the image's stain (None when it does)."""
    if guess.stain == "greyscale":
        return "this image has no colour (grey-scale): fibrosis cannot be measured by stain colour"
    if guess.stain == "he":
        return ("this looks like H&E: collagen is not stained apart, so fibrosis is not measurable by hue (the "
                "overlay marks nuclei and other purple); use a trichrome or picrosirius section")
    wanted = PRESET_STAIN.get(preset)
    if guess.stain in ("trichrome", "sirius-red") and wanted != guess.stain:
        return (f"this looks like {guess.name}, but the '{preset}' preset is for {STAIN_NAMES[wanted]}: "
                f"choose the {guess.stain} preset")
    if guess.stain == "uncertain":
        return "the stain is unclear (H&E or trichrome?): check that the overlay marks collagen"
    return None


class StainWarning(UserWarning):
    """What is measured does not fit the image's stain (fibrosis by hue on H&E, say)."""


def warn_unfit_fibrosis(guess: StainGuess, preset: str | None, name) -> None:
    """Say, naming the image, when fibrosis by hue is measured on a stain it does not fit, as the
    Fibrosis dock does. ``preset`` None: thresholds of the user's own (tuned, a settings file), where
    only H&E and an unclear stain are said."""
    if preset in PRESET_STAIN:
        note = preset_warning(guess, preset)
    else:
        note = preset_warning(guess, "trichrome") if guess.stain in ("he", "uncertain") else None
    if note:
        warnings.warn(f"{name}: {note}", StainWarning, stacklevel=2)


def require_colour(rgb: np.ndarray, name: str = "image") -> StainGuess:
    """The stain guess; a clear error for a grey-scale image."""
    guess = detect_stain(rgb)
    if guess.stain == "greyscale":
        raise SteatosisError(f"{name} is grey-scale: steatosis and fibrosis are measured on stained (colour) sections")
    return guess
