"""The U-Net run by OpenVINO, read from its ``.keras`` file without Keras or TensorFlow.

Prediction on a CPU spent ~5 s of every ``steatosis predict`` importing TensorFlow, and
TensorFlow's kernels ran the paper's network at ~0.65 s per 1036 px tile here; OpenVINO's
CPU plugin runs the same network, in float32, at ~0.27 s and imports in ~0.3 s
(benchmarks/bench_slide.py ``--predict-4096`` times both in one run).

A ``.keras`` file is a zip of ``config.json`` (the layers, as data) and ``model.weights.h5``
(the arrays). Nothing in it is executed here: the layer list must be exactly the paper's
network as :func:`napari_steatosis.unet.model.build_unet` builds it (names, kinds, filter counts,
crops), else :func:`read_unet` raises :class:`NotThePaperNet` and the model is loaded by Keras
instead. The weights file names its groups after each layer's kind in the order of the layer
list (``conv2d``, ``conv2d_1``, ... — Keras 3's saving rule); every array's shape is checked
against the layer it is given to.

Batch normalisation is folded into the convolution before it, the input scaling (x / 255) and
the input batch normalisation are applied as they are; the result matches Keras to float
rounding (tests/test_openvino_net.py). Precision is pinned to float32: OpenVINO would choose
bfloat16 by itself on CPUs that have it, and the same image must give the same mask on every
machine.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np

from .model import BOTTLENECK, DOWN, SKIP_CROP, UP


def import_openvino():
    """``openvino``, imported without its model-conversion tools: ``import openvino`` imports
    ``openvino.tools.ovc``, which sends a usage event to Intel's analytics unless the user opted out
    (a consent file in the home folder; no consent asked). A tool run on patients' slides must not
    call out; the conversion tools are not used here. ``openvino.tools.ovc`` stays importable later
    for whoever wants it."""
    import sys  # noqa: PLC0415

    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    blocked = "openvino.tools.ovc" not in sys.modules
    if blocked:
        sys.modules["openvino.tools.ovc"] = None  # openvino/__init__ catches the ImportError this gives
    try:
        import openvino  # noqa: PLC0415
    finally:
        if blocked and sys.modules.get("openvino.tools.ovc", 0) is None:
            del sys.modules["openvino.tools.ovc"]
    return openvino


class NotThePaperNet(ValueError):
    """The file holds some other network: let Keras load it."""


def expected_layers() -> list[tuple[str, str]]:
    """(kind, name) of every layer of the paper's network, in build_unet's order."""
    def block(tag):
        return [("Conv2D", f"{tag}_conv"), ("BatchNormalization", f"{tag}_bn"), ("ReLU", f"{tag}_relu")]

    out = [("InputLayer", "rgb"), ("Rescaling", "scale"), ("BatchNormalization", "input_bn")]
    for i in range(1, len(DOWN) + 1):
        out += block(f"down{i}a") + block(f"down{i}b") + [("MaxPooling2D", f"down{i}_pool")]
    out += [("Conv2D", "bottleneck_conv3"), ("Dropout", "bottleneck_drop1"), ("Conv2D", "bottleneck_conv1a"),
            ("Dropout", "bottleneck_drop2"), ("Conv2D", "bottleneck_conv1b")]
    for j in range(1, len(UP) + 1):
        crop = [("Cropping2D", f"up{j}_crop")] if SKIP_CROP[len(DOWN) - j] else []
        out += [("UpSampling2D", f"up{j}_upsample")] + crop + [("Concatenate", f"up{j}_concat")]
        out += block(f"up{j}a") + block(f"up{j}b")
    return out + [("Conv2D", "probability")]


def _snake(kind: str) -> str:
    """Keras' to_snake_case: ``Conv2D`` -> ``conv2d``, ``ReLU`` -> ``re_lu``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", kind)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def read_unet(path: str | Path) -> tuple[dict[str, list[np.ndarray]], dict[str, dict]]:
    """``(weights, configs)`` by layer name, from a ``.keras`` file holding the paper's network."""
    import h5py  # noqa: PLC0415 (Keras' own dependency; reading arrays runs no code)

    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
        h5 = z.read("model.weights.h5")
    try:
        layers = config["config"]["layers"]
        found = [(layer["class_name"], layer["config"]["name"]) for layer in layers]
    except (KeyError, TypeError) as exc:
        raise NotThePaperNet(f"unexpected config.json ({exc})") from exc
    if found != expected_layers():
        raise NotThePaperNet("its layers are not the paper's network's")
    configs = {layer["config"]["name"]: layer["config"] for layer in layers}
    seen: dict[str, int] = {}
    weights: dict[str, list[np.ndarray]] = {}
    with h5py.File(io.BytesIO(h5), "r") as f:
        for kind, name in found:
            key = _snake(kind)
            k = seen.get(key, 0)
            seen[key] = k + 1
            group = f.get(f"layers/{key}_{k}" if k else f"layers/{key}")
            if group is not None and "vars" in group and len(group["vars"]):
                weights[name] = [np.asarray(group["vars"][str(i)], np.float32) for i in range(len(group["vars"]))]
    _check_shapes(weights, configs)
    return weights, configs


def _check_shapes(weights: dict[str, list[np.ndarray]], configs: dict[str, dict]) -> None:
    channels = 3

    def want(name, shapes):
        got = [w.shape for w in weights.get(name, [])]
        if got != shapes:
            raise NotThePaperNet(f"layer {name}: weights {got}, expected {shapes}")

    def bn(name, c):
        cfg = configs[name]
        if not (cfg.get("center", True) and cfg.get("scale", True)):
            raise NotThePaperNet(f"layer {name}: batch normalisation without centre or scale")
        want(name, [(c,)] * 4)

    bn("input_bn", 3)
    skips = []
    for i, f in enumerate(DOWN, 1):
        for ab in "ab":
            want(f"down{i}{ab}_conv", [(3, 3, channels, f), (f,)])
            bn(f"down{i}{ab}_bn", f)
            channels = f
        skips.append(f)
    want("bottleneck_conv3", [(3, 3, channels, BOTTLENECK), (BOTTLENECK,)])
    want("bottleneck_conv1a", [(1, 1, BOTTLENECK, BOTTLENECK), (BOTTLENECK,)])
    want("bottleneck_conv1b", [(1, 1, BOTTLENECK, BOTTLENECK), (BOTTLENECK,)])
    channels = BOTTLENECK
    for j, f in enumerate(UP, 1):
        channels += skips[len(DOWN) - j]
        for ab in "ab":
            want(f"up{j}{ab}_conv", [(3, 3, channels, f), (f,)])
            bn(f"up{j}{ab}_bn", f)
            channels = f
    want("probability", [(1, 1, channels, 1), (1,)])
    _check_configs(configs)


def _check_configs(configs: dict[str, dict]) -> None:
    """The settings build_unet gives each layer (those the graph below relies on)."""
    def need(name, **want):
        cfg = configs[name]
        for key, value in want.items():
            got = cfg.get(key)
            if (list(got) if isinstance(got, (list, tuple)) else got) != value:
                raise NotThePaperNet(f"layer {name}: {key} {got}, expected {value}")

    need("scale", offset=0.0)
    for name, cfg in configs.items():
        if name.endswith("_conv") or name.startswith("bottleneck_conv") or name == "probability":
            act = "sigmoid" if name == "probability" else "relu" if name.startswith("bottleneck") else "linear"
            need(name, activation=act, strides=[1, 1], dilation_rate=[1, 1], use_bias=True, groups=1,
                 data_format="channels_last",
                 padding="same" if name == "bottleneck_conv3" else "valid")
        elif name.endswith("_bn"):
            need(name, axis=-1)
        elif name.endswith("_relu"):
            need(name, max_value=None, negative_slope=0.0, threshold=0.0)
        elif name.endswith("_pool"):
            need(name, pool_size=[2, 2], strides=[2, 2], padding="valid", data_format="channels_last")
        elif name.endswith("_upsample"):
            need(name, size=[2, 2], interpolation="nearest")
        elif name.endswith("_crop"):
            level = len(DOWN) - int(name[2])
            c = SKIP_CROP[level]
            need(name, cropping=[[c, c], [c, c]])
        elif name.endswith("_concat"):
            need(name, axis=-1)


def build_graph(weights: dict[str, list[np.ndarray]], configs: dict[str, dict]):
    """The network as an OpenVINO model: NHWC float32 RGB 0..255 in, NHWC probability out."""
    ov = import_openvino()
    import openvino.opset13 as ops  # noqa: PLC0415

    def const(a):
        return ops.constant(np.ascontiguousarray(a, np.float32))

    def bn_affine(name):
        gamma, beta, mean, var = weights[name]
        s = gamma / np.sqrt(var + float(configs[name].get("epsilon", 1e-3)))
        return s, beta - mean * s

    def conv(x, name, bn=None, relu=True, pad=0):
        kernel, bias = weights[name]
        if bn is not None:
            s, t = bn_affine(bn)
            kernel, bias = kernel * s, bias * s + t
        w = const(np.transpose(kernel, (3, 2, 0, 1)))  # HWIO -> OIHW
        y = ops.convolution(x, w, [1, 1], [pad, pad], [pad, pad], [1, 1])
        y = ops.add(y, const(bias.reshape(1, -1, 1, 1)))
        return ops.relu(y) if relu else y

    rgb = ops.parameter([-1, -1, -1, 3], ov.Type.f32, name="rgb")
    s, t = bn_affine("input_bn")
    x = ops.transpose(rgb, ops.constant(np.array([0, 3, 1, 2], np.int64)))
    x = ops.multiply(x, const(np.full((1, 1, 1, 1), configs["scale"].get("scale", 1 / 255), np.float32)))
    x = ops.add(ops.multiply(x, const(s.reshape(1, -1, 1, 1))), const(t.reshape(1, -1, 1, 1)))
    skips = []
    for i in range(1, len(DOWN) + 1):
        x = conv(x, f"down{i}a_conv", f"down{i}a_bn")
        x = conv(x, f"down{i}b_conv", f"down{i}b_bn")
        skips.append(x)
        x = ops.max_pool(x, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2]).output(0)
    x = conv(x, "bottleneck_conv3", pad=1)
    x = conv(x, "bottleneck_conv1a")
    x = conv(x, "bottleneck_conv1b")
    for j in range(1, len(UP) + 1):
        level = len(DOWN) - j
        x = ops.interpolate(x, np.array([2.0, 2.0], np.float32), "nearest", "scales",
                            coordinate_transformation_mode="asymmetric", nearest_mode="floor",
                            axes=np.array([2, 3], np.int64))
        skip, c = skips[level], SKIP_CROP[level]
        if c:
            skip = ops.slice(skip, np.array([c, c], np.int64), np.array([-c, -c], np.int64),
                             np.array([1, 1], np.int64), np.array([2, 3], np.int64))
        x = ops.concat([x, skip], 1)
        x = conv(x, f"up{j}a_conv", f"up{j}a_bn")
        x = conv(x, f"up{j}b_conv", f"up{j}b_bn")
    x = ops.sigmoid(conv(x, "probability", relu=False))
    out = ops.transpose(x, ops.constant(np.array([0, 2, 3, 1], np.int64)))
    return ov.Model([out], [rgb], "steatosis_unet")


# float32 everywhere (see above); one request at a time, all cores on it; threads not pinned to cores:
# pinned, a tile waited for whichever core another program was using (0.66-0.94 s instead of 0.50 s
# for a 1036 px tile here, with one core busy)
CPU_SETTINGS = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False}


class OpenVinoUNet:
    """Callable like the Keras model: ``net(x)`` with x float32 (n, h, w, 3), h and w = 16k + 12 ->
    probability (n, h - 120, w - 120, 1) as a NumPy array.

    Compiled once for any input size: a network compiled per tile shape kept ~300 MB each, so a folder of
    images of many sizes grew without bound; the one dynamic-shape network runs a 1036 px tile as fast and
    its memory stays that of the largest tile. Calls from several threads take turns (one request)."""

    runtime = "OpenVINO"

    def __init__(self, path: str | Path):
        import threading  # noqa: PLC0415

        ov = import_openvino()
        self.path = str(path)
        compiled = ov.Core().compile_model(build_graph(*read_unet(path)), "CPU", CPU_SETTINGS)
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()

    def __call__(self, x, training: bool = False) -> np.ndarray:
        from . import is_valid_size  # noqa: PLC0415

        x = np.ascontiguousarray(x, np.float32)
        if x.ndim != 4 or x.shape[-1] != 3 or not (is_valid_size(x.shape[1]) and is_valid_size(x.shape[2])):
            raise ValueError(f"the U-Net takes (n, h, w, 3) tiles of 16k + 12 px (at least 124), got {x.shape}")
        with self._lock:
            return self._request.infer({0: x})[0].copy()


def available() -> bool:
    """Whether OpenVINO can be imported (it is a dependency; a broken install falls back to Keras)."""
    try:
        import_openvino()
    except Exception:  # noqa: BLE001
        return False
    return True
