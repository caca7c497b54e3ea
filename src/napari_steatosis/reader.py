"""napari reader: a whole-slide image as a multiscale layer, every pyramid level lazy.

Dropping or opening a slide (or a result of ours, ``<stem>.steatosis.ome.tif``) gives one layer
whose levels are dask arrays over tifffile's zarr store: napari reads only the tiles on screen.
The layer's ``scale`` is the pixel size in µm when the slide states one, and the scale bar is
switched on in µm. Plain (strip) TIFF, PNG and JPG are left to napari's own reader.
"""

from __future__ import annotations

import os
from pathlib import Path

from .data.slides import PixelSizeWarning, is_slide, open_slide

RESULT_KINDS = ("steatosis", "fibrosis")


def get_reader(path):
    """npe2 reader contribution: a reader for one slide path, else None."""
    if isinstance(path, (list, tuple)):
        return None if len(path) != 1 else get_reader(path[0])
    return read_slide if is_slide(path) else None


def _result_kind(path: Path) -> str | None:
    name = path.name.lower()
    return next((k for k in RESULT_KINDS if name.endswith((f".{k}.ome.tif", f".{k}.ome.tiff"))), None)


def slide_layer_data(path: str | os.PathLike) -> list[tuple]:
    """Layer-data tuples of a slide: a multiscale RGB image, or a multiscale labels layer for our masks."""
    import warnings  # noqa: PLC0415

    path = Path(path)
    with warnings.catch_warnings():  # the layer shows a missing pixel size (no scale bar in µm); other warnings pass
        warnings.simplefilter("ignore", PixelSizeWarning)
        slide = open_slide(path)
    levels = slide.dask_levels()
    meta = dict(steatosis_slide=str(path), pixel_size_um=slide.mpp, slide=slide)
    # cache=False: napari would otherwise keep every tile it has read (its dask cache, a quarter of the RAM
    # by default), so panning over a slide would grow memory by the tiles seen, not just those on screen
    common = dict(name=slide.stem, multiscale=True, metadata=meta, cache=False)
    if slide.mpp:
        common.update(scale=(slide.mpp, slide.mpp), units=("µm", "µm"))
    _scale_bar_in_um(slide.mpp)
    kind = _result_kind(path)
    if kind is not None:
        from .widgets.layers import mask_kwargs  # noqa: PLC0415

        labels = [(lv[..., 0] > 0).astype("uint8") for lv in levels]
        if len(labels) == 1:  # a result small enough for one tile: napari refuses a one-level multiscale labels layer
            labels, common["multiscale"] = labels[0], False
        return [(labels, {**mask_kwargs(kind), **common, "name": path.name.split(".")[0] + f" {kind}"}, "labels")]
    return [(levels, {**common, "rgb": True}, "image")]


def read_slide(path) -> list[tuple]:
    return slide_layer_data(path[0] if isinstance(path, (list, tuple)) else path)


def _scale_bar_in_um(mpp) -> None:
    """Show napari's scale bar in the current viewer, if any (its unit comes from the layer's ``units``)."""
    try:
        import napari  # noqa: PLC0415

        viewer = napari.current_viewer()
        if viewer is not None and mpp:
            viewer.scale_bar.visible = True
    except Exception:  # noqa: BLE001 (cosmetic only)
        pass
