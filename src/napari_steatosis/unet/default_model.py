"""The U-Net shipped with the package (trained by scripts/train_default_model.sh)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import SteatosisError

FILE = "steatosis_unet_default.keras"


def path() -> Path:
    p = Path(str(resources.files("napari_steatosis.unet"))) / "weights" / FILE
    if not p.is_file():
        raise SteatosisError(f"the shipped default U-Net is missing ({p}); pass --model or reinstall")
    return p
