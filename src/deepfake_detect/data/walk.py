"""The one folder walker: every file below a root, each real directory visited once.

Dataset folders are often assembled with symlinks (a shared `real/` linked into several
sets), so links to directories are followed, but a directory reached twice (a loop, or two
links to one place) is walked only the first time: a symlink loop once turned 15 images into
616 records. Hidden entries (`.DS_Store`, `.ipynb_checkpoints`, `.git`) are skipped, and the
order is sorted, so the same folder always yields the same list.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import UserError
from .images import is_image_path

log = logging.getLogger(__name__)


def walk_files(root: Path) -> Iterator[Path]:
    """Every non-hidden file below `root`, sorted by path components (depth first).

    Paths keep the spelling under `root` (a file reached through a link is yielded under the
    link's path). Directories that cannot be listed are skipped with a warning naming them.
    """
    yield from _walk(Path(root), seen=set())


def _walk(folder: Path, seen: set[tuple[int, int]]) -> Iterator[Path]:
    try:
        real = os.stat(folder)  # follows links: the identity of the directory itself
        if (real.st_dev, real.st_ino) in seen:
            return
        seen.add((real.st_dev, real.st_ino))
        with os.scandir(folder) as listing:
            entries = sorted((e for e in listing if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as exc:
        log.warning(f"{folder}: cannot list folder ({exc.strerror or exc}); skipped")
        return
    for entry in entries:
        path = folder / entry.name
        if _is_dir(entry):
            yield from _walk(path, seen)
        else:
            yield path


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows links; a dangling link is a file (reported later)
    except OSError:
        return False


def image_files(folder: str | Path) -> list[Path]:
    """The images below `folder` (recursively, sorted), or one image file itself: a folder of
    one class, as `adapt --fakes` and `calibrate --reals` take."""
    root = Path(folder).expanduser()
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise UserError(f"{root}: not found (give a folder of images)")
    return sorted(p for p in walk_files(root) if is_image_path(p))
