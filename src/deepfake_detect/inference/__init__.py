"""ONNX Runtime inference: networks exported once as ONNX, run on CPUs without torch.

Layers inside (torch is imported only by `export`, which runs where torch is already loaded):

- `choice`: which runtime a caller gets (`auto` | `onnx` | `torch`), decided without torch;
- `session`: `OnnxNetwork`, an ONNX Runtime session over a graph's bytes (numpy in, numpy out);
- `batches`: decoding and preprocessing in threads, ahead of the network (numpy batches);
- `export`: a torch module -> verified ONNX bytes with a dynamic batch dimension;
- `graphs`: the exported graphs of backbones, cached on disk by (backbone, weights hash, size).
"""

from importlib import import_module

_EXPORTS = {
    "Runtime": "choice",
    "RUNTIMES": "choice",
    "choose_runtime": "choice",
    "cuda_present": "choice",
    "onnxruntime_available": "choice",
    "OnnxNetwork": "session",
    "prefetched_batches": "batches",
    "export_onnx": "export",
    "backbone_graph": "graphs",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
