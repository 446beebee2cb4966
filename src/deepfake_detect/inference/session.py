"""`OnnxNetwork`: an ONNX Runtime session over a graph's bytes, numpy in, numpy out (no torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import DetectorError
from ..runtime import cpu_cores

if TYPE_CHECKING:
    import onnxruntime


def cpu_session(graph: bytes, threads: int | None, name: str) -> onnxruntime.InferenceSession:
    """An ONNX Runtime CPU session over `graph` (`threads` intra-op threads, default every core
    this process may use); a graph it cannot load is one `DetectorError` line naming `name`."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or cpu_cores()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's concern
    try:
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime raises its own Fail/InvalidGraph/... types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DetectorError(f"{name}: not a usable ONNX graph ({first})") from None


class OnnxNetwork:
    """One graph with one float32 input (batch, 3, H, W) and one output (batch, ...).

    `threads` is ONNX Runtime's intra-op thread count (default: the cores this process may
    use). A session may be run from several threads at once; callers that run it from N
    threads give each core to one of them (`threads = cores // N`).
    """

    def __init__(self, graph: bytes, threads: int | None = None, name: str = "network.onnx", input_size: int | None = None):
        self.session = cpu_session(graph, threads, name)
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


class OnnxScorer:
    """A classic-part graph: one float64 input (batch, n_features), one output P(fake) (batch,).

    The declared input width must be the backbone's: a graph built for other features (or a
    tampered one) is refused when loaded, not at the first image."""

    def __init__(self, graph: bytes, n_features: int, name: str = "classic.onnx", threads: int | None = None):
        self.session = cpu_session(graph, threads, name)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise DetectorError(f"{name}: a graph with {len(inputs)} inputs and {len(outputs)} outputs; "
                                "expected features in, P(fake) out")
        shape = inputs[0].shape
        if inputs[0].type != "tensor(double)" or len(shape) != 2 or shape[1] != n_features:
            raise DetectorError(f"{name}: the graph's input is declared {inputs[0].type} {shape}, "
                                f"but the backbone gives (batch, {n_features}) float64 features")
        self.input = inputs[0].name

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """P(fake) per row of `features`."""
        rows = np.ascontiguousarray(features, dtype=np.float64)
        return np.asarray(self.session.run(None, {self.input: rows})[0], dtype=np.float64).reshape(len(rows))
