"""Facts about where the code runs, and small I/O primitives every artifact writer shares.

Device, worker count and version records are decided here once, so a run folder, a detector
folder and a benchmark all describe the machine the same way.
"""

from __future__ import annotations

import hashlib
import math
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

VERSIONED_PACKAGES = ("deepfake-detect", "torch", "torchvision", "timm", "numpy", "scikit-learn", "skops", "skl2onnx",
                      "onnxruntime", "safetensors")


def cpu_cores() -> int:
    """Cores this process may use (the affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """Decoding workers: enough to keep a model busy, few enough not to thrash 2-core machines."""
    return min(4, cpu_cores())


def best_device() -> torch.device:
    """CUDA when present, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def devices_present() -> list[str]:
    """The torch devices this machine has: `cpu`, then each CUDA GPU and Apple's `mps`."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += ["cuda"] + [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        found.append("mps")
    return found


def torch_device(name: str | torch.device | None) -> torch.device:
    """The device a user named (`--device`), or the best one; a device this machine lacks, or a
    name torch does not know (`gpu`), is one line naming the devices present."""
    import torch

    if name is None:
        return best_device()
    if isinstance(name, torch.device):
        return name
    present = devices_present()
    if name not in present:
        from .errors import UserError

        raise UserError(f"--device {name}: no such device on this machine; devices present: {', '.join(present)}")
    return torch.device(name)


def versions() -> dict[str, str]:
    """Versions of Python and the packages whose behaviour a result depends on."""
    found = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            found[package.replace("-", "_")] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def json_safe(value: Any) -> Any:
    """Plain JSON values: numpy and torch scalars become numbers, NaN and infinity become null.

    Strict JSON readers (browsers, FastAPI) refuse NaN, so it never reaches a file.
    """
    if hasattr(value, "item") and not isinstance(value, dict | list | tuple | str | bytes):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def current_umask() -> int:
    """The process umask (read from /proc on Linux; elsewhere set and restored at once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write `data` to `path` so that readers see the old file or the new one, never a torn one.

    The file gets the mode a plain `open` would give (0666 less the umask), so a detector or a
    results file in a shared team folder is as readable as any other file written there.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        os.fchmod(handle, 0o666 & ~current_umask())  # mkstemp's 0600 would hide shared team folders
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))
