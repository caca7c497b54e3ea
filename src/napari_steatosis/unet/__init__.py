"""The paper's U-Net: network, patch sampling and training, tiled inference, model cards.

Keras 3 code that runs on TensorFlow (default), JAX or PyTorch. Importing this package does
not import Keras: the submodules that need it import it when they are used.
"""

import re

IN_MARGIN = 60  # pixels lost on each side by the valid convolutions (input n -> output n - 120)
PATCH = 268  # the paper's training patch


def is_valid_size(n: int) -> bool:
    """Input sizes the network accepts: n = 16k + 12, n >= 124."""
    return n >= 124 and (n - 12) % 16 == 0


def valid_size_at_least(n: int) -> int:
    """The smallest valid input size >= n."""
    n = max(int(n), 124)
    return n + (-(n - 12)) % 16


# what TensorFlow's C++ start-up writes to stderr whatever TF_CPP_MIN_LOG_LEVEL says (absl logs before its
# initialisation): info lines, and on a machine without a GPU an alarming "E0000 ... failed call to cuInit"
_STARTUP_NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IW]\d{4} |E\d{4} .*cu(Init|da))")


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up logging: call before Keras is first imported (this imports it,
    with its backend, keeping from stderr only the lines that are not start-up noise)."""
    import os
    import sys
    import tempfile

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "keras" in sys.modules:
        return
    sys.stderr.flush()
    with tempfile.TemporaryFile() as caught:
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all: nothing to keep clean
            _import_keras()
            return
        os.dup2(caught.fileno(), 2)
        try:
            _import_keras()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [ln for ln in caught.read().decode(errors="replace").splitlines() if not _STARTUP_NOISE.match(ln)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def _import_keras() -> None:
    """Import Keras; a backend that KERAS_BACKEND names but cannot load (not installed, misspelt) is
    one line that names it, not Keras's traceback."""
    import os

    try:
        import keras  # noqa: F401, PLC0415
    except (ImportError, ValueError) as e:
        backend = os.environ.get("KERAS_BACKEND")
        if not backend:
            raise
        from ..errors import SteatosisError  # noqa: PLC0415

        raise SteatosisError(f"KERAS_BACKEND={backend}: Keras cannot run on it ({e}); install it "
                             "(tensorflow, jax or torch) or unset KERAS_BACKEND for TensorFlow") from None


def __getattr__(name):
    if name == "Detector":  # lazily: importing the package must not import Keras (it does not anyway)
        from .detector import Detector  # noqa: PLC0415

        return Detector
    raise AttributeError(name)
