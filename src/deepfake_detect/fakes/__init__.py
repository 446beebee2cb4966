"""Aligned real/fake pairs: `make_fakes(reals, out, generators)` (see `fakes.make`)."""

from .layout import MANIFEST, MANIFEST_COLUMNS, PairSettings
from .make import FakesPlan, FakesSummary, Job, build_generators, make_fakes, make_pairs, pending_jobs, plan_fakes, real_images

__all__ = [
    "MANIFEST", "MANIFEST_COLUMNS", "FakesPlan", "FakesSummary", "Job", "PairSettings", "build_generators", "make_fakes",
    "make_pairs", "pending_jobs", "plan_fakes", "real_images",
]
