"""Data: labelled image records (real = 0, fake = 1) and safe image decoding."""

from .datasets import (
    FAKE,
    NAMED_DATASETS,
    REAL,
    Dataset,
    DatasetError,
    ImageRecord,
    load_dataset,
)
from .images import DEFAULT_MAX_PIXELS, BadImage, decode_rgb, load_rgb

__all__ = [
    "FAKE", "NAMED_DATASETS", "REAL", "Dataset", "DatasetError", "ImageRecord", "load_dataset",
    "DEFAULT_MAX_PIXELS", "BadImage", "decode_rgb", "load_rgb",
]
