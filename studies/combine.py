"""Join make-fakes folders into one training manifest, groups kept whole.

    python studies/combine.py OUT.csv FOLDER [FOLDER ...] [--generators a,b,...] [--complete]

Each FOLDER is a make-fakes output (FOLDER/manifest.csv) or a manifest CSV. Folders made from the same reals
with the same --size and --seed share groups (a group is the real image's content id), so
generators run in separate folders (e.g. the cheap drawn decoders beside the slow
autoencoders) join into the same groups. `--generators` keeps only those fakes;
`--complete` keeps only groups that have every kept generator (a partly finished run's last
batch is left out). Paths are written absolute; the file is what `finetune --paired` reads.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def read_rows(source: Path) -> list[dict[str, str]]:
    """A make-fakes folder's manifest, or a manifest file (e.g. one this script wrote)."""
    manifest = source if source.suffix == ".csv" else source / "manifest.csv"
    folder = manifest.parent
    with manifest.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["path"] = str((folder / row["path"]).resolve())
    return rows


def combine(folders: list[Path], generators: set[str] | None, complete: bool) -> list[dict[str, str]]:
    reals: dict[str, dict[str, str]] = {}
    fakes: dict[str, dict[str, dict[str, str]]] = {}
    for folder in folders:
        for row in read_rows(folder):
            if row["label"] in ("real", "0"):
                reals.setdefault(row["group"], row)
            elif generators is None or row["generator"] in generators:
                fakes.setdefault(row["group"], {}).setdefault(row["generator"], row)
    wanted = generators or {g for members in fakes.values() for g in members}
    rows = []
    for group, real in reals.items():
        members = fakes.get(group, {})
        if not members or (complete and set(members) != wanted):
            continue
        rows += [real, *members.values()]
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--generators", default=None, help="comma-separated; default: every one")
    parser.add_argument("--complete", action="store_true")
    args = parser.parse_args(argv)
    generators = set(args.generators.split(",")) if args.generators else None
    rows = combine(args.folders, generators, args.complete)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "generator", "group"])
        writer.writeheader()
        writer.writerows(rows)
    groups = {row["group"] for row in rows}
    print(f"{args.out}: {len(groups)} groups, {len(rows) - len(groups)} fakes")


if __name__ == "__main__":
    main()
