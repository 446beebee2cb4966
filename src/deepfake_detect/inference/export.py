"""A torch module -> ONNX bytes with a dynamic batch dimension, verified against torch.

Only code that already has torch loaded calls this (saving a detector, extracting features):
the point of the graph is that loading it later needs no torch at all.
"""

from __future__ import annotations

import copy
import io
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..errors import DetectorError
from .session import OnnxNetwork

OPSET = 17
INPUT_NAME = "images"
TOLERANCE = 1e-5
"""Largest accepted difference between ONNX Runtime and torch, relative to the output's scale."""


@dataclass(frozen=True)
class ExportedGraph:
    graph: bytes
    output: str
    opset: int
    max_relative_difference: float
    """max |onnxruntime - torch| / max |torch| on a random check batch (float32 rounding, ~1e-6)."""

    def describe(self) -> dict:
        """The manifest's record of the graph."""
        return {
            "input": INPUT_NAME,
            "output": self.output,
            "opset": self.opset,
            "dynamic_axes": {"batch": 0},
            "checked_max_relative_difference": self.max_relative_difference,
            "exported_with": {"torch": torch.__version__},
        }


def export_onnx(module: nn.Module, input_size: int, output: str = "output", tolerance: float = TOLERANCE) -> ExportedGraph:
    """`module` (images (batch, 3, size, size) -> one tensor) as a verified ONNX graph.

    Exported on the CPU in eval mode with a dynamic batch dimension, then run by ONNX Runtime
    on a batch of 3 (a size the export never saw) and compared with torch. `DetectorError` (one
    line) when the exporter refuses an operation or the outputs differ by more than `tolerance`.
    """
    module = copy.deepcopy(module).eval().to("cpu")  # the caller's module keeps its mode and device
    example = torch.randn(2, 3, input_size, input_size, generator=torch.Generator().manual_seed(0))
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # TracerWarnings about shape asserts: checked below instead
            torch.onnx.export(
                module, (example,), buffer, dynamo=False, opset_version=OPSET, do_constant_folding=True,
                input_names=[INPUT_NAME], output_names=[output],
                dynamic_axes={INPUT_NAME: {0: "batch"}, output: {0: "batch"}},
            )
    except Exception as exc:  # UnsupportedOperatorError, tracing errors, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DetectorError(f"cannot export to ONNX: {first}") from None
    graph = buffer.getvalue()
    difference = _difference(module, graph, input_size)
    if not difference <= tolerance:  # also catches NaN
        raise DetectorError(f"the ONNX graph differs from torch by {difference:.1e} relative (more than {tolerance:.0e})")
    return ExportedGraph(graph, output, OPSET, difference)


def _difference(module: nn.Module, graph: bytes, input_size: int) -> float:
    check = torch.randn(3, 3, input_size, input_size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = module(check).float().numpy()
    got = OnnxNetwork(graph, threads=1)(check.numpy())
    if got.shape != expected.shape:
        return float("inf")
    scale = float(np.max(np.abs(expected))) or 1.0
    return float(np.max(np.abs(got - expected)) / scale)
