"""napari File > Open Sample: a sample image with its labels as layers."""

from __future__ import annotations

from ..sample import sample_record
from .layers import record_layer_data


def trichrome_sample():
    return record_layer_data(*sample_record("trichrome"))


def he_sample():
    return record_layer_data(*sample_record("he"))
