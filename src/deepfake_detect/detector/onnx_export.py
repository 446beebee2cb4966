"""Putting a detector's network into its folder as ONNX, where torch is already loaded.

`with_onnx` is called by every writer of a detector folder (`train`, `finetune`, the demo's
detector) with the torch module the kind runs; `add_onnx` re-exports a folder saved before
detectors carried a graph. A network ONNX cannot express (the FFT-based hand-crafted
extractors) is saved without one, with the reason in the manifest: it runs on torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DetectorError
from .folder import read_detector_folder, write_detector_folder
from .kinds.finetuned import FINETUNED, probability_module
from .manifest import ONNX_FILE

if TYPE_CHECKING:
    from torch import nn

FOLDER_KEYS = ("format", "format_version", "files")
"""Written by `write_detector_folder` itself; dropped when a folder is rewritten."""


def with_onnx(
    manifest: dict[str, Any], files: Mapping[str, bytes], module: nn.Module, input_size: int, output: str
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """`manifest` and `files` plus `module` as a verified ONNX graph (or the reason there is none)."""
    from ..inference.export import export_onnx

    manifest, files = dict(manifest), dict(files)
    files.pop(ONNX_FILE, None)
    try:
        exported = export_onnx(module, input_size, output)
    except DetectorError as exc:
        manifest["onnx"] = None
        manifest["onnx_unavailable"] = f"{exc}; this detector runs on torch"
        return manifest, files
    manifest.pop("onnx_unavailable", None)
    manifest["onnx"] = {"file": ONNX_FILE, **exported.describe()}
    files[ONNX_FILE] = exported.graph
    return manifest, files


def finetuned_with_onnx(
    manifest: dict[str, Any], files: Mapping[str, bytes], network: nn.Module, input_size: int
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """`with_onnx` for a fine-tuned network (logits -> softmax probabilities), for the fine-tuning export."""
    return with_onnx(manifest, files, probability_module(network), input_size, FINETUNED.onnx_output)


def add_onnx(path: str | Path) -> Path:
    """Re-export the network of the detector folder `path` as ONNX, in place (replacing any)."""
    import torch

    loaded = read_detector_folder(path)
    model = loaded.kind.load(loaded.manifest, loaded.section, loaded.files, torch.device("cpu"))
    manifest = {key: value for key, value in loaded.raw.items() if key not in FOLDER_KEYS}
    module = loaded.kind.exportable(model)
    manifest, files = with_onnx(manifest, loaded.files, module, loaded.manifest.preprocess.size, loaded.kind.onnx_output)
    return write_detector_folder(loaded.path, manifest, files)
