"""The detector folder: the one module that writes and reads it, for every kind of detector.

A detector folder holds `manifest.json` and the model files it lists, each with its sha256.
On load, nothing is trusted before it is checked:

- the manifest is validated against one pydantic schema (format name and version, a known
  kind, a known backbone, one `preprocess` block, a finite threshold in [0, 1], plain file
  names with sha256 digests) plus the kind's own schema; every problem is reported on one line;
- each listed file is opened with O_NOFOLLOW inside the folder, must be a regular file below
  `MAX_FILE_BYTES` (checked on the open descriptor, so a FIFO, a device or a link out of the
  folder is refused at once), and its bytes must match the manifest's sha256;
- only those verified bytes are handed to the kind's loader, so no file can be swapped
  between checking and parsing.

Writing validates the manifest with the same schema (an unloadable folder is never written),
writes everything into a staging sibling and renames it into place.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import shutil
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import DetectorError
from ..runtime import atomic_write_bytes, json_safe
from .kinds import known_file_names, list_kinds, model_kind
from .manifest import MANIFEST_FILE, Manifest, plain_file_name
from .kinds.base import ModelKind
FORMAT_NAME = "deepfake_detect.detector"
FORMAT_VERSION = 1
"""Bump when a folder written now could not be read by older code; load refuses other versions."""
MAX_FILE_BYTES = 2 * 1024**3
"""The largest model file accepted (ViT-B weights are ~350 MB)."""
MAX_MANIFEST_BYTES = 4 * 1024**2


@dataclass(frozen=True)
class DetectorFolder:
    """A verified folder: the manifest (as given and validated), the kind's section, the bytes."""

    path: Path
    raw: dict[str, Any]
    manifest: Manifest
    section: BaseModel
    kind: ModelKind
    files: Mapping[str, bytes]


# --- reading -------------------------------------------------------------------------------------


def read_detector_folder(path: str | Path) -> DetectorFolder:
    """Validate the manifest, then read and verify every listed file; `DetectorError` otherwise."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DetectorError(f"{folder}: not a folder (a detector is a folder holding {MANIFEST_FILE})")
    if not (folder / MANIFEST_FILE).exists():
        raise DetectorError(f"{folder / MANIFEST_FILE} not found: {folder} is not a detector folder")
    raw = _parse_manifest(read_member(folder, MANIFEST_FILE, MAX_MANIFEST_BYTES), folder / MANIFEST_FILE)
    manifest, section, kind = validate_manifest(raw, folder / MANIFEST_FILE)
    files = {name: _verified(folder, name, digest) for name, digest in manifest.files.items()}
    return DetectorFolder(folder, raw, manifest, section, kind, files)


def read_member(folder: Path, name: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file directly inside `folder`, never following a link.

    O_NONBLOCK makes opening a FIFO return at once (it is then refused by the fstat check)
    instead of waiting forever for a writer.
    """
    path = folder / _checked_name(name, folder)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DetectorError(f"{path}: is a symbolic link; a detector's files must be regular files in its folder") from None
        raise DetectorError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DetectorError(f"{path}: not a regular file; refusing to read it")
        if info.st_size > max_bytes:
            raise DetectorError(f"{path}: {info.st_size} bytes, more than the {max_bytes} bytes a detector file may have")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise DetectorError(f"{path}: grew beyond {max_bytes} bytes while being read")
    return data


def _checked_name(name: str, folder: Path) -> str:
    try:
        return plain_file_name(name) if name != MANIFEST_FILE else name
    except ValueError as exc:
        raise DetectorError(f"{folder / MANIFEST_FILE}: file '{name}' {exc}") from None


def _verified(folder: Path, name: str, digest: str) -> bytes:
    data = read_member(folder, name)
    if hashlib.sha256(data).hexdigest() != digest:
        raise DetectorError(
            f"{folder / name}: sha256 does not match the manifest (the file was changed or replaced after "
            "the detector was saved); refusing to load it"
        )
    return data


def _parse_manifest(data: bytes, path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DetectorError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise DetectorError(f"{path}: expected a JSON object")
    return raw


def validate_manifest(raw: dict[str, Any], where: str | Path = MANIFEST_FILE) -> tuple[Manifest, BaseModel, ModelKind]:
    """(common manifest, kind section, kind) or one `DetectorError` line naming every problem."""
    _check_format(raw, where)
    problems: list[str] = []
    manifest = _validated(Manifest, raw, problems)
    kind = model_kind(raw["kind"]) if raw.get("kind") in list_kinds() else None
    if kind is None and isinstance(raw.get("kind"), str):
        problems.append(f"kind: unknown detector kind '{raw['kind']}'; choose from: {', '.join(list_kinds())}")
    section = _validated(kind.schema, raw, problems) if kind else None
    if manifest is not None and kind is not None and section is not None:
        required = kind.required_files(manifest, section) + ([manifest.onnx.file] if manifest.onnx else [])
        problems += [f"files: lists no sha256 for {name}" for name in required if name not in manifest.files]
    if problems or manifest is None or kind is None or section is None:
        raise DetectorError(f"{where}: " + "; ".join(problems))
    return manifest, section, kind


def _check_format(raw: dict[str, Any], where: str | Path) -> None:
    """A foreign or newer folder is one clear line, not a list of schema differences."""
    if raw.get("format") != FORMAT_NAME:
        hint = ""
        if raw.get("format") is None and raw.get("kind") == "finetune":
            hint = "; a fine-tuned detector saved by an older version: run `finetune ... --resume` on its run folder to re-export it"
        raise DetectorError(
            f"{where}: not a deepfake_detect detector manifest (format {raw.get('format')!r}, expected '{FORMAT_NAME}'){hint}"
        )
    version = raw.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:  # `true` and `1.0` equal 1 in Python, not here
        newer = isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION
        hint = "upgrade deepfake_detect to load it" if newer else "re-create the detector with this version"
        raise DetectorError(f"{where}: format_version {version!r}, but this version of deepfake_detect reads {FORMAT_VERSION}; {hint}")


def _validated(schema: type[BaseModel], raw: dict[str, Any], problems: list[str]) -> Any:
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_problem(error) for error in exc.errors())
        return None


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"] if part != "[key]") or "manifest"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return f"{where}: missing"
    return f"{where}: {message} (got {_short(error.get('input'))})"


def _short(value: Any) -> str:
    text = "NaN" if isinstance(value, float) and math.isnan(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- writing -------------------------------------------------------------------------------------


def write_detector_folder(path: str | Path, manifest: dict[str, Any], files: Mapping[str, bytes]) -> Path:
    """Write `files` and the manifest (with format, version and sha256 of each file) as `path`.

    The manifest is validated first with the schema `read_detector_folder` uses. Everything is
    written into a staging sibling and renamed into place at the end, so an interrupted save
    never leaves a folder that looks like a detector but is not one. An existing detector at
    `path` is replaced; a folder holding anything else is refused.
    """
    folder = Path(path).expanduser()
    complete = {
        **manifest,
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    complete = json_safe(complete)
    validate_manifest(complete, f"cannot save {folder}")
    _check_replaceable(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.saving-{os.getpid()}"
    if staging.exists():  # left by an interrupted save of this very process id
        shutil.rmtree(staging)
    staging.mkdir()  # not mkdtemp: the folder gets the usual permissions, not 0700
    for name, data in files.items():
        atomic_write_bytes(staging / name, data)
    atomic_write_bytes(staging / MANIFEST_FILE, (json.dumps(complete, indent=2) + "\n").encode("utf-8"))
    _swap_into_place(staging, folder)
    return folder


def _check_replaceable(folder: Path) -> None:
    """Only an empty folder or a detector (its manifest and model files) may be replaced."""
    if not folder.exists():
        return
    if not folder.is_dir() or folder.is_symlink():
        raise DetectorError(f"{folder}: exists and is not a folder")
    names = {p.name for p in folder.iterdir()}
    others = sorted(names - known_file_names() - {MANIFEST_FILE})
    if others:
        raise DetectorError(f"{folder}: exists and holds other files ({', '.join(others[:3])}); choose another folder")
    if names and MANIFEST_FILE not in names:
        raise DetectorError(f"{folder}: exists and is not a detector folder (no {MANIFEST_FILE}); choose another folder")


def _swap_into_place(staging: Path, folder: Path) -> None:
    if not folder.exists():
        os.replace(staging, folder)
        return
    retired = folder.parent / f".{folder.name}.replaced-{os.getpid()}"
    if retired.exists():
        shutil.rmtree(retired)
    os.replace(folder, retired)
    os.replace(staging, folder)
    shutil.rmtree(retired)
