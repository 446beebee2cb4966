"""The on-disk side of a scaled-out run: the job folder, its listing and its Parquet shards.

    JOB/job.json                  what the shards hold (feature space or detector, batch size,
                                  a fingerprint of the inputs): a resumed run must match it
    JOB/listing/part-NNNNN.parquet  the batches still to do (batch index, paths[, image ids]),
                                  rewritten by every run; the cluster reads it in a stream
    JOB/shard-NNNNNNNN.parquet    one per finished batch, written atomically by the worker

A batch is a deterministic slice of the input (batch i = items [i*B, (i+1)*B)), so a shard's
name says which images it holds: a run that was interrupted, or a batch retried after its
worker died, rewrites the same file with the same rows, and nothing is lost or duplicated.
A batch whose shard exists is never redone. The job folder must be visible to every node
(a shared file system) when the run spans several machines.

Pure pyarrow, no Ray: the driver and the workers both use it, and tests can read shards.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OutputError
from ..runtime import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    import pyarrow as pa

JOB_FILE = "job.json"
LISTING_DIR = "listing"
BATCHES_PER_LISTING_PART = 1024
"""Listing rows (batches) per Parquet part: the driver holds one part at a time."""


def shard_name(batch: int) -> str:
    return f"shard-{batch:08d}.parquet"


def shard_path(job_dir: Path, batch: int) -> Path:
    return Path(job_dir) / shard_name(batch)


def arrow_text(text: str) -> str:
    """`text` as valid UTF-8 for Arrow: a file name that is not UTF-8 keeps its undecodable
    bytes as visible backslash escapes instead of failing the whole batch."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def encode_path(path: str | Path) -> bytes:
    """A path as the bytes the file system knows it by (exact, even when not UTF-8)."""
    return os.fsencode(path)


def decode_path(raw: bytes) -> Path:
    return Path(os.fsdecode(raw))


@dataclass(frozen=True)
class JobListing:
    """What the driver wrote for this run: batches in total, and those still to do."""

    total_batches: int
    total_items: int
    todo_batches: int
    todo_items: int
    listing_dir: Path
    fingerprint: str
    """`fingerprint(items)` of everything listed, done or not."""


def fingerprint(items: Iterable[tuple[str | Path, str | None]]) -> str:
    """A hash of (path, image id) in order: the same input list gives the same batches."""
    digest = hashlib.blake2b(digest_size=16)
    for path, image_id in items:
        _digest_item(digest, path, image_id)
    return digest.hexdigest()


def _digest_item(digest: Any, path: str | Path, image_id: str | None) -> None:
    digest.update(encode_path(path) + b"\0" + (image_id or "").encode() + b"\n")


def open_job(job_dir: Path, description: dict[str, Any]) -> None:
    """Create `job_dir` for `description`, or check that the shards already there were made
    for exactly this job (a different one would mix features of other inputs or models)."""
    job_dir = Path(job_dir)
    path = job_dir / JOB_FILE
    if path.is_file():
        try:
            recorded = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise OutputError(f"{path}: unreadable ({exc}); remove the folder or choose another") from None
        if recorded != description:
            changed = sorted(k for k in {*recorded, *description} if recorded.get(k) != description.get(k))
            raise OutputError(
                f"{job_dir} holds shards of another job (differs in {', '.join(changed)}); "
                "choose another shards folder or remove it"
            )
        return
    try:
        job_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(description, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise OutputError(f"{job_dir}: cannot write ({exc.strerror or exc})") from None


def write_listing(
    job_dir: Path, items: Iterable[tuple[str | Path, str | None]], batch_size: int
) -> JobListing:
    """Cut `items` (path, image id or None) into batches and list those without a shard.

    Streams: one listing part of at most `BATCHES_PER_LISTING_PART` batches is in memory at a
    time, however long `items` is.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    listing_dir = Path(job_dir) / LISTING_DIR
    shutil.rmtree(listing_dir, ignore_errors=True)
    listing_dir.mkdir(parents=True)
    schema = pa.schema([("batch", pa.int64()), ("paths", pa.list_(pa.binary())), ("ids", pa.list_(pa.string()))])
    rows: list[dict[str, Any]] = []
    digest = hashlib.blake2b(digest_size=16)
    parts = total_items = todo_items = todo_batches = 0

    def flush() -> None:
        nonlocal parts, rows
        if rows:
            pq.write_table(pa.Table.from_pylist(rows, schema), listing_dir / f"part-{parts:05d}.parquet")
            parts, rows = parts + 1, []

    batch_index = 0
    for batch in _batched(items, batch_size):
        total_items += len(batch)
        for path, image_id in batch:
            _digest_item(digest, path, image_id)
        if not shard_path(job_dir, batch_index).exists():
            rows.append({"batch": batch_index, "paths": [encode_path(p) for p, _ in batch], "ids": [i for _, i in batch]})
            todo_batches += 1
            todo_items += len(batch)
            if len(rows) >= BATCHES_PER_LISTING_PART:
                flush()
        batch_index += 1
    flush()
    return JobListing(batch_index, total_items, todo_batches, todo_items, listing_dir, digest.hexdigest())


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_shard(job_dir: Path, batch: int, table: pa.Table) -> Path:
    """Write one batch's rows atomically: readers see the whole shard or none of it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return atomic_write_bytes(shard_path(job_dir, batch), sink.getvalue().to_pybytes())


def read_shards(job_dir: Path, batches: int, columns: Sequence[str] | None = None) -> Iterator[pa.Table]:
    """Shards 0 .. batches-1 in order, one at a time; a missing one is an error (the run is
    incomplete)."""
    import pyarrow.parquet as pq

    for batch in range(batches):
        path = shard_path(job_dir, batch)
        if not path.is_file():
            raise OutputError(f"{path}: missing; the run did not finish (run it again to resume)")
        yield pq.read_table(path, columns=list(columns) if columns else None)
