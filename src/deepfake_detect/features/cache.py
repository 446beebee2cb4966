"""The feature cache: one SQLite file, vectors keyed by (feature space, image id).

A "feature space" is everything that changes a vector: backbone, weights, transformation and
its parameters, preprocessing. SQLite gives what the cache must promise for free: every batch
is one transaction (an interrupted run loses at most the batch in flight), several processes
may read and write at once (WAL mode, busy timeout), and the format is standard and documented
(`sqlite3 features.sqlite '.schema'`). Vectors are stored as little-endian float32 bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from platformdirs import user_cache_dir

CACHE_ENV = "DEEPFAKE_DETECT_CACHE"
SCHEMA = """
CREATE TABLE IF NOT EXISTS spaces (
    space TEXT PRIMARY KEY,      -- short hash of the description
    description TEXT NOT NULL,   -- JSON: backbone, weights id, transform, preprocessing[, degradation]
    dim INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS features (
    space TEXT NOT NULL,
    image_id TEXT NOT NULL,      -- content hash of the image file
    vector BLOB NOT NULL,        -- dim little-endian float32 values
    PRIMARY KEY (space, image_id)
) WITHOUT ROWID;
"""


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or user_cache_dir("deepfake_detect")).expanduser()


@dataclass(frozen=True)
class FeatureSpace:
    """Everything that changes a vector; `key` hashes it. A test-time degradation is recorded
    only when there is one, so undegraded spaces keep the keys they always had."""

    backbone: str
    weights_id: str
    transform: str
    preprocess: str
    dim: int
    degradation: str = "none"

    def description(self) -> dict[str, str]:
        description = {
            "backbone": self.backbone,
            "weights": self.weights_id,
            "transform": self.transform,
            "preprocess": self.preprocess,
        }
        if self.degradation != "none":
            description["degradation"] = self.degradation
        return description

    @property
    def key(self) -> str:
        text = json.dumps(self.description(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:20]


class FeatureCache:
    """Open with a folder; the database file is `features.sqlite` inside it."""

    FILENAME = "features.sqlite"

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory).expanduser() if directory else default_cache_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / self.FILENAME
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def register(self, space: FeatureSpace) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO spaces VALUES (?, ?, ?)",
            (space.key, json.dumps(space.description(), sort_keys=True), space.dim),
        )

    def missing(self, space: FeatureSpace, image_ids: Iterable[str]) -> set[str]:
        wanted = set(image_ids)
        return wanted - {image_id for image_id, _ in self._select(space, list(wanted), "image_id, NULL")}

    def _select(self, space: FeatureSpace, ids: list[str], columns: str) -> Iterator[tuple]:
        for start in range(0, len(ids), 900):  # SQLite's bound-parameter limit
            chunk = ids[start : start + 900]
            marks = ",".join("?" * len(chunk))
            yield from self._db.execute(
                f"SELECT {columns} FROM features WHERE space = ? AND image_id IN ({marks})",
                (space.key, *chunk),
            )

    def put(self, space: FeatureSpace, image_ids: Sequence[str], vectors: np.ndarray) -> None:
        """Store one batch in one transaction."""
        vectors = np.ascontiguousarray(vectors, dtype="<f4")
        if vectors.shape != (len(image_ids), space.dim):
            raise ValueError(f"expected {(len(image_ids), space.dim)} vectors, got {vectors.shape}")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR REPLACE INTO features VALUES (?, ?, ?)",
                ((space.key, i, v.tobytes()) for i, v in zip(image_ids, vectors)),
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def get(self, space: FeatureSpace, image_ids: Sequence[str]) -> np.ndarray:
        """Vectors in the order asked (repeats allowed); every id must be present."""
        unique = list(dict.fromkeys(image_ids))
        found = {i: np.frombuffer(blob, dtype="<f4") for i, blob in self._select(space, unique, "image_id, vector")}
        missing = [i for i in unique if i not in found]
        if missing:
            raise KeyError(f"{len(missing)} images have no cached features in this space (e.g. {missing[:3]})")
        if not image_ids:
            return np.empty((0, space.dim), dtype=np.float32)
        return np.stack([found[i] for i in image_ids])

    def count(self, space: FeatureSpace) -> int:
        return self._db.execute("SELECT COUNT(*) FROM features WHERE space = ?", (space.key,)).fetchone()[0]
