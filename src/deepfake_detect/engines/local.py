"""The local engine: this process, threads decoding and embedding whole batches (the default)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from ..progress import progress_bar, sized_progress
from ..data.images import DEFAULT_MAX_PIXELS
from .base import EngineOptions, ExtractJob, FakesJob


class LocalEngine:
    name = "local"
    description = "this process"

    def __init__(self, options: EngineOptions = EngineOptions()):
        self.options = options

    def extract(self, job: ExtractJob, on_bad: Callable[[str], None] | None = None):
        from ..backbones import create_backbone
        from ..features import extract_features, feature_space

        model = create_backbone(job.backbone, job.weights)
        todo = len(job.cache.missing(feature_space(model, job.transform, job.preprocess), job.data.ids))
        with progress_bar(f"{job.backbone} [{job.transform.name}]", total=todo) as advance:
            return extract_features(
                job.data, model, job.cache, job.transform, job.preprocess, job.batch_size, self.options.workers,
                job.max_pixels, progress=advance, on_bad=on_bad, runtime=self.options.runtime,
            )

    def predict(self, detector, paths: list[Path], batch_size: int = 32,
                max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator:
        """`Detector.predict_paths` in this process, with a progress bar over the rows."""
        from ..runtime import default_workers

        workers = self.options.workers
        if workers is None:
            workers = default_workers() if len(paths) > 2 * batch_size else 0
        with progress_bar("predict", total=len(paths)) as advance:
            for prediction in detector.predict_paths(paths, batch_size=batch_size, workers=workers, max_pixels=max_pixels):
                yield prediction
                advance(1)

    def make_fakes(self, job: FakesJob, on_bad: Callable[[str], None] | None = None):
        from ..fakes import make_fakes

        with sized_progress("make-fakes") as advance:
            return make_fakes(job.reals, job.out, job.generators, job.size, job.weights, progress=advance,
                              on_bad=on_bad, **(job.settings or {}))
