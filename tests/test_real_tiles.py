"""Smoke tests on real stained liver (../shared/real-tiles): runs, and the numbers are plausible.

These tiles carry no fibrosis ground truth; nothing is tuned on them.
"""

import os
from pathlib import Path

import pytest

from napari_steatosis.data import read_image
from napari_steatosis.fibrosis import fibrosis_percent, preset

TILES = Path(os.environ.get("STEATOSIS_REAL_TILES", Path(__file__).resolve().parents[2] / "shared" / "real-tiles"))
# marker `real`: `pytest -m real` runs only these; without the tiles the run's summary says so loudly
pytestmark = [pytest.mark.real, pytest.mark.skipif(not TILES.is_dir(), reason=f"{TILES} not present")]


@pytest.mark.parametrize("name, stain, low, high", [
    ("trichrome_human_01.png", "trichrome", 0.5, 15),   # thin blue septa in steatotic liver
    ("trichrome_mouse_01.png", "trichrome", 0.2, 15),
    ("tile02_PSR.jpg", "sirius-red", 5, 40),            # a broad red septum across the tile
])
def test_fibrosis_presets_are_plausible_on_real_tiles(name, stain, low, high):
    rgb = read_image(TILES / name)
    mask, pct, tissue = fibrosis_percent(rgb, preset(stain))
    assert tissue.mean() > 0.9  # these tiles are all tissue
    assert low < pct < high


def test_he_tile_has_no_blue_collagen():
    rgb = read_image(TILES / "tile01_HE.jpg")
    _, pct, _ = fibrosis_percent(rgb, preset("trichrome"))
    assert pct < 1.0
