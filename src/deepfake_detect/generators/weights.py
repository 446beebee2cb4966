"""Where a generator's weights files come from: a path, an environment variable, the
download cache, or the official URL (in that order), and nothing downloaded twice.

The official TAESD repository publishes `.pth` files; ComfyUI vendors the same weights as
`.safetensors`. Either is accepted wherever a file is looked for. A generator of one file (the
full VAEs, whose published file is `diffusion_pytorch_model.safetensors` for every family) takes
that file under any name.
"""

from __future__ import annotations

import os
import urllib.error
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse
from typing import TYPE_CHECKING

from ..backbones.download import download_file, hub_checkpoints
from ..backbones.registry import read_state_dict
from ..errors import WeightsError
from ..runtime import sha256_of
from .info import GeneratorInfo, WeightsArg

if TYPE_CHECKING:
    from torch import nn

WEIGHT_SUFFIXES = (".safetensors", ".pth")


def resolve_weights(info: GeneratorInfo, weights: WeightsArg) -> dict[str, Path]:
    """Each weights stem of `info` mapped to a local file, downloading only as a last resort."""
    if weights is not None:
        return _from_path(info, Path(weights).expanduser())
    folder = os.environ.get(info.weights_env or "")
    if folder:
        return _from_path(info, Path(folder).expanduser(), source=f"${info.weights_env}")
    cache = download_dir(info)
    return {stem: _find(cache, stem) or download(info, stem, cache) for stem in info.weights_files}


def download_dir(info: GeneratorInfo) -> Path:
    """The torch hub cache (`$TORCH_HOME/hub/checkpoints/<family>`), shared with other tools."""
    return hub_checkpoints() / info.family


def download(info: GeneratorInfo, stem: str, folder: Path) -> Path:
    """Fetch the `stem` file from the official URL into `folder` (named `stem` plus the URL's
    suffix), atomically; offline, one line."""
    url = info.download_url(stem)
    target = folder / f"{stem}{PurePosixPath(urlparse(url).path).suffix or '.pth'}"
    try:
        return download_file(url, target)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise WeightsError(
            f"generator '{info.name}' needs {target.name} and could not download it from {url} ({reason}); "
            f"offline, get the file yourself and pass --weights FOLDER or set {info.weights_env}"
        ) from None


def describe_files(files: dict[str, Path]) -> str:
    """A provenance id: the first 16 hex digits of each file's SHA-256, in stem order."""
    return "+".join(f"{stem}:{sha256_of(path)[:16]}" for stem, path in sorted(files.items()))


def _from_path(info: GeneratorInfo, path: Path, source: str = "--weights") -> dict[str, Path]:
    folder = path
    if path.is_file() and len(info.weights_files) == 1:  # one file: whatever its name
        return {info.weights_files[0]: path}
    if path.is_file():
        if _stem_of(path) not in info.weights_files:
            raise WeightsError(
                f"{path}: not a weights file of generator '{info.name}' "
                f"(expects {', '.join(info.weights_files)} as .safetensors or .pth)"
            )
        folder = path.parent
    elif not path.is_dir():
        raise WeightsError(f"{path} ({source}): no such folder or file (generator '{info.name}')")
    files = {stem: _find(folder, stem) for stem in info.weights_files}
    missing = [stem for stem, found in files.items() if found is None]
    if missing:
        raise WeightsError(
            f"{folder}: generator '{info.name}' needs {' and '.join(s + '.safetensors/.pth' for s in missing)} "
            f"there (download: {info.download_url(missing[0])})"
        )
    return files  # type: ignore[return-value]


def _find(folder: Path, stem: str) -> Path | None:
    for suffix in WEIGHT_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _stem_of(path: Path) -> str:
    return path.name[: -len(path.suffix)] if path.suffix in WEIGHT_SUFFIXES else path.name


def load_exact(
    files: Mapping[str, Path], parts: Mapping[str, nn.Module], renamed: Callable[[dict], dict] | None = None
) -> None:
    """Load each weights file into its sub-network: every key matched, every shape equal.

    `parts` maps a weights stem to the sub-network it fills; `renamed` maps a file's state dict
    to the network's key names first (another published layout of the same weights). A foreign
    or damaged file is a one-line `WeightsError` naming it, never a half-loaded model.
    """
    for stem, module in parts.items():
        path = files[stem]
        try:
            state = read_state_dict(path)
            if renamed is not None:
                state = renamed(state)
        except WeightsError:
            raise
        except Exception as exc:
            raise WeightsError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from None
        expected = module.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
        if missing or unexpected or wrong:
            raise WeightsError(
                f"{path}: does not fit the {stem} network: "
                f"{len(missing)} missing keys (e.g. {missing[:3]}), {len(unexpected)} unexpected "
                f"(e.g. {unexpected[:3]}), {len(wrong)} of the wrong shape (e.g. {wrong[:3]})"
            )
        module.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
