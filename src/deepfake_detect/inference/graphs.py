"""Backbones as cached ONNX graphs, for feature extraction on ONNX Runtime.

A graph is exported (and verified against torch) once per (backbone, weights hash, input
size) and kept in `directory` as `<backbone>-<size>-<hash>.onnx`; later runs load it in
milliseconds. The feature cache key does not change with the runtime because a graph is only
used when it agrees with torch to `FEATURE_TOLERANCE` relative; a backbone that cannot be
exported, or disagrees, stays on torch.

ONNX Runtime is used only for the backbones where it was measured faster end to end on CPU
(`benchmarks/onnx.py`, numbers in benchmarks/README.md): `ONNX_FASTER`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DetectorError
from ..runtime import atomic_write_bytes
from .session import OnnxNetwork

if TYPE_CHECKING:
    from ..backbones.module import Backbone

FEATURE_TOLERANCE = 1e-5
ONNX_FASTER: frozenset[str] = frozenset(
    {"efficientnet_lite0", "resnet18", "resnet50", "dino_resnet50", "dino_vitb16", "clip_vitb16"}
)
"""Measured not slower end to end on 2 busy CPU cores (benchmarks/onnx.py, 2026-11-30, load 5-10):
extraction EfficientNet-Lite0 2.7x, ResNet-50 1.03x, ViT-B/16 1.7x (the ResNets and ViTs share
those architectures). A new backbone stays on torch until it is measured."""


def weights_hash(backbone: Backbone) -> str:
    """sha256 (first 16 hex digits) of the backbone's weights, in a stable order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(backbone.network.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def backbone_graph(backbone: Backbone, directory: str | Path, threads: int | None = None) -> OnnxNetwork | None:
    """`backbone` as an ONNX Runtime network from the graph cache in `directory` (exported on
    first use), or None when it should stay on torch (not measured faster, not exportable, or
    not within `FEATURE_TOLERANCE`); a broken cached graph is exported again."""
    from .export import export_onnx

    if backbone.name not in ONNX_FASTER:
        return None
    size = backbone.info.input_size
    path = Path(directory) / f"{backbone.name}-{size}-{weights_hash(backbone)}.onnx"
    if path.is_file():
        try:
            return OnnxNetwork(path.read_bytes(), threads, str(path))
        except DetectorError:
            path.unlink(missing_ok=True)
    try:
        exported = export_onnx(backbone, size, "features", tolerance=FEATURE_TOLERANCE)
    except DetectorError:
        return None
    atomic_write_bytes(path, exported.graph)
    return OnnxNetwork(exported.graph, threads, str(path))
