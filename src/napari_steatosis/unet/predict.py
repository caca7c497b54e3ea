"""Tiled U-Net inference: large valid-size tiles, reflection padding, memory bounded by the tile.

The image is padded by reflection (60 px each side plus what completes the last tile), cut
into overlapping input tiles of n = 16k + 12 px whose n - 120 px outputs tile the image
exactly, so every pixel, edges included, gets a prediction.
"""

from __future__ import annotations

import weakref
from typing import Callable

import numpy as np

from ..errors import Cancelled, SteatosisError
from . import IN_MARGIN, valid_size_at_least
from .patches import prepare_image

DEFAULT_TILE = 1036


CONTEXT = 16  # output pixels discarded at each inner tile border (see predict_probability)


def _axis_tiles(length: int, tile: int, context: int) -> tuple[int, int, int]:
    """(input tile size, kept output per tile, number of tiles) along an axis of ``length`` px."""
    tile = valid_size_at_least(tile)
    single = valid_size_at_least(length + 2 * IN_MARGIN + 2 * context)
    if single <= tile:
        return single, length, 1
    # tiles start at multiples of 16 so that their 4 max-poolings see the same pixel grid
    keep = (tile - 2 * IN_MARGIN - 2 * context) // 16 * 16
    if keep < 16:
        raise ValueError(f"tile {tile} is too small for a context of {context} px")
    n = -(-length // keep)
    keep = -(-length // n) // -16 * -16  # balanced: n equal tiles, not n - 1 full ones and a sliver
    return valid_size_at_least(keep + 2 * IN_MARGIN + 2 * context), keep, n


def tile_plan(shape: tuple[int, int], tile: int = DEFAULT_TILE, context: int = CONTEXT):
    """Input tile size (h, w), kept output size (h, w) and the (row, col) origin of each kept block."""
    (th, kh, nh), (tw, kw, nw) = _axis_tiles(shape[0], tile, context), _axis_tiles(shape[1], tile, context)
    return (th, tw), (kh, kw), [(i * kh, j * kw) for i in range(nh) for j in range(nw)]


def device_description(model=None) -> str:
    """Which runtime runs ``model`` (OpenVINO, else the Keras backend) and on which device."""
    from .openvino_net import OpenVinoUNet  # noqa: PLC0415

    if isinstance(model, OpenVinoUNet):
        return "OpenVINO on CPU"
    import keras  # noqa: PLC0415

    return f"{keras.backend.backend()} on {keras_device()}"


def keras_device() -> str:
    """The device the Keras backend computes on: "CPU", "GPU (name)", "TPU"..."""
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
    return device


def inference(model) -> Callable:
    """``x -> model(x, training=False)``, as one TensorFlow graph for a Keras model on TensorFlow.

    Eager Keras keeps every layer's output of a call alive until the call ends (~1.1 GB more for
    a 1036 px tile); the graph frees each tensor once used and runs ~20 % faster. The same
    weights and operations: outputs agree to float rounding (~1e-6). One graph per tile shape,
    made once per model and kept while the model lives. On JAX or PyTorch, the model's own predict step
    (compiled by XLA per tile shape; no gradient bookkeeping). Any other callable (a test's stand-in) is called
    as it is.
    """
    from .openvino_net import OpenVinoUNet  # noqa: PLC0415

    if isinstance(model, OpenVinoUNet):  # compiled once, for every tile size
        return model
    try:
        return _GRAPHS[model]
    except (KeyError, TypeError):
        pass
    import keras  # noqa: PLC0415

    if not isinstance(model, keras.Model):
        return lambda x: model(x, training=False)
    if keras.backend.backend() != "tensorflow":  # JAX: one XLA program per tile shape; PyTorch: no autograd
        return model.predict_on_batch
    import tensorflow as tf  # noqa: PLC0415

    ref = weakref.ref(model)  # the cache must not keep a model alive
    fn = _GRAPHS[model] = tf.function(lambda x: ref()(x, training=False), reduce_retracing=True)
    return fn


_GRAPHS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _numpy(y) -> np.ndarray:
    """A network's output as a NumPy array (OpenVINO gives one; a Keras backend its own tensor)."""
    if isinstance(y, np.ndarray):
        return y
    import keras  # noqa: PLC0415

    return keras.ops.convert_to_numpy(y)


def predict_probability(
    model,
    rgb: np.ndarray,
    tile: int = DEFAULT_TILE,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    prepared: bool = False,
    context: int = CONTEXT,
    scale: float = 1.0,
) -> np.ndarray:
    """Steatosis probability (float32, H x W) of an RGB uint8 image, in inference mode.

    The bottleneck's 'same'-padded convolution sees zeros at a tile's border, which changes
    outputs up to ~60 px inside it; each tile therefore keeps only its output farther than
    ``context`` px from its border, and neighbouring tiles overlap; tiles start at multiples of
    16 px so that the four 2x2 max-poolings see the same grid as in one big tile. With the
    default context the result does not depend on the tiling (tested).
    """
    if not 0.05 <= scale <= 4:
        raise SteatosisError(f"scale must be within 0.05..4, got {scale}")
    if scale != 1.0:  # run at the model's magnification, answer at the image's
        import cv2  # noqa: PLC0415

        H, W = rgb.shape[:2]
        small = cv2.resize(rgb, (max(1, round(W * scale)), max(1, round(H * scale))),
                           interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        p = predict_probability(model, small, tile, progress, cancelled, prepared, context)
        return cv2.resize(p, (W, H), interpolation=cv2.INTER_LINEAR)
    img = rgb if prepared else prepare_image(rgb)
    h, w = img.shape[:2]
    m = IN_MARGIN + context
    rows, cols = padded_extent((h, w), tile, context)
    padded = np.pad(img, ((m, rows - h - m), (m, cols - w - m), (0, 0)), mode="reflect")
    return predict_padded(model, padded, (h, w), tile, context, progress, cancelled)


def padded_extent(shape: tuple[int, int], tile: int = DEFAULT_TILE, context: int = CONTEXT) -> tuple[int, int]:
    """Rows and columns of input that :func:`predict_padded` needs for an output of ``shape``:
    the output's pixel (0, 0) sits at input (IN_MARGIN + context, IN_MARGIN + context)."""
    (th, tw), _, origins = tile_plan(shape, tile, context)
    return max(r for r, _ in origins) + th, max(c for _, c in origins) + tw


def predict_padded(model, padded: np.ndarray, shape: tuple[int, int], tile: int = DEFAULT_TILE,
                   context: int = CONTEXT, progress=None, cancelled=None, needed: np.ndarray | None = None) -> np.ndarray:
    """Probability of an output region of ``shape`` from its prepared input with the margins
    around it (see :func:`padded_extent`): a block of a slide, read with the real pixels of its
    neighbours, costs no more than the same area inside one big image and gives the same values
    when its origin is on the 16 px grid. With ``needed`` (bool, ``shape``), a tile whose output
    holds no needed pixel is not run and stays 0 (a slide block's tiles on glass)."""
    h, w = shape
    (th, tw), (kh, kw), origins = tile_plan((h, w), tile, context)
    out = np.zeros((h, w), np.float32)
    run = inference(model)
    for k, (r, c) in enumerate(origins):
        if cancelled is not None and cancelled():
            raise Cancelled("prediction cancelled")
        rr, cc = min(kh, h - r), min(kw, w - c)
        if needed is None or needed[r:r + rr, c:c + cc].any():
            x = padded[r:r + th, c:c + tw][None].astype(np.float32)
            y = _numpy(run(x))[0, :, :, 0]
            out[r:r + rr, c:c + cc] = y[context:context + rr, context:context + cc]
        if progress is not None:
            progress(k + 1, len(origins))
    return out


def predict_core_resized(model, prepared: np.ndarray, core: tuple[int, int, int, int], scale: float,
                         tile: int = DEFAULT_TILE, cancelled=None) -> np.ndarray:
    """Probability of the ``core`` (top, left, height, width) of a prepared window, the network run
    at ``scale``: the window is resized, and only the core (plus 2 px for the interpolation back)
    is predicted, its real neighbours in the window as the network's context.

    :func:`predict_probability` at ``scale`` on the whole window would also predict the window's
    margins (~50 % more area for a slide block) and cut them in more tiles; this gives the same
    values away from the window's border (tested), reflection only where the margins run short.
    """
    import cv2  # noqa: PLC0415

    top, left, h, w = core
    H, W = prepared.shape[:2]
    sh, sw = max(1, round(H * scale)), max(1, round(W * scale))
    small = cv2.resize(prepared, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    fy, fx = sh / H, sw / W  # the effective factors, as cv2 maps pixel centres
    e = 2  # small pixels beyond the core's far side, for the linear interpolation back
    # the core's first pixel starts the network's 16 px grid, as in one image whose blocks start on it
    a0, b0 = int(np.floor(top * fy)), int(np.floor(left * fx))
    a1, b1 = min(int(np.ceil((top + h) * fy)) + e, sh), min(int(np.ceil((left + w) * fx)) + e, sw)
    m = IN_MARGIN + CONTEXT
    rows, cols = padded_extent((a1 - a0, b1 - b0), tile)
    r0, c0 = a0 - m, b0 - m  # the input's origin in the small window; pad what the window lacks
    pad = ((max(-r0, 0), max(r0 + rows - sh, 0)), (max(-c0, 0), max(c0 + cols - sw, 0)), (0, 0))
    src = small[max(r0, 0):r0 + rows, max(c0, 0):c0 + cols]
    src = np.pad(src, pad, mode="reflect") if any(sum(p) for p in pad) else src
    p = predict_padded(model, src, (a1 - a0, b1 - b0), tile, cancelled=cancelled)
    # core pixel (y, x) -> small (top + y + 0.5) * fy - 0.5 - a0, as resizing the whole window back would
    M = np.array([[fx, 0, (left + 0.5) * fx - 0.5 - b0], [0, fy, (top + 0.5) * fy - 0.5 - a0]], np.float64)
    return cv2.warpAffine(p, M, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
