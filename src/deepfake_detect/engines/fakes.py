"""make-fakes on Ray: the same aligned pairs as `fakes.make_fakes`, made by a fixed pool of
actors that each build the generators once.

The pairs themselves are the output: every actor writes its files atomically into OUT (which
every node must see). One small Parquet shard per batch records that the batch is done, so an
interrupted run resumes where it stopped and a killed actor's batch is redone by its
replacement; a redone batch only writes what is still missing (`pending_jobs` reads the disk),
so nothing is written twice. The driver plans (settings, names, weights, sample) exactly as
the local engine does and rewrites the manifest after every finished batch, as the local engine does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..fakes import FakesSummary, build_generators, make_pairs, pending_jobs, plan_fakes
from ..fakes.layout import PairSettings, pairs_on_disk, write_manifest
from . import shards
from .cluster import batch_result, plan_actors, ray_session, run_listing

FAKES_SHARDS_DIR = ".shards"
"""Below OUT: the run's listing and per-batch shards (the pairs live beside them)."""


def make_fakes_with_ray(
    reals: Any,
    out: str | Path,
    generators: Sequence[str],
    size: int = 256,
    weights: Any = None,
    *,
    image_format: str = "png",
    quality: int = 95,
    small: str = "skip",
    max_images: int | None = None,
    seed: int = 0,
    batch_size: int = 8,
    data_root: str | Path | None = None,
    address: str | None = None,
    actors: int | None = None,
    cpus_per_actor: float | None = None,
    gpus_per_actor: float | None = None,
    show_progress: bool = True,
    on_bad: Callable[[str], None] | None = None,
    on_batch: Callable[[dict[str, Any]], None] | None = None,
) -> FakesSummary:
    """`fakes.make_fakes` on a Ray cluster (or a local Ray instance); same arguments, same folder."""
    started = time.perf_counter()
    plan = plan_fakes(reals, out, generators, size, weights, image_format=image_format, quality=quality,  # type: ignore[arg-type]
                      small=small, max_images=max_images, seed=seed, data_root=data_root, on_bad=on_bad)  # type: ignore[arg-type]
    before = pairs_on_disk(plan.out, plan.settings)[2]
    if plan.jobs:
        items = [(str(path), image_id) for path, image_id in plan.sources]
        description = {"kind": "fakes", "generators": plan.names, "inputs": shards.fingerprint(items),
                       "settings": asdict(plan.settings), "batch_size": batch_size, "seed": seed}
        job_dir = plan.out / FAKES_SHARDS_DIR / _digest(description)
        shards.open_job(job_dir, description)
        listing = shards.write_listing(job_dir, items, batch_size)
        with ray_session(address):
            actor_plan = plan_actors(actors, cpus_per_actor, gpus_per_actor)
            worker_kwargs = {"job_dir": str(job_dir), "out": str(plan.out), "names": plan.names,
                             "weights": {k: (str(v) if v is not None else None) for k, v in plan.weights.items()},
                             "settings": plan.settings, "seed": seed}
            def batch_done(result: dict[str, Any]) -> None:
                # As the local engine: a manifest of the pairs on disk after every batch, so a
                # killed run leaves a usable manifest.csv, not none.
                write_manifest(plan.out, plan.settings)
                if on_batch is not None:
                    on_batch(result)

            bad = run_listing(listing, FakesShardWriter, worker_kwargs, actor_plan,
                              f"make-fakes [ray: {actor_plan.describe()}]", show_progress, batch_done, on_bad)
        plan.skipped.extend(bad)
    manifest, real_count, fake_counts = write_manifest(plan.out, plan.settings)
    made = {name: fake_counts.get(name, 0) - before.get(name, 0) for name in plan.names}
    return FakesSummary(plan.out, manifest, len(plan.sources), len(plan.sources) - len(plan.jobs), made, real_count,
                        fake_counts, plan.skipped, time.perf_counter() - started)


def _digest(description: dict[str, Any]) -> str:
    """The job's own shards folder: another sample, generator list or setting gets another one."""
    import hashlib
    import json

    return hashlib.blake2b(json.dumps(description, sort_keys=True).encode(), digest_size=8).hexdigest()


class FakesShardWriter:
    """A Ray actor: the generators, built once; each call makes one listed batch of pairs."""

    def __init__(self, job_dir: str, out: str, names: list[str], weights: dict[str, str | None],
                 settings: PairSettings, seed: int, threads: int = 1):
        import torch

        torch.set_num_threads(threads)
        self.job_dir, self.out, self.names, self.settings = Path(job_dir), Path(out), names, settings
        self.networks = build_generators(names, weights, seed)

    def __call__(self, listed: Any) -> Any:
        import pyarrow as pa

        (row,) = listed.to_pylist()
        sources = [(shards.decode_path(raw), image_id) for raw, image_id in zip(row["paths"], row["ids"])]
        jobs = pending_jobs(sources, self.out, self.names, self.settings)
        made = {name: 0 for name in self.names}
        bad: list[str] = []
        make_pairs(jobs, self.out, self.networks, self.settings, max(len(jobs), 1), made, bad.append, manifest=False)
        shards.write_shard(self.job_dir, row["batch"], pa.table({"image_id": row["ids"]}))
        return batch_result(row["batch"], len(sources) - len(bad), bad)
