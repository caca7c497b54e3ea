"""Dataset folder I/O, image reading and the synthetic liver generator."""

from .atomic import atomic_write
from .dataset import Dataset, ImageRecord, PointLabels, patient_split, read_points, write_points
from .images import read_image, read_mask, write_image, write_mask

__all__ = [
    "Dataset",
    "ImageRecord",
    "PointLabels",
    "atomic_write",
    "patient_split",
    "read_image",
    "read_mask",
    "read_points",
    "write_image",
    "write_mask",
    "write_points",
]
