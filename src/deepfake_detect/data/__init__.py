"""Data: labelled image records (real = 0, fake = 1), the folder walker and safe decoding."""

from .datasets import (
    FAKE,
    NAMED_DATASETS,
    REAL,
    Dataset,
    DatasetError,
    ImageRecord,
    load_dataset,
)
from .images import (
    ALLOWED_FORMATS,
    DECODE_VERSION,
    DEFAULT_MAX_PIXELS,
    MIN_IMAGE_SIDE,
    BadImage,
    as_upright_rgb,
    decode_rgb,
    load_rgb,
)
from .walk import walk_files

__all__ = [
    "FAKE", "NAMED_DATASETS", "REAL", "Dataset", "DatasetError", "ImageRecord", "load_dataset",
    "ALLOWED_FORMATS", "DECODE_VERSION", "DEFAULT_MAX_PIXELS", "MIN_IMAGE_SIDE", "BadImage",
    "as_upright_rgb", "decode_rgb", "load_rgb", "walk_files",
]
