"""One colour per meaning: the same in napari's layers and in the exported overlay PNGs, with a legend."""

import numpy as np

from napari_steatosis.plots import COLOURS, draw_overlay


def test_overlay_tints_each_meaning_in_its_colour_and_draws_a_legend():
    rgb = np.full((400, 600, 3), 255, np.uint8)  # white, like a vacuole
    m = np.zeros((400, 600), bool)
    m[200:260, 300:360] = True
    out = draw_overlay(rgb, {"steatosis": m}, alpha=0.5, legend=True)
    inside = out[230, 330].astype(int)
    want = (np.array(COLOURS["steatosis predicted"]) * 0.5 + 255 * 0.5).round().astype(int)
    assert np.abs(inside - want).max() <= 1  # a visible tint on white, in the prediction's colour
    rim = out[200, 330]
    assert tuple(rim) == COLOURS["steatosis predicted"]  # outlined in the full colour
    legend = out[:30, :40].reshape(-1, 3)
    assert any(tuple(px) == COLOURS["steatosis predicted"] for px in legend)  # a swatch in the legend
    plain = draw_overlay(rgb, {"fibrosis truth": m}, legend=False)
    assert tuple(plain[200, 330]) == COLOURS["fibrosis truth"] and (plain[:30, :40] == 255).all()


def test_the_overlay_legend_is_readable_on_a_640_by_480_field():
    """The demo's overlays are 640 x 480: the legend's words were 4 px tall and ran together ('steatosispredicted')."""
    rgb = np.full((480, 640, 3), (200, 120, 180), np.uint8)
    m = np.zeros((480, 640), bool)
    out = draw_overlay(rgb, {"steatosis": m, "fibrosis": m})
    box_width = int((out[2, :400] == 255).all(axis=1).sum())
    box_height = int((out[:200, box_width - 2] == 255).all(axis=1).sum())
    assert box_height / 2 >= 16, box_height  # a line of at least 16 px per entry: letters about 10 px tall
    ink = np.nonzero((out[:box_height, :400] < 100).all(axis=2))  # black text on the legend's white box
    assert len(ink[1]) and max(ink[1]) < box_width  # the words end inside the box


def test_napari_layers_use_the_same_colours(make_napari_viewer):
    from napari_steatosis.widgets.layers import labels_colormap, mask_kwargs, probability_colormap

    for meaning, rgb in COLOURS.items():
        cmap = labels_colormap(meaning)
        assert np.allclose(cmap.map(1)[..., :3].ravel(), np.array(rgb) / 255, atol=1 / 255)
    assert np.allclose(mask_kwargs("steatosis")["colormap"].map(1)[..., :3].ravel(),
                       np.array(COLOURS["steatosis truth"]) / 255, atol=1 / 255)
    prob = probability_colormap()
    low, high = prob.map(np.array([0.0, 1.0]))
    assert low[3] == 0  # transparent where the network says no: the image shows through
    assert np.allclose(high[:3], np.array(COLOURS["steatosis predicted"]) / 255, atol=1 / 255) and high[3] == 1


def test_the_dock_legend_wraps_between_entries_never_inside_one():
    """'fibrosis' at the end of a line and 'predicted' on the next read as two entries."""
    import re

    from napari_steatosis.widgets.layers import legend_html

    entries = re.split(r" &nbsp; ", legend_html())
    assert len(entries) == 5 and all(" " not in re.sub(r"<[^>]*>", "", e) for e in entries), entries
