"""Layer names, styles and the record -> layers conversion shared by samples and widgets."""

from __future__ import annotations

import numpy as np

STEATOSIS_POINTS = "steatosis points"
NOT_STEATOSIS_POINTS = "not steatosis points"
STEATOSIS_MASK = "steatosis mask"
FIBROSIS_MASK = "fibrosis mask"
FIBROSIS_OVERLAY = "fibrosis (threshold)"

YELLOW = {0: "transparent", 1: "yellow", None: "transparent"}
BLUE = {0: "transparent", 1: "deepskyblue", None: "transparent"}


def points_kwargs(positive: bool) -> dict:
    return dict(
        name=STEATOSIS_POINTS if positive else NOT_STEATOSIS_POINTS,
        symbol="star",
        face_color="red" if positive else "blue",
        border_color="white",
        size=14,
    )


def mask_kwargs(kind: str) -> dict:
    from napari.utils.colormaps import DirectLabelColormap  # noqa: PLC0415

    colours = YELLOW if kind == "steatosis" else BLUE
    return dict(
        name=STEATOSIS_MASK if kind == "steatosis" else FIBROSIS_MASK,
        colormap=DirectLabelColormap(color_dict=colours),
        opacity=0.4,
    )


def record_layer_data(dataset, record) -> list[tuple]:
    """Layer-data tuples for an image of a dataset and every label it has."""
    rgb = dataset.read_image(record)
    shape = rgb.shape[:2]
    layers = [(rgb, {"name": record.stem, "rgb": True, "metadata": {"steatosis_record": record.image}}, "image")]
    for kind in ("steatosis", "fibrosis"):
        mask = dataset.read_mask(record, kind, shape)
        if mask is not None:
            layers.append((mask.astype(np.uint8), mask_kwargs(kind), "labels"))
    points = dataset.read_points(record, shape)
    if points is not None:
        layers.append((points.positive, points_kwargs(True), "points"))
        layers.append((points.negative, points_kwargs(False), "points"))
    return layers


def current_rgb_layer(viewer):
    """The selected RGB image layer, else the first one; an error naming what to do when none."""
    from napari.layers import Image  # noqa: PLC0415

    from ..errors import SteatosisError  # noqa: PLC0415

    layer = viewer.layers.selection.active
    if not (isinstance(layer, Image) and layer.rgb):
        layer = next((l for l in viewer.layers if isinstance(l, Image) and l.rgb), None)
    if layer is None:
        raise SteatosisError("open an RGB image first")
    return layer
