"""The small generated dataset shipped with the package (``sample_data/`` in the repository).

The one home of the bundled sample: where it is, the dataset, and napari's File > Open Sample
entries (``trichrome_sample``, ``he_sample``). It was made by
``steatosis sample`` (``data.synthetic.write_sample_dataset``, the generator).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .data.dataset import CSV_NAME, Dataset
from .errors import SteatosisError


def sample_data_dir() -> Path:
    """Folder of the bundled sample dataset, in a wheel install or in a source checkout."""
    installed = Path(str(resources.files("napari_steatosis"))) / "sample_data"
    checkout = Path(__file__).resolve().parents[2] / "sample_data"
    for candidate in (installed, checkout):
        if (candidate / CSV_NAME).is_file():
            return candidate
    raise SteatosisError(
        f"the bundled sample data is missing (looked in {installed} and {checkout}); reinstall napari-steatosis"
    )


def sample_dataset() -> Dataset:
    return Dataset.open(sample_data_dir())


def sample_record(stain: str):
    """The first sample image of a stain (``trichrome`` or ``he``)."""
    ds = sample_dataset()
    for rec in ds.records:
        if rec.extra.get("stain") == stain:
            return ds, rec
    raise SteatosisError(f"the sample data has no {stain} image")


def _sample_layers(stain: str) -> list[tuple]:
    from .widgets.layers import record_layer_data  # noqa: PLC0415 (napari only when napari asks)

    return record_layer_data(*sample_record(stain))


def trichrome_sample():
    """napari File > Open Sample: the first trichrome image with its labels."""
    return _sample_layers("trichrome")


def he_sample():
    """napari File > Open Sample: the first H&E image with its labels."""
    return _sample_layers("he")


SAMPLE_SLIDE = "slides/liver.ome.tif"


def sample_slide_path() -> Path:
    """The bundled synthetic slide (pyramidal OME-TIFF, JPEG tiles, mpp 0.9, glass quarter and border)."""
    path = sample_data_dir() / SAMPLE_SLIDE
    if not path.is_file():
        raise SteatosisError(f"the bundled sample slide {path} is missing; reinstall napari-steatosis")
    return path


def slide_sample():
    """napari File > Open Sample: the bundled slide as a multiscale layer (lazy, µm scale)."""
    from .reader import slide_layer_data  # noqa: PLC0415

    return slide_layer_data(sample_slide_path())
