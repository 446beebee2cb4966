"""Making a detector folder of kind "reference" from a published checkpoint (offline: a file).

`make_reference_detector("ferretnet_s", "ferretnet-s-median-3.pth", "detectors/ferretnet")`
loads the checkpoint strictly into the architecture (every key, every shape), converts it to
safetensors, exports the network with its sigmoid to ONNX when the exporter can express it,
and writes the folder through `detector.folder` (sha256 per file, schema-checked manifest).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..runtime import sha256_of, versions
from ..detector.folder import write_detector_folder
from ..detector.onnx_export import with_onnx
from ..detector.kinds.network import WEIGHTS_FILE
from ..detector.kinds.reference import ONNX_OUTPUT, probability_module
from ..backbones.reference_networks import ReferenceNetwork, reference_network

if TYPE_CHECKING:
    from torch import nn

PUBLISHED_THRESHOLD = 0.5
"""The published reading: sigmoid > 0.5 is "generated"."""


def make_reference_detector(name: str, weights: str | Path, output: str | Path, threshold: float = PUBLISHED_THRESHOLD) -> Path:
    """The reference network `name` with `weights` (a checkpoint file, or "random" for a seeded
    twin) as a detector folder at `output`; `WeightsError` for a file that does not fit."""
    reference = reference_network(name)
    network = reference.build(weights)
    weights_id = "random" if str(weights) == "random" else sha256_of(Path(weights).expanduser())
    manifest = reference_manifest(reference, weights_id, threshold, {"weights_file": Path(str(weights)).name})
    return write_reference_folder(output, manifest, network)


def reference_manifest(reference: ReferenceNetwork, weights_id: str, threshold: float, extra: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a reference folder (before `write_detector_folder` adds files and format)."""
    from datetime import datetime, timezone

    return {
        "kind": "reference",
        "backbone": {"name": reference.name, "weights_id": weights_id, "source": reference.source,
                     "license": reference.license, "title": reference.title},
        "preprocess": {"policy": reference.policy, "size": reference.size, "mean": list(reference.mean),
                       "std": list(reference.std)},
        "threshold": float(threshold),
        "calibration": {"method": "none", "note": "the published sigmoid output, threshold as published"},
        "reference": {**extra},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
    }


def write_reference_folder(output: str | Path, manifest: dict[str, Any], network: nn.Module) -> Path:
    """`network`'s weights (safetensors) and, when exportable, its ONNX graph, as a detector folder."""
    from ..backbones.finetuned import weights_bytes

    files = {WEIGHTS_FILE: weights_bytes(network)}
    reason = reference_network(manifest["backbone"]["name"]).onnx_unavailable
    if reason:
        manifest = {**manifest, "onnx": None, "onnx_unavailable": f"{reason}; this detector runs on torch"}
    else:
        size = int(manifest["preprocess"]["size"])
        manifest, files = with_onnx(manifest, files, probability_module(network.eval()), size, ONNX_OUTPUT)
    return write_detector_folder(output, manifest, files)
