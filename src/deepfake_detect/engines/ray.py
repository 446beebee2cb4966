"""The Ray engine: a pool of actors on a Ray cluster (or a local Ray instance), each loading the
model once; results land in Parquet shards and come back as the local engine's results.

Importing this module does not import Ray; each job does, and says how to install it.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ..data.images import DEFAULT_MAX_PIXELS
from .base import EngineOptions, ExtractJob, FakesJob

log = logging.getLogger(__name__)


class RayEngine:
    name = "ray"
    description = "a Ray cluster; needs deepfake-detect[ray]"

    def __init__(self, options: EngineOptions = EngineOptions()):
        self.options = options

    def extract(self, job: ExtractJob, on_bad: Callable[[str], None] | None = None):
        from .extract import BackboneRecipe, extract_with_ray

        return extract_with_ray(
            job.data, BackboneRecipe(job.backbone, job.weights), job.cache, job.transform, job.preprocess,
            batch_size=job.batch_size, address=self.options.address, max_pixels=job.max_pixels,
            shards_dir=self.options.shards, on_bad=on_bad,
        )

    def predict(self, detector, paths: list[Path], batch_size: int = 32,
                max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator:
        """Score into Parquet shards (kept in `options.shards`, else in a temporary folder), then
        read them back in input order."""
        from .predict import predict_with_ray

        _check_workers_read_provenance_alike(detector)
        shards = self.options.shards
        if shards is None:
            shards = Path(tempfile.mkdtemp(prefix="deepfake-detect-shards-"))
            log.info("shards: %s", shards)
        job = predict_with_ray(detector.folder, paths, shards, batch_size=batch_size, address=self.options.address,
                               max_pixels=max_pixels, on_bad=None)
        return job.predictions()

    def make_fakes(self, job: FakesJob, on_bad: Callable[[str], None] | None = None):
        from .fakes import make_fakes_with_ray

        return make_fakes_with_ray(job.reals, job.out, job.generators, job.size, job.weights,
                                   address=self.options.address, on_bad=on_bad, **(job.settings or {}))


def _check_workers_read_provenance_alike(detector) -> None:
    """Ray's actors read provenance with the default settings (their environment); settings given
    to this process only (trust lists, network, watermarks) would silently not apply there."""
    from ..errors import UserError
    from ..provenance import ProvenanceReader

    if detector.provenance is not None and detector.provenance.describe() != ProvenanceReader().describe():
        raise UserError("--trust-dir, --allow-network and --watermarks apply to --engine local; on Ray set "
                        "DEEPFAKE_DETECT_TRUST_DIR / DEEPFAKE_DETECT_ALLOW_NETWORK on the workers")
