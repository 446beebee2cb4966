"""The aligned-pairs folder: where each file goes, the settings that must not change between
runs into one folder, and the CSV manifest that makes the folder a dataset.

    OUT/real/<id>.png              the centre crop of a real image (id: its source's content hash)
    OUT/fake/<generator>/<id>.png  that crop redrawn by the generator, same size and encoding
    OUT/manifest.csv               path,label,generator,group (group = id: a real and its fakes)
    OUT/fakes.json                 size, encoding, crop policy, generator weights, versions
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from ..data.images import FORMAT_SUFFIXES
from ..errors import OutputError
from ..runtime import atomic_write_text, json_safe, versions

MANIFEST = "manifest.csv"
SETTINGS = "fakes.json"
MANIFEST_COLUMNS = ("path", "label", "generator", "group")
PairFormat = Literal["png", "jpeg"]
"""How pairs are encoded: lossless, or JPEG for both classes alike (a subset of `data.images.ImageFormat`)."""
SmallPolicy = Literal["skip", "resize"]


@dataclass(frozen=True)
class PairSettings:
    """Everything that decides the pixels and bytes of a pair; fixed for the life of a folder."""

    size: int
    image_format: PairFormat
    quality: int | None
    small: SmallPolicy

    @property
    def suffix(self) -> str:
        return FORMAT_SUFFIXES[self.image_format]


def real_path(out: Path, image_id: str, settings: PairSettings) -> Path:
    return out / "real" / f"{image_id}{settings.suffix}"


def fake_path(out: Path, generator: str, image_id: str, settings: PairSettings) -> Path:
    return out / "fake" / generator / f"{image_id}{settings.suffix}"


def check_settings(out: Path, settings: PairSettings, weights: dict[str, str]) -> None:
    """Refuse to mix pairs made differently in one folder; record these settings otherwise.

    `weights` maps each generator of this run to its weights id: a generator already in the
    folder must come with the same weights, new generators are added.
    """
    path = out / SETTINGS
    recorded_weights: dict[str, str] = {}
    if path.is_file():
        try:
            recorded = json.loads(path.read_text())
            recorded_weights = dict(recorded.get("generators", {}))
            previous = PairSettings(**{k: recorded[k] for k in asdict(settings)})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise OutputError(f"{path}: unreadable ({exc}); remove it or choose another output folder") from None
        if previous != settings:
            raise OutputError(
                f"{out} holds pairs made with {_describe(previous)}; this run asks for {_describe(settings)}. "
                "Use another output folder"
            )
        for name, weights_id in weights.items():
            if recorded_weights.get(name, weights_id) != weights_id:
                raise OutputError(
                    f"{out}: the '{name}' fakes there were made with other weights "
                    f"({recorded_weights[name]}, now {weights_id}); use another output folder"
                )
    record = {**asdict(settings), "generators": {**recorded_weights, **weights}, "versions": versions()}
    try:
        atomic_write_text(path, json.dumps(json_safe(record), indent=2) + "\n")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None


def pairs_on_disk(out: Path, settings: PairSettings) -> tuple[list[tuple[str, str, str, str]], list[str], dict[str, int]]:
    """Every finished pair in the folder: manifest rows, the reals' ids and fakes per generator.

    Read from the files on disk, so it is right after any mix of interrupted and resumed runs;
    a fake counts only beside its real.
    """
    reals = sorted(p.stem for p in (out / "real").glob(f"*{settings.suffix}"))
    present = set(reals)
    rows = [(f"real/{i}{settings.suffix}", "real", "", i) for i in reals]
    counts: dict[str, int] = {}
    fake_root = out / "fake"
    generators = sorted(p.name for p in fake_root.iterdir() if p.is_dir()) if fake_root.is_dir() else []
    for generator in generators:
        ids = sorted(p.stem for p in (fake_root / generator).glob(f"*{settings.suffix}") if p.stem in present)
        counts[generator] = len(ids)
        rows.extend((f"fake/{generator}/{i}{settings.suffix}", "fake", generator, i) for i in ids)
    return rows, reals, counts


def write_manifest(out: Path, settings: PairSettings) -> tuple[Path, int, dict[str, int]]:
    """List every finished pair in the folder (reals without a generator, since all the
    generators share them). Returns the manifest, the real count and fakes per generator."""
    rows, reals, counts = pairs_on_disk(out, settings)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    writer.writerows(rows)
    path = atomic_write_text(out / MANIFEST, buffer.getvalue())
    return path, len(reals), counts


def _describe(settings: PairSettings) -> str:
    quality = f" quality {settings.quality}" if settings.quality is not None else ""
    return f"{settings.size} px {settings.image_format}{quality}, small images: {settings.small}"
