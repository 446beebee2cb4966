"""Datasets: labelled image files (real = 0, fake = 1) from folders, CSV manifests or names.

A dataset is only a list of records; images are decoded lazily by whoever needs the pixels.
Loading one hashes each file once (content ids: the key of every cache and split, computed
once and kept) to find copies and pictures labelled both real and fake.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DatasetError
from .images import file_image_id, image_id, is_image_path
from .walk import walk_files

log = logging.getLogger(__name__)

REAL, FAKE = 0, 1
REAL_DIR_NAMES = frozenset({"real", "0_real", "reals", "0-real"})
FAKE_DIR_NAMES = frozenset({"fake", "1_fake", "fakes", "1-fake", "synthetic", "generated"})
DATA_ROOT_ENV = "DEEPFAKE_DETECT_DATA"
UNREADABLE_PREFIX = "unreadable-"




@dataclass(frozen=True)
class ImageRecord:
    """One labelled file. `group` ties records made from one source (a real photo and the
    fakes generated from it share a group), so splits keep them on one side."""

    path: Path
    label: int
    generator: str = ""
    group: str | None = None

    @property
    def label_name(self) -> str:
        return "fake" if self.label == FAKE else "real"


@dataclass
class Dataset:
    name: str
    records: list[ImageRecord]
    _ids: list[str] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def labels(self) -> list[int]:
        return [r.label for r in self.records]

    @property
    def ids(self) -> list[str]:
        """Content hashes, computed once: the key of every cache and every split."""
        if self._ids is None:
            self._ids = [_safe_id(r.path) for r in self.records]
        return self._ids

    @property
    def groups(self) -> list[str | None] | None:
        """Each record's group, or None when no record has one (splits then work as always)."""
        groups = [r.group for r in self.records]
        return groups if any(g is not None for g in groups) else None

    def counts(self) -> dict[str, int]:
        counts = Counter(r.label_name for r in self.records)
        return {"real": counts.get("real", 0), "fake": counts.get("fake", 0)}

    def generators(self) -> list[str]:
        return sorted({r.generator for r in self.records if r.generator})

    def check_usable(self) -> Dataset:
        """Fail before any work starts, rather than after an hour of extraction."""
        counts = self.counts()
        if not self.records:
            raise DatasetError(f"dataset '{self.name}' has no images")
        missing = [k for k, v in counts.items() if v == 0]
        if missing:
            raise DatasetError(
                f"dataset '{self.name}' has only one class ({counts}); need both real and fake "
                "images (folders named real/fake or 0_real/1_fake, or a CSV with a label column)"
            )
        return self

    def subsample(self, max_per_class: int | None, seed: int = 0) -> Dataset:
        """UniversalFakeDetect's protocol: at most N images per class, drawn with a seed."""
        if not max_per_class:
            return self
        rng = random.Random(seed)
        kept: list[int] = []
        for label in (REAL, FAKE):
            by_path = lambda row: str(self.records[row].path)  # noqa: E731
            rows = sorted((i for i, r in enumerate(self.records) if r.label == label), key=by_path)
            if len(rows) > max_per_class:
                rows = sorted(rng.sample(rows, max_per_class), key=by_path)
            kept.extend(rows)
        return self._subset(kept)

    def without_contradictions(self) -> Dataset:
        """The dataset minus pictures labelled both real and fake, with one warning for copies.

        Copies under one label are kept (splits already hold every copy on one side) and
        counted once. A picture under both labels would teach the classifier nonsense and
        score it against a coin flip, so every copy of it is left out, and the files named.
        """
        rows_by_id: dict[str, list[int]] = defaultdict(list)
        for row, content_id in enumerate(self.ids):
            if not content_id.startswith(UNREADABLE_PREFIX):
                rows_by_id[content_id].append(row)
        contradicted = [
            rows for rows in rows_by_id.values() if len({self.records[r].label for r in rows}) > 1
        ]
        copies = sum(len(rows) - 1 for rows in rows_by_id.values()) - sum(len(r) - 1 for r in contradicted)
        if copies:
            log.warning(f"dataset '{self.name}': {copies} file(s) repeat the content of another file of "
                        "the same label; each picture is kept on one side of every split")
        if not contradicted:
            return self
        log.warning(f"dataset '{self.name}': {len(contradicted)} picture(s) are labelled both real and "
                    f"fake and are left out: {_describe_clashes(self.records, contradicted)}")
        dropped = {row for rows in contradicted for row in rows}
        return self._subset([row for row in range(len(self.records)) if row not in dropped])

    def _subset(self, rows: list[int]) -> Dataset:
        """The given rows, keeping already computed content ids (hashing reads every file)."""
        ids = None if self._ids is None else [self._ids[row] for row in rows]
        return Dataset(self.name, [self.records[row] for row in rows], ids)


def _safe_id(path: Path) -> str:
    """An unreadable file still gets an id, so that extraction reports it by name later."""
    try:
        return file_image_id(path)
    except OSError:
        return UNREADABLE_PREFIX + image_id(str(path).encode())


def _describe_clashes(records: list[ImageRecord], clashes: list[list[int]], shown: int = 5) -> str:
    """`a.png = b.png; c.png = d.png ... and N more`: enough names to find the mix-up."""
    text = "; ".join(" = ".join(str(records[row].path) for row in rows) for rows in clashes[:shown])
    return text + (f"; and {len(clashes) - shown} more" if len(clashes) > shown else "")


def label_from_dir(name: str) -> int | None:
    lowered = name.lower()
    if lowered in REAL_DIR_NAMES:
        return REAL
    if lowered in FAKE_DIR_NAMES:
        return FAKE
    return None


def from_folder(root: str | Path, name: str | None = None, label: int | None = None) -> Dataset:
    """Images under `root`, labelled by the nearest real/fake-named folder above each file.

    The generator name is the first path component below `root` when a label folder sits
    deeper (`biggan/0_real/x.png` -> `biggan`); otherwise the dataset's own name. A fixed
    `label` labels every image, for the real and fake halves kept in separate trees.
    Files that do not look like images are kept when inside a label folder, so that the
    extraction step reports them by name instead of them silently vanishing.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    name = name or root.name
    records = []
    for path in walk_files(root):
        parts = path.relative_to(root).parts[:-1]
        file_label = label
        label_depth = None
        for depth in range(len(parts) - 1, -1, -1):
            found = label_from_dir(parts[depth])
            if found is not None:
                label_depth = depth
                file_label = found if label is None else label
                break
        if file_label is None:
            continue
        if label_depth is None and not is_image_path(path):
            continue
        generator = parts[0] if label_depth and label_depth > 0 else name
        records.append(ImageRecord(path, file_label, generator))
    return Dataset(name, records)


def from_csv(manifest: str | Path, name: str | None = None) -> Dataset:
    """`path,label[,generator][,group]` rows; paths relative to the manifest; labels 0/1 or
    real/fake. A `group` column ties a real image and the fakes made from it together."""
    manifest = Path(manifest)
    base = manifest.parent
    name = name or manifest.stem
    reader = csv.DictReader(io.StringIO(_read_utf8(manifest), newline=""))
    if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
        raise DatasetError(f"{manifest}: needs a header with columns path,label[,generator][,group]")
    records = []
    for line, row in enumerate(reader, start=2):
        raw = (row.get("label") or "").strip().lower()
        label = {"0": REAL, "real": REAL, "1": FAKE, "fake": FAKE}.get(raw)
        if label is None:
            raise DatasetError(f"{manifest}:{line}: label '{raw}' is not 0/1/real/fake")
        path = Path(row["path"])
        records.append(
            ImageRecord(
                path if path.is_absolute() else base / path,
                label,
                (row.get("generator") or "").strip() or name,
                (row.get("group") or "").strip() or None,
            )
        )
    return Dataset(name, records)


def _read_utf8(manifest: Path) -> str:
    """The manifest's text. Spreadsheets save UTF-8 with a byte-order mark, which is accepted;
    any other encoding is refused by name rather than misread."""
    try:
        data = manifest.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{manifest}: cannot read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{manifest}: not UTF-8 text (byte {exc.start}); save it as UTF-8 (\"CSV UTF-8\" in "
            "spreadsheet programs)"
        ) from None


@dataclass(frozen=True)
class NamedDataset:
    """Where a public test set lives below the data root, and where it comes from."""

    real: str
    fake: str
    source: str


NAMED_DATASETS: dict[str, NamedDataset] = {
    "laion_vs_ldm100": NamedDataset(
        real="diffusion_datasets/laion",
        fake="diffusion_datasets/ldm_100",
        source="UniversalFakeDetect (Ojha et al., CVPR 2023) diffusion_datasets",
    ),
    "imagenet_vs_ldm200": NamedDataset(
        real="diffusion_datasets/imagenet",
        fake="diffusion_datasets/ldm_200",
        source="UniversalFakeDetect (Ojha et al., CVPR 2023) diffusion_datasets",
    ),
    "biggan": NamedDataset(
        real="CNN_synth_testset/biggan/0_real",
        fake="CNN_synth_testset/biggan/1_fake",
        source="CNNDetection (Wang et al., CVPR 2020) test set",
    ),
}


def data_root(explicit: str | Path | None = None) -> Path | None:
    value = explicit or os.environ.get(DATA_ROOT_ENV)
    return Path(value).expanduser() if value else None


def from_named(name: str, root: str | Path | None = None) -> Dataset:
    spec = NAMED_DATASETS[name]
    base = data_root(root)
    if base is None:
        raise DatasetError(
            f"dataset '{name}' needs a data root: pass --data-root DIR or set {DATA_ROOT_ENV} "
            f"(expects DIR/{spec.real} and DIR/{spec.fake}; see the README)"
        )
    halves = []
    for label, rel in ((REAL, spec.real), (FAKE, spec.fake)):
        folder = base / rel
        if not folder.is_dir():
            raise DatasetError(f"dataset '{name}': {folder} not found (source: {spec.source})")
        halves.append(from_folder(folder, name=name, label=label))
    return Dataset(name, halves[0].records + halves[1].records)


def load_dataset(
    source: str | Path | list[str | Path],
    data_root_dir: str | Path | None = None,
    max_per_class: int | None = None,
    seed: int = 0,
    name: str | None = None,
) -> Dataset:
    """A named dataset, a folder, a CSV manifest, or a list of these combined; sampled to
    `max_per_class`, then checked once for copies and pictures labelled both ways."""
    if isinstance(source, list):
        parts = [_load_one(s, data_root_dir) for s in source]
        dataset = Dataset("+".join(p.name for p in parts), [r for p in parts for r in p.records])
    else:
        dataset = _load_one(source, data_root_dir)
    if name:
        dataset.name = name
    return dataset.subsample(max_per_class, seed).without_contradictions()


def _load_one(source: str | Path, data_root_dir: str | Path | None) -> Dataset:
    text = str(source)
    if text in NAMED_DATASETS:
        return from_named(text, data_root_dir)
    path = Path(text).expanduser()
    if path.is_dir():
        return from_folder(path)
    if path.is_file() and path.suffix.lower() == ".csv":
        return from_csv(path)
    if path.exists():
        raise DatasetError(f"{path}: expected a folder or a .csv manifest")
    raise DatasetError(
        f"{text}: no such folder or file, and not a named dataset (named: {', '.join(NAMED_DATASETS)})"
    )
