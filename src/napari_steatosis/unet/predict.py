"""Tiled U-Net inference: large valid-size tiles, reflection padding, memory bounded by the tile.

The image is padded by reflection (60 px each side plus what completes the last tile), cut
into overlapping input tiles of n = 16k + 12 px whose n - 120 px outputs tile the image
exactly, so every pixel, edges included, gets a prediction.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import IN_MARGIN, valid_size_at_least
from .patches import prepare_image

DEFAULT_TILE = 1036


def _axis_tiles(length: int, tile: int) -> tuple[int, int]:
    """(input tile size, number of tiles) along an axis of ``length`` output pixels."""
    tile = valid_size_at_least(tile)
    needed = valid_size_at_least(length + 2 * IN_MARGIN)
    if needed <= tile:
        return needed, 1
    out = tile - 2 * IN_MARGIN
    return tile, -(-length // out)


def tile_plan(shape: tuple[int, int], tile: int = DEFAULT_TILE):
    """Input tile sizes and the (row, col) origins of each output tile."""
    (th, nh), (tw, nw) = _axis_tiles(shape[0], tile), _axis_tiles(shape[1], tile)
    oh, ow = th - 2 * IN_MARGIN, tw - 2 * IN_MARGIN
    return (th, tw), [(i * oh, j * ow) for i in range(nh) for j in range(nw)]


def device_description() -> str:
    """Which Keras backend runs the network and on which device."""
    import keras  # noqa: PLC0415

    backend = keras.backend.backend()
    device = "CPU"
    try:
        if backend == "tensorflow":
            import tensorflow as tf  # noqa: PLC0415

            gpus = tf.config.list_logical_devices("GPU")
            device = f"GPU ({gpus[0].name})" if gpus else "CPU"
        elif backend == "jax":
            import jax  # noqa: PLC0415

            d = jax.devices()[0]
            device = "GPU" if d.platform == "gpu" else d.platform.upper()
        elif backend == "torch":
            import torch  # noqa: PLC0415

            device = f"GPU ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "CPU"
    except Exception:  # noqa: BLE001 (a description only)
        pass
    return f"{backend} on {device}"


def predict_probability(
    model,
    rgb: np.ndarray,
    tile: int = DEFAULT_TILE,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    prepared: bool = False,
) -> np.ndarray:
    """Steatosis probability (float32, H x W) of an RGB uint8 image, in inference mode."""
    import keras  # noqa: PLC0415

    img = rgb if prepared else prepare_image(rgb)
    h, w = img.shape[:2]
    (th, tw), origins = tile_plan((h, w), tile)
    oh, ow = th - 2 * IN_MARGIN, tw - 2 * IN_MARGIN
    n_rows = max(r for r, _ in origins) + oh
    n_cols = max(c for _, c in origins) + ow
    pad = ((IN_MARGIN, n_rows - h + IN_MARGIN), (IN_MARGIN, n_cols - w + IN_MARGIN), (0, 0))
    padded = np.pad(img, pad, mode="reflect")
    out = np.zeros((h, w), np.float32)
    for k, (r, c) in enumerate(origins):
        if cancelled is not None and cancelled():
            raise KeyboardInterrupt("prediction cancelled")
        x = padded[r:r + th, c:c + tw][None].astype(np.float32)
        y = keras.ops.convert_to_numpy(model(x, training=False))[0, :, :, 0]
        rr, cc = min(oh, h - r), min(ow, w - c)
        out[r:r + rr, c:c + cc] = y[:rr, :cc]
        if progress is not None:
            progress(k + 1, len(origins))
    return out
