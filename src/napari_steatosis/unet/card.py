"""Saving and loading models: a ``.keras`` file in safe mode and a JSON model card beside it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..data.atomic import atomic_write
from ..errors import SteatosisError

CARD_FORMAT = "napari-steatosis-unet"


def card_path(model_path: str | os.PathLike) -> Path:
    p = Path(model_path)
    return p.with_name(p.name[: -len(".keras")] + ".card.json" if p.name.endswith(".keras") else p.name + ".card.json")


def save_model(model, path: str | os.PathLike, card: dict) -> Path:
    """Write the model and its card atomically: the previous files stay until both new ones are whole."""
    path = Path(path)
    if path.suffix != ".keras":
        raise SteatosisError(f"{path}: a U-Net model file must end in .keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    import warnings  # noqa: PLC0415

    with atomic_write(card_path(path)) as card_tmp, atomic_write(path) as tmp, warnings.catch_warnings():
        # Keras' own saving trips NumPy 2's copy-keyword deprecation once per weight: not ours to fix
        warnings.filterwarnings("ignore", message=".*copy keyword.*")
        model.save(tmp)
        card_tmp.write_text(json.dumps({"format": CARD_FORMAT, **card}, indent=2, default=float))
    return path


def load_card(path: str | os.PathLike) -> dict:
    cp = card_path(path)
    if not cp.is_file():
        return {}
    try:
        card = json.loads(cp.read_text())
    except (OSError, ValueError) as exc:
        raise SteatosisError(f"{cp}: unreadable model card ({exc})") from exc
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise SteatosisError(f"{cp}: not a napari-steatosis model card")
    return card


def default_scale(card: dict) -> float | str:
    """The scale when none is given (``--scale``, the dock's *auto* box): ``"auto"`` for a model whose
    ``card`` records its training images' nucleus sizes (the shipped model's does), else 1 (the card's
    working scale alone). Without it an image at twice the training magnification loses most of its
    fat (README: resampled fields)."""
    return "auto" if card.get("nucleus_diameter_px") else 1.0


RUNTIMES = ("auto", "openvino", "keras")


def _check_file(path: Path) -> None:
    import zipfile  # noqa: PLC0415

    if not path.is_file():
        raise SteatosisError(f"{path}: model file not found")
    if path.suffix != ".keras":
        raise SteatosisError(f"{path}: expected a .keras model file")
    if not zipfile.is_zipfile(path):  # checked before Keras is imported: a quick, plain answer
        raise SteatosisError(f"{path}: not a Keras model (a .keras file is a zip archive; this one is not)")


def asked_runtime() -> str:
    """``STEATOSIS_RUNTIME`` as given: auto (also when unset), openvino or keras."""
    runtime = os.environ.get("STEATOSIS_RUNTIME", "auto").strip().lower() or "auto"
    if runtime not in RUNTIMES:
        raise SteatosisError(f"STEATOSIS_RUNTIME={runtime!r}: expected one of {', '.join(RUNTIMES)}")
    return runtime


def chosen_runtime() -> str:
    """What runs the network for prediction: ``STEATOSIS_RUNTIME`` (auto, openvino or keras; default auto).
    Auto is OpenVINO, unless the machine has an NVIDIA GPU (Keras on TensorFlow uses it; OpenVINO's CPU
    plugin would not) or OpenVINO cannot be imported."""
    runtime = asked_runtime()
    if runtime == "auto":
        from .openvino_net import available  # noqa: PLC0415

        runtime = "openvino" if available() and not nvidia_gpu() else "keras"
    return runtime


def nvidia_gpu() -> bool:
    """Whether this machine has an NVIDIA driver (asked without importing TensorFlow)."""
    import shutil  # noqa: PLC0415

    return Path("/dev/nvidiactl").exists() or shutil.which("nvidia-smi") is not None


def load_network(path: str | os.PathLike):
    """``(network, card)`` for prediction: the model at ``path`` run by :func:`chosen_runtime`. With
    OpenVINO the file's arrays are read without Keras (openvino_net.py); a model that is not the paper's
    network is then loaded by Keras, unless ``STEATOSIS_RUNTIME=openvino`` asked for OpenVINO only."""
    path = Path(path)
    _check_file(path)
    runtime = chosen_runtime()
    if runtime == "openvino":
        from .openvino_net import NotThePaperNet, OpenVinoUNet  # noqa: PLC0415

        try:
            return OpenVinoUNet(path), load_card(path)
        except NotThePaperNet as exc:
            if asked_runtime() == "openvino":
                raise SteatosisError(f"{path}: OpenVINO runs only the paper's network here ({exc}); "
                                     "unset STEATOSIS_RUNTIME to let Keras load it") from exc
        except (OSError, KeyError, ValueError) as exc:
            raise SteatosisError(f"{path}: cannot read this model ({type(exc).__name__}: {exc})") from exc
    return load_model(path)


def load_model(path: str | os.PathLike):
    """``(model, card)`` as a Keras model (for training, and for prediction where Keras runs it). Keras
    safe mode: a file that would run code on load is refused."""
    path = Path(path)
    _check_file(path)
    from . import quiet_tensorflow  # noqa: PLC0415

    quiet_tensorflow()  # imports Keras: only once the file is known to be worth loading
    import keras  # noqa: PLC0415

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 (a foreign or broken file: say so plainly)
        raise SteatosisError(f"{path}: cannot load this model safely ({type(exc).__name__}: {exc})") from exc
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[-1] != 3 or tuple(model.output_shape)[-1] != 1:
        raise SteatosisError(f"{path}: not a steatosis U-Net (input {shape}, output {model.output_shape})")
    return model, load_card(path)
