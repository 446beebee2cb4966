"""`OnnxNetwork`: an ONNX Runtime session over a graph's bytes, numpy in, numpy out (no torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import DetectorError
from ..runtime import cpu_cores

if TYPE_CHECKING:
    import onnxruntime


class OnnxNetwork:
    """One graph with one float32 input (batch, 3, H, W) and one output (batch, ...).

    `threads` is ONNX Runtime's intra-op thread count (default: the cores this process may
    use). A session may be run from several threads at once; callers that run it from N
    threads give each core to one of them (`threads = cores // N`).
    """

    def __init__(self, graph: bytes, threads: int | None = None, name: str = "network.onnx", input_size: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or cpu_cores()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # warnings about unused initialisers are not the user's concern
        try:
            self.session: onnxruntime.InferenceSession = ort.InferenceSession(
                graph, options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ONNX Runtime raises its own Fail/InvalidGraph/... types
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise DetectorError(f"{name}: not a usable ONNX graph ({first})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or not outputs:
            raise DetectorError(f"{name}: a graph with {len(inputs)} inputs and {len(outputs)} outputs; expected one image input")
        if input_size is not None:
            _check_input_shape(inputs[0].shape, input_size, name)
        self.input = inputs[0].name
        self.output = outputs[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The graph's output for a float32 batch (converted and made contiguous if needed)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self.session.run([self.output], {self.input: batch})[0]


def _check_input_shape(shape: list, size: int, name: str) -> None:
    """The declared input must be (batch, 3, size, size), as the manifest's preprocessing makes it:
    a tampered graph declaring other dimensions (10^9) is refused before it is ever run."""
    expected = [3, size, size]
    if len(shape) != 4 or list(shape[1:]) != expected:
        raise DetectorError(f"{name}: the graph's input is declared {shape}, but the manifest's preprocessing "
                            f"gives (batch, {', '.join(map(str, expected))})")
