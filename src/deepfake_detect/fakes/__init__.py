"""Aligned real/fake pairs: `make_fakes(reals, out, generators)` (see `fakes.make`)."""

from .layout import MANIFEST, MANIFEST_COLUMNS, PairSettings
from .make import FakesSummary, make_fakes, real_images

__all__ = ["MANIFEST", "MANIFEST_COLUMNS", "FakesSummary", "PairSettings", "make_fakes", "real_images"]
