"""What an engine is: the three heavy jobs (extract, predict, make-fakes) behind one protocol.

A command builds the same job whatever runs it and hands it to `get_engine(name, options)`;
it never asks which engine it got. `EngineOptions` carries how the work is run (decoding
workers and runtime for this process; cluster address and shard folder for Ray): each engine
reads the options it has a use for and ignores the rest, so the command line can offer all of
them to every engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..data.images import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from ..data.datasets import Dataset
    from ..detector.detector import Detector, Prediction
    from ..fakes.make import FakesSummary
    from ..features.cache import FeatureCache
    from ..features.extract import ExtractionReport
    from ..transforms.perturb import TransformSpec


@dataclass(frozen=True)
class EngineOptions:
    """How the work runs; what is computed is in each method's arguments."""

    workers: int | None = None
    """Decoding workers in this process (local; None: the default for the job)."""
    runtime: str = "auto"
    """What runs a network in this process: auto | onnx | torch (local)."""
    address: str | None = None
    """The Ray cluster: 'auto', ray://HOST:10001, or None to start a local Ray (ray)."""
    shards: Path | None = None
    """Where Ray's Parquet shards go and stay (ray; None: a folder in the cache or a temporary one)."""


@dataclass(frozen=True)
class ExtractJob:
    """Fill `cache` with the features of every image of `data` not yet in it."""

    data: Dataset
    backbone: str
    weights: str
    cache: FeatureCache
    transform: TransformSpec
    preprocess: str = "resize"
    batch_size: int = 64
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class FakesJob:
    """The arguments of `fakes.make_fakes`: aligned fakes of `reals` by `generators` into `out`."""

    reals: Any
    out: Path
    generators: Sequence[str]
    size: int = 256
    weights: Path | None = None
    settings: dict[str, Any] | None = None
    """make_fakes' keyword settings (image_format, quality, small, max_images, seed, batch_size, data_root)."""


class Engine(Protocol):
    """Where heavy work runs. Every engine gives the same results (same cache keys and vectors,
    same predictions, same fakes folder); a test checks that for each registered one."""

    name: str
    description: str
    """A few words for `--engine`'s help."""
    options: EngineOptions

    def extract(self, job: ExtractJob, on_bad: Callable[[str], None] | None = None) -> ExtractionReport: ...

    def predict(self, detector: Detector, paths: list[Path], batch_size: int = 32,
                max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[Prediction]: ...

    def make_fakes(self, job: FakesJob, on_bad: Callable[[str], None] | None = None) -> FakesSummary: ...
