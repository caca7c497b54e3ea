"""Which stain an image shows (H&E, Masson's trichrome, picrosirius red), from colour statistics.

The statistics are over the tissue (``preprocess.tissue_mask``) in CIELAB: lightness ``L``
(0-100), chroma and hue angle (degrees; 0 = red, +90 = yellow, -90 = blue). The cues:
- grey-scale: no colour at all (median chroma below 6);
- picrosirius red on a picric-acid yellow background: the median hue is far on the yellow side
  (+78° on the real tile; H&E and trichrome are magenta, -15° to -35°);
- the dark share: the share of tissue that is dark and saturated (L < 50, chroma > 25). Below
  :data:`DARK_HE` the image is H&E: the real H&E liver fields are 0.05-0.22, except densely
  stained ones (delineate tiles up to 0.39) and the epidermis of the CMU-1 skin slide (0.40 whole,
  up to 0.58 in 512 px crops), while the trichromes are 0.35-0.82 (0.58-0.82 the real ones), so
  there the share alone cannot tell;
- the haematoxylin shift, which tells them apart there: the hue of the darkest 5% of the
  magenta-purple tissue (chroma > 12, hue -75° to +20°; a trichrome's blue or green collagen
  is left out) minus the hue of its middle (the 50th-80th lightness percentiles). In H&E the
  darkest stain is haematoxylin (nuclei, blue-purple), bluer than the eosin bulk: -14° to -40°
  on the real H&E fields (4 liver fields and 3 delineate tiles of ``shared/real-tiles``, 52 GTEx
  liver fields, the CMU-1 slide whole and in 512 px crops; -16.5° or below where the dark
  share is 0.25 or more; -2° on one crop that is nearly all glass, H&E by its share 0.23). In Masson's trichrome the darkest stain is the red-purple cytoplasm
  (the nuclei, in iron haematoxylin, are black, not blue), as red as the bulk or redder: +1° to
  +7° on the 3 real trichrome tiles, -5° to -10° on the bundled synthetic images and slide.
  :data:`SHIFT_HE` = -13° leaves 3.5° to the nearest H&E field that needs the cue, 3° to the
  synthetic trichromes and 14° to the real ones. A dark share of :data:`DARK_HE` to
  :data:`DARK_TRICHROME` without a haematoxylin shift is "uncertain".
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
DARK_HE = 0.25  # a dark saturated share below this is H&E
DARK_TRICHROME = 0.3  # at or above this, without a haematoxylin shift, trichrome
SHIFT_HE = -13.0  # degrees: a haematoxylin shift at or below this is H&E


@dataclass(frozen=True)
class StainGuess:
    stain: str  # a key of STAIN_NAMES
    lightness: float
    chroma: float
    hue_deg: float
    dark_share: float  # share of tissue that is dark and saturated (trichrome's red-purple cytoplasm)
    shift_deg: float = 0.0  # hue of the darkest stain minus the bulk's (H&E's haematoxylin: clearly negative)

    @property
    def name(self) -> str:
        return STAIN_NAMES[self.stain]

    def describe(self) -> str:
        return (f"{self.name} (tissue median lightness {self.lightness:.0f}, chroma {self.chroma:.0f}, hue "
                f"{self.hue_deg:+.0f}°, dark saturated share {self.dark_share:.2f}, darkest stain's hue "
                f"{self.shift_deg:+.0f}° from the bulk's)")


def _hue(a: np.ndarray, b: np.ndarray) -> float:
    """The hue angle (degrees) of the median colour."""
    return float(np.degrees(np.arctan2(np.median(b), np.median(a))))


def haematoxylin_shift(L, a, b, chroma, angle) -> float:
    """The hue of the darkest 5% of the magenta-purple tissue minus that of its 50th-80th lightness
    percentiles (degrees; per-pixel CIELAB arrays). 0 when too little of the tissue is magenta-purple."""
    purple = (chroma > 12) & (angle > -75) & (angle < 20)
    if purple.sum() < 100:
        return 0.0
    Lp, ap, bp = L[purple], a[purple], b[purple]
    p5, p50, p80 = np.percentile(Lp, [5, 50, 80])
    darkest, middle = Lp <= p5, (Lp >= p50) & (Lp <= p80)
    return _hue(ap[darkest], bp[darkest]) - _hue(ap[middle], bp[middle])


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
    hue = _hue(a[coloured], b[coloured]) if coloured.any() else 0.0
    shift = haematoxylin_shift(L, a, b, chroma, angle)
    return StainGuess(classify_stain(med_c, hue, dark, shift), med_l, med_c, hue, dark, shift)


def classify_stain(chroma: float, hue: float, dark: float, shift: float) -> str:
    """The rule of the module's docstring on the statistics: a key of STAIN_NAMES."""
    if chroma < 6:
        return "greyscale"
    if hue > 20:
        return "sirius-red"
    if dark < DARK_HE or shift <= SHIFT_HE:
        return "he"
    if dark >= DARK_TRICHROME:
        return "trichrome"
    return "uncertain"


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
