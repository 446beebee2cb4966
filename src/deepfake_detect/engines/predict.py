"""Scoring with a saved detector on Ray: the local `Detector.predict_paths`, in a pool of
actors that each load the detector once, writing one Parquet shard per batch.

The shards are the output (path, image id, detector id, probability, verdict or error, and
the file's format, size and JPEG quality for a shortcut audit); `read_predictions` streams
them back in input order as the `Prediction`s the local engine yields, so `predict` prints
the same rows whichever engine ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.images import DEFAULT_MAX_PIXELS, file_image_id
from ..detector.detector import Detector, Prediction
from ..detector.folder import MANIFEST_FILE
from ..errors import DetectorError
from ..runtime import sha256_of
from . import shards
from .cluster import batch_result, plan_actors, ray_session, run_listing
from .extract import fact_fields
from .facts import file_facts

if TYPE_CHECKING:
    import pyarrow as pa

def detector_id(folder: str | Path) -> str:
    """The detector's identity: a hash of its manifest, which lists the sha256 of every file."""
    path = Path(folder) / MANIFEST_FILE
    try:
        return sha256_of(path)[:20]
    except OSError as exc:
        raise DetectorError(f"{path}: cannot read ({exc.strerror or exc})") from None


@dataclass(frozen=True)
class ScoringJob:
    """A finished (or resumed-and-finished) scoring run: where its shards are, and counts."""

    job_dir: Path
    batches: int
    batch_size: int
    scored: int
    bad: list[str]
    seconds: float

    def predictions(self) -> Iterator[Prediction]:
        """Every input's `Prediction`, in input order, one shard in memory at a time."""
        return read_predictions(self.job_dir, self.batches)


def predict_with_ray(
    detector_dir: str | Path,
    paths: Iterable[str | Path],
    shards_dir: str | Path,
    *,
    batch_size: int = 32,
    address: str | None = None,
    actors: int | None = None,
    cpus_per_actor: float | None = None,
    gpus_per_actor: float | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    show_progress: bool = True,
    on_bad: Callable[[str], None] | None = None,
    on_batch: Callable[[dict[str, Any]], None] | None = None,
) -> ScoringJob:
    """Score every path with the detector in `detector_dir` on Ray, into Parquet shards in
    `shards_dir` (kept: they are the output; visible from every node). A run interrupted
    earlier resumes: batches whose shard exists are not scored again. `paths` is streamed
    into the listing, never held whole."""
    Detector.load(detector_dir, device="cpu")  # a broken folder fails here, in one line, before Ray starts
    identity = detector_id(detector_dir)
    started = time.perf_counter()
    job_dir = Path(shards_dir)
    listing = shards.write_listing(job_dir, ((path, None) for path in paths), batch_size)
    shards.open_job(job_dir, {"kind": "scores", "detector": identity, "batch_size": batch_size,
                              "inputs": listing.fingerprint, "images": listing.total_items})
    with ray_session(address):
        plan = plan_actors(actors, cpus_per_actor, gpus_per_actor)
        worker_kwargs = {"job_dir": str(job_dir), "detector_dir": str(Path(detector_dir).resolve()),
                         "expected_id": identity, "max_pixels": max_pixels, "batch_size": batch_size}
        bad = run_listing(listing, ScoreShardWriter, worker_kwargs, plan, f"predict [ray: {plan.describe()}]",
                          show_progress, on_batch, on_bad)
    return ScoringJob(job_dir, listing.total_batches, batch_size, listing.todo_items - len(bad), bad,
                      time.perf_counter() - started)


def read_predictions(job_dir: str | Path, batches: int) -> Iterator[Prediction]:
    columns = ["index", "path", "probability", "verdict", "error", "note", "evidence"]
    for table in shards.read_shards(Path(job_dir), batches, columns):
        for row in table.to_pylist():
            yield Prediction(row["index"], row["path"], row["probability"], row["verdict"], row["error"], row["note"],
                             evidence=row["evidence"])


class ScoreShardWriter:
    """A Ray actor: one detector, loaded (and verified) once; each call scores one batch."""

    def __init__(self, job_dir: str, detector_dir: str, expected_id: str, max_pixels: int | None,
                 batch_size: int, threads: int = 1):
        import torch

        torch.set_num_threads(threads)
        self.job_dir = Path(job_dir)
        self.identity = detector_id(detector_dir)
        if self.identity != expected_id:
            raise DetectorError(f"{detector_dir}: differs on this node from the driver's detector; use one shared folder")
        self.detector = Detector.load(detector_dir, threads=threads)
        self.max_pixels, self.batch_size = max_pixels, batch_size

    def __call__(self, listed: pa.Table) -> pa.Table:
        (row,) = listed.to_pylist()
        paths = [shards.decode_path(raw) for raw in row["paths"]]
        first = row["batch"] * self.batch_size
        predictions = self.detector.predict_paths(paths, batch_size=len(paths), workers=0, max_pixels=self.max_pixels)
        rows = [self._row(first, prediction, paths[prediction.index]) for prediction in predictions]
        shards.write_shard(self.job_dir, row["batch"], _table(rows))
        bad = [f"{row['path']}: {row['error']}" for row in rows if row["error"] is not None]
        return batch_result(row["batch"], len(rows) - len(bad), bad)

    def _row(self, first: int, prediction: Prediction, path: Path) -> dict[str, Any]:
        try:
            image_id = file_image_id(path)
        except OSError:
            image_id = None
        return {
            "index": first + prediction.index,
            "path": shards.arrow_text(str(path)),
            "image_id": image_id,
            "detector": self.identity,
            "probability": prediction.probability,
            "verdict": prediction.verdict,
            "error": None if prediction.error is None else shards.arrow_text(prediction.error),
            "note": prediction.note,
            "evidence": prediction.evidence,
            **file_facts(path),
        }


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    import pyarrow as pa

    schema = pa.schema([
        ("index", pa.int64()), ("path", pa.string()), ("image_id", pa.string()), ("detector", pa.string()),
        ("probability", pa.float64()), ("verdict", pa.string()), ("error", pa.string()),
        ("note", pa.string()), ("evidence", pa.string()), *fact_fields(),
    ])
    return pa.Table.from_pylist(rows, schema)

