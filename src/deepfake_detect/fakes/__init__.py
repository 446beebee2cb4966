"""Aligned real/fake pairs: `make_fakes(reals, out, generators)` (see `fakes.make`).

Names are resolved on first use, so the command line can name the pair formats (`layout`)
without importing the generators (torch).
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(__name__, submod_attrs={
    "layout": ["MANIFEST", "MANIFEST_COLUMNS", "PairFormat", "PairSettings"],
    "make": ["FakesPlan", "FakesSummary", "Job", "build_generators", "make_fakes", "make_pairs", "pending_jobs", "plan_fakes",
             "real_images"],
})
