"""Datasets: labelled image files (real = 0, fake = 1) from folders, CSV manifests or names.

A dataset is only a list of records; images are opened lazily by whoever needs the pixels,
so listing 100,000 files costs a directory walk, not 100,000 decodes.
"""

from __future__ import annotations

from ..errors import DatasetError

import csv
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .images import file_image_id, image_id, is_image_path

REAL, FAKE = 0, 1
REAL_DIR_NAMES = frozenset({"real", "0_real", "reals", "0-real"})
FAKE_DIR_NAMES = frozenset({"fake", "1_fake", "fakes", "1-fake", "synthetic", "generated"})
DATA_ROOT_ENV = "DEEPFAKE_DETECT_DATA"




@dataclass(frozen=True)
class ImageRecord:
    path: Path
    label: int
    generator: str = ""

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
        kept: list[ImageRecord] = []
        for label in (REAL, FAKE):
            group = sorted((r for r in self.records if r.label == label), key=lambda r: str(r.path))
            if len(group) > max_per_class:
                group = sorted(rng.sample(group, max_per_class), key=lambda r: str(r.path))
            kept.extend(group)
        return Dataset(self.name, kept)


def _safe_id(path: Path) -> str:
    """An unreadable file still gets an id, so that extraction reports it by name later."""
    try:
        return file_image_id(path)
    except OSError:
        return "unreadable-" + image_id(str(path).encode())


def label_from_dir(name: str) -> int | None:
    lowered = name.lower()
    if lowered in REAL_DIR_NAMES:
        return REAL
    if lowered in FAKE_DIR_NAMES:
        return FAKE
    return None


def _walk_images(root: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return found


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
    for path in _walk_images(root):
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
    """`path,label[,generator]` rows; paths relative to the manifest; labels 0/1 or real/fake."""
    manifest = Path(manifest)
    base = manifest.parent
    records = []
    with manifest.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
            raise DatasetError(f"{manifest}: needs a header with columns path,label[,generator]")
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
                    (row.get("generator") or "").strip() or (name or manifest.stem),
                )
            )
    return Dataset(name or manifest.stem, records)


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
    """A named dataset, a folder, a CSV manifest, or a list of these combined."""
    if isinstance(source, list):
        parts = [load_dataset(s, data_root_dir) for s in source]
        merged = Dataset(name or "+".join(p.name for p in parts), [r for p in parts for r in p.records])
        return merged.subsample(max_per_class, seed)
    text = str(source)
    if text in NAMED_DATASETS:
        dataset = from_named(text, data_root_dir)
    else:
        path = Path(text).expanduser()
        if path.is_dir():
            dataset = from_folder(path)
        elif path.is_file() and path.suffix.lower() == ".csv":
            dataset = from_csv(path)
        elif path.exists():
            raise DatasetError(f"{path}: expected a folder or a .csv manifest")
        else:
            raise DatasetError(
                f"{text}: no such folder or file, and not a named dataset "
                f"(named: {', '.join(NAMED_DATASETS)})"
            )
    if name:
        dataset.name = name
    return dataset.subsample(max_per_class, seed)
