"""Every layer name and colour the plugin shows in napari (colours from ``plots.COLOURS``)."""

from __future__ import annotations

import numpy as np

from ..plots import COLOURS

STEATOSIS_POINTS = "steatosis points"
NOT_STEATOSIS_POINTS = "not steatosis points"
STEATOSIS_MASK = "steatosis mask"
FIBROSIS_MASK = "fibrosis mask"
FIBROSIS_OVERLAY = "fibrosis (threshold)"
RESULT_LAYERS = {  # method -> (mask layer, probability layer)
    "unet": ("steatosis (U-Net)", "steatosis probability (U-Net)"),
    "classical": ("steatosis (classical)", None),
    "report": ("steatosis (report)", None),
    "review": ("steatosis (reviewed)", None),
    "fibrosis": (FIBROSIS_OVERLAY, None),
}
MASK_LAYERS = {"steatosis": STEATOSIS_MASK, "fibrosis": FIBROSIS_MASK}
WORKSPACE_META = "steatosis_workspace"  # layer metadata key: which part of the workspace a layer shows
NEGATIVE_POINTS_COLOUR = "#56B4E9"  # sky blue: "white, but not fat"


def hex_colour(meaning: str) -> str:
    return "#{:02x}{:02x}{:02x}".format(*COLOURS[meaning])


def _rgba(meaning: str, alpha: float = 1.0) -> np.ndarray:
    return np.array([*(c / 255 for c in COLOURS[meaning]), alpha], np.float32)


def labels_colormap(meaning: str):
    from napari.utils.colormaps import DirectLabelColormap  # noqa: PLC0415

    return DirectLabelColormap(color_dict={0: "transparent", 1: hex_colour(meaning), None: "transparent"})


def points_kwargs(positive: bool) -> dict:
    return dict(
        name=STEATOSIS_POINTS if positive else NOT_STEATOSIS_POINTS,
        symbol="star" if positive else "disc",
        face_color=hex_colour("steatosis truth") if positive else NEGATIVE_POINTS_COLOUR,
        border_color="black",
        size=14,
    )


def mask_kwargs(kind: str) -> dict:
    return dict(name=MASK_LAYERS[kind], colormap=labels_colormap(f"{kind} truth"), opacity=0.5)


def probability_colormap():
    """Transparent at 0, the prediction's colour at 1: visible on white vacuoles, unlike additive maps."""
    from napari.utils.colormaps import Colormap  # noqa: PLC0415

    return Colormap(colors=[[0, 0, 0, 0], _rgba("steatosis predicted", 1.0)], name="steatosis probability")


def region_colormap(region_probability: dict):
    """Accepted classical regions in the prediction's colour, the surer ones more opaque (not random colours)."""
    from napari.utils.colormaps import DirectLabelColormap  # noqa: PLC0415

    colours = {0: "transparent", None: "transparent"}
    for region, p in region_probability.items():
        colours[int(region)] = _rgba("steatosis predicted", 0.4 + 0.6 * float(np.clip(p, 0, 1)))
    return DirectLabelColormap(color_dict=colours)


def result_layer_data(result) -> list[tuple]:
    """Layer-data tuples showing a workspace ``Result``, tagged with its method."""
    mask_name, prob_name = RESULT_LAYERS.get(result.method, (f"steatosis ({result.method})", None))
    meta = {WORKSPACE_META: f"result:{result.method}"}
    layers = []
    if result.probability is not None and prob_name:
        layers.append((result.probability, dict(name=prob_name, colormap=probability_colormap(), opacity=0.8,
                                                contrast_limits=(0, 1), blending="translucent", visible=False,
                                                metadata=meta), "image"))
    if result.regions is not None:
        layers.append((result.regions, dict(name=mask_name, colormap=region_colormap(result.region_probability),
                                            opacity=0.6, metadata=meta), "labels"))
    else:
        layers.append((np.asarray(result.mask).astype(np.uint8),
                       dict(name=mask_name, colormap=labels_colormap(f"{result.kind} predicted"), opacity=0.6,
                            metadata=meta), "labels"))
    return layers


def legend_html() -> str:
    """The colour legend shown in the Steatosis dock."""
    items = [(hex_colour(m), m) for m in COLOURS] + [(NEGATIVE_POINTS_COLOUR, "not-fat points")]
    nowrap = [(c, m.replace(" ", "&nbsp;")) for c, m in items]  # lines break between entries, never inside one
    return " &nbsp; ".join(f"<span style='color:{c}; font-size:14px'>■</span>&nbsp;{m}" for c, m in nowrap)


def record_layer_data(dataset, record) -> list[tuple]:
    """Layer-data tuples for an image of a dataset and every label it has (File > Open Sample)."""
    rgb = dataset.read_image(record)
    shape = rgb.shape[:2]
    meta = {"metadata": {"steatosis_record": str(dataset.image_path(record))}}
    layers = [(rgb, {"name": record.stem, "rgb": True, **meta}, "image")]
    for kind in ("steatosis", "fibrosis"):
        mask = dataset.read_mask(record, kind, shape)
        if mask is not None:
            layers.append((mask.astype(np.uint8), {**mask_kwargs(kind), **meta}, "labels"))
    points = dataset.read_points(record, shape)
    if points is not None:
        layers.append((points.positive, {**points_kwargs(True), **meta}, "points"))
        layers.append((points.negative, {**points_kwargs(False), **meta}, "points"))
    return layers
