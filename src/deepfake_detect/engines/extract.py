"""Feature extraction on Ray: the same features as `features.extract_features`, from a
pool of actors, into the same cache.

The driver lists the images still missing from the cache (cheap: the dataset's content ids
are already known) and cuts them into batches; each actor builds the backbone once, and for
each batch decodes at native resolution with the project's decoder, transforms and
preprocesses through the very functions the local engine uses (`extraction_images`,
`inference_copy`, `embed`), and writes a Parquet shard. At the end the driver ingests the
shards into the `FeatureCache` under the local engine's key, so `grid` and `train` find them
exactly as if extracted locally (equal to float rounding of batched convolutions).
"""

from __future__ import annotations

import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.images import DEFAULT_MAX_PIXELS
from ..errors import WeightsError
from ..features.cache import FeatureCache, FeatureSpace
from ..features.extract import ExtractionReport, feature_space
from ..transforms.degrade import Degradation
from ..transforms.perturb import TransformSpec
from ..transforms.preprocess import PreprocessPolicy
from . import shards
from .cluster import batch_result, plan_actors, ray_session, run_listing
from .facts import FACT_COLUMNS, file_facts

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import pyarrow as pa

    from ..data.datasets import Dataset


@dataclass(frozen=True)
class BackboneRecipe:
    """How every actor builds the same backbone: `create_backbone(name, weights, seed)`.
    `weights` is "pretrained", "random" or a file path visible from every node."""

    name: str
    weights: str = "pretrained"
    seed: int = 0

    def build(self):
        from ..backbones import create_backbone

        return create_backbone(self.name, self.weights, seed=self.seed)


def extract_with_ray(
    dataset: Dataset,
    recipe: BackboneRecipe,
    cache: FeatureCache,
    transform: TransformSpec | None = None,
    preprocess: PreprocessPolicy = "resize",
    degradation: Degradation | None = None,
    *,
    batch_size: int = 64,
    address: str | None = None,
    actors: int | None = None,
    cpus_per_actor: float | None = None,
    gpus_per_actor: float | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    shards_dir: str | Path | None = None,
    show_progress: bool = True,
    on_bad: Callable[[str], None] | None = None,
    on_batch: Callable[[dict[str, Any]], None] | None = None,
) -> ExtractionReport:
    """Fill `cache` with every image of `dataset` not yet in it, on Ray; the report is the
    local engine's (`total`, `cached`, `extracted`, `bad`, `seconds`).

    `shards_dir`: where the Parquet shards go and stay, in one subfolder per job (feature
    space and list of images; it must be visible from every node). By default they go below
    the cache folder and are removed once ingested. An interrupted run resumes from the
    shards already written, either way.
    """
    transform = transform or TransformSpec()
    backbone = recipe.build()
    space = feature_space(backbone, transform, preprocess, degradation)
    del backbone  # the driver only needed the key; every actor builds its own
    cache.register(space)
    items = _todo(dataset, cache, space)
    total = len(set(dataset.ids))
    report = ExtractionReport(space, total=total, cached=total - len(items))
    if not items:
        return report
    started = time.perf_counter()
    job_id = shards.fingerprint(items)
    job_dir = Path(shards_dir or cache.directory / "shards") / f"{space.key}-{job_id[:16]}"
    shards.open_job(job_dir, _job_description(space, batch_size, job_id, len(items)))
    listing = shards.write_listing(job_dir, items, batch_size)
    with ray_session(address):
        plan = plan_actors(actors, cpus_per_actor, gpus_per_actor)
        worker_kwargs = {
            "job_dir": str(job_dir), "recipe": recipe, "transform": transform, "preprocess": preprocess,
            "degradation": degradation, "max_pixels": max_pixels, "space_key": space.key,
        }
        warned = run_listing(
            listing, FeatureShardWriter, worker_kwargs, plan, f"{space.backbone} [ray: {plan.describe()}]",
            show_progress, on_batch, on_bad,
        )
    report.extracted, report.bad = ingest_shards(job_dir, listing.total_batches, cache, space)
    _warn_resumed(report.bad, set(warned), on_bad)
    report.seconds = time.perf_counter() - started
    if not shards_dir:
        shutil.rmtree(job_dir, ignore_errors=True)
    return report


def _todo(dataset: Dataset, cache: FeatureCache, space: FeatureSpace) -> list[tuple[str, str]]:
    """(path, image id) of the images missing from the cache, each picture once, in dataset
    order: the local engine's selection."""
    missing = cache.missing(space, dataset.ids)
    items, seen = [], set()
    for record, image_id in zip(dataset.records, dataset.ids):
        if image_id in missing and image_id not in seen:
            seen.add(image_id)
            items.append((str(record.path), image_id))
    return items


def _job_description(space: FeatureSpace, batch_size: int, job_id: str, count: int) -> dict[str, Any]:
    return {"kind": "features", "space": space.key, "description": space.description(), "dim": space.dim,
            "batch_size": batch_size, "inputs": job_id, "images": count}


def _warn_resumed(bad: list[tuple[str, str]], warned: set[str], on_bad: Callable[[str], None] | None) -> None:
    """Bad files of shards written by an earlier, interrupted run are named again, as the
    local engine names a bad file on every run."""
    for _, message in bad:
        if message not in warned:
            (on_bad or log.warning)(message)


def ingest_shards(
    job_dir: Path, batches: int, cache: FeatureCache, space: FeatureSpace
) -> tuple[int, list[tuple[str, str]]]:
    """Put every shard's vectors into `cache` (one transaction per shard, in batch order);
    return how many, and (path, message) for the files that had none. Idempotent."""
    count, bad = 0, []
    for table in shards.read_shards(job_dir, batches, ["image_id", "path", "vector", "error"]):
        errors = table.column("error").to_pylist()
        good = [row for row, error in enumerate(errors) if error is None]
        bad += [(path, error) for path, error in zip(table.column("path").to_pylist(), errors) if error is not None]
        if good:
            kept = table.take(good)
            vectors = kept.column("vector").combine_chunks().flatten().to_numpy().reshape(len(good), space.dim)
            cache.put(space, kept.column("image_id").to_pylist(), vectors)
            count += len(good)
    return count, bad


class FeatureShardWriter:
    """A Ray actor: one backbone, built once; each call embeds one listed batch into a shard.

    It checks that the backbone it built has the driver's feature-space key, so a node with a
    different weights file can never write features under the wrong key.
    """

    def __init__(
        self,
        job_dir: str,
        recipe: BackboneRecipe,
        transform: TransformSpec,
        preprocess: PreprocessPolicy,
        degradation: Degradation | None,
        max_pixels: int | None,
        space_key: str,
        threads: int = 1,
    ):
        import torch

        from ..features.extract import inference_copy
        from ..runtime import best_device

        torch.set_num_threads(threads)
        self.job_dir = Path(job_dir)
        self.backbone = recipe.build()
        self.space = feature_space(self.backbone, transform, preprocess, degradation)
        if self.space.key != space_key:
            raise WeightsError(
                f"backbone '{recipe.name}' on this node gives feature space {self.space.description()}, not the "
                f"driver's (key {space_key}); every node must see the same weights file"
            )
        self.transform, self.preprocess, self.degradation = transform, preprocess, degradation
        self.max_pixels = max_pixels
        self.device = best_device()
        self.model = inference_copy(self.backbone, self.device)
        self.decoders = ThreadPoolExecutor(threads) if threads > 1 else None

    def __call__(self, listed: pa.Table) -> pa.Table:
        from ..data.loader import collate
        from ..features.extract import embed, extraction_images

        (row,) = listed.to_pylist()
        items = [(shards.decode_path(raw), image_id) for raw, image_id in zip(row["paths"], row["ids"])]
        images = extraction_images(items, self.backbone, self.transform, self.preprocess, self.degradation, self.max_pixels)
        positions = range(len(images))
        loaded = collate(list(self.decoders.map(images.__getitem__, positions)) if self.decoders else [images[i] for i in positions])
        vectors = embed(self.model, loaded.images, self.device) if loaded.images is not None else None
        shards.write_shard(self.job_dir, row["batch"], self._shard(items, loaded.indices, vectors, loaded.bad))
        return batch_result(row["batch"], len(loaded.indices), [message for _, message in loaded.bad])

    def _shard(self, items: list[tuple[Path, str]], good: list[int], vectors: np.ndarray | None, bad: list[tuple[int, str]]) -> pa.Table:
        import pyarrow as pa

        by_position: dict[int, Any] = {}
        if vectors is not None:
            by_position.update(zip(good, vectors.astype(np.float32)))
        errors = dict(bad)
        rows = [
            {
                "image_id": image_id,
                "path": shards.arrow_text(str(path)),
                "space": self.space.key,
                "vector": by_position[i].tolist() if i in by_position else None,
                "error": shards.arrow_text(errors[i]) if i in errors else None,
                **file_facts(path),
            }
            for i, (path, image_id) in enumerate(items)
        ]
        return pa.Table.from_pylist(rows, feature_shard_schema(self.space.dim))


def feature_shard_schema(dim: int) -> pa.Schema:
    """A features shard: one row per listed image, a vector or the error that replaced it."""
    import pyarrow as pa

    return pa.schema([
        ("image_id", pa.string()), ("path", pa.string()), ("space", pa.string()),
        ("vector", pa.list_(pa.float32(), dim)), ("error", pa.string()),
        *fact_fields(),
    ])


def fact_fields() -> list[tuple[str, Any]]:
    import pyarrow as pa

    types = {"format": pa.string(), "width": pa.int64(), "height": pa.int64(), "jpeg_quality": pa.float64()}
    return [(name, types[name]) for name in FACT_COLUMNS]

