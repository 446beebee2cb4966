"""ONNX Runtime inference: networks exported once as ONNX, run on CPUs without torch.

Layers inside (torch is imported only by `export`, which runs where torch is already loaded):

- `choice`: which runtime a caller gets (`auto` | `onnx` | `torch`), decided without torch;
- `session`: `OnnxNetwork`, an ONNX Runtime session over a graph's bytes (numpy in, numpy out);
- `batches`: decoding and preprocessing in threads, ahead of the network (numpy batches);
- `export`: a torch module -> verified ONNX bytes with a dynamic batch dimension;
- `graphs`: the exported graphs of backbones, cached on disk by (backbone, weights hash, size).
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(__name__, submod_attrs={
    "choice": ["Runtime", "RUNTIMES", "choose_runtime", "cuda_present", "onnxruntime_available"],
    "session": ["OnnxNetwork"],
    "batches": ["prefetched_batches"],
    "export": ["export_onnx"],
    "graphs": ["backbone_graph"],
})
