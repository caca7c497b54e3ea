"""Errors and warnings that carry a message meant for the user."""


class SteatosisError(ValueError):
    """A problem with user input; the message names the file or parameter at fault."""


class DatasetError(SteatosisError):
    """A dataset folder, image, mask or points file that breaks the contract of docs/dataset.md."""


class ImageConversionWarning(UserWarning):
    """An image was converted on reading (grey, RGBA, 16-bit or float input)."""


class Cancelled(Exception):
    """The user cancelled a long job; whatever was saved before stays as it was."""
