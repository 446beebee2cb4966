"""Which runtime runs a network: ONNX Runtime on CPUs, PyTorch on CUDA or when asked.

Decided without importing torch (1.6 s and hundreds of MB), so a CPU-only `predict` never
pays for it: CUDA is detected from the driver's device files, not from `torch.cuda`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Literal, get_args

from ..errors import UserError

Runtime = Literal["auto", "onnx", "torch"]
RUNTIMES: tuple[str, ...] = get_args(Runtime)


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def cuda_present() -> bool:
    """An NVIDIA driver with a visible device (what torch.cuda.is_available() would need).

    CUDA_VISIBLE_DEVICES set to "" or "-1" hides every device, as it does for torch.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidia0").exists()


def choose_runtime(requested: str = "auto", device: str | None = None, has_graph: bool = True) -> Literal["onnx", "torch"]:
    """The runtime to use for `requested` on `device` (None: the best one here).

    `auto` is ONNX Runtime when the model has a graph, onnxruntime is installed and the work
    runs on the CPU (asked for, or no CUDA device); otherwise torch. An explicit `onnx` that
    cannot be honoured is a one-line `UserError` rather than a silent switch.
    """
    if requested not in RUNTIMES:
        raise UserError(f"runtime must be one of {', '.join(RUNTIMES)}, not '{requested}'")
    on_cpu = device == "cpu" or (device is None and not cuda_present())
    if requested == "torch":
        return "torch"
    if requested == "onnx":
        if device is not None and device != "cpu":
            raise UserError(f"--runtime onnx runs on the CPU; it cannot be combined with --device {device}")
        if not onnxruntime_available():
            raise UserError("--runtime onnx needs the onnxruntime package (pip install onnxruntime)")
        if not has_graph:
            raise UserError("this model carries no ONNX graph; use --runtime torch, or re-export it (see the detector's message)")
        return "onnx"
    return "onnx" if on_cpu and has_graph and onnxruntime_available() else "torch"
