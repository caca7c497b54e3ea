"""The paper's U-Net: network, patch sampling and training, tiled inference, model cards.

Keras 3 code that runs on TensorFlow (default), JAX or PyTorch. Importing this package does
not import Keras: the submodules that need it import it when they are used.
"""

IN_MARGIN = 60  # pixels lost on each side by the valid convolutions (input n -> output n - 120)
PATCH = 268  # the paper's training patch


def is_valid_size(n: int) -> bool:
    """Input sizes the network accepts: n = 16k + 12, n >= 124."""
    return n >= 124 and (n - 12) % 16 == 0


def valid_size_at_least(n: int) -> int:
    """The smallest valid input size >= n."""
    n = max(int(n), 124)
    return n + (-(n - 12)) % 16


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up logging (call before Keras is first imported)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def __getattr__(name):
    if name == "Detector":  # lazily: importing the package must not import Keras (it does not anyway)
        from .detector import Detector  # noqa: PLC0415

        return Detector
    raise AttributeError(name)
