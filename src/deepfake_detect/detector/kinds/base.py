"""What a detector kind is: a manifest section it validates, the files it needs, a scoring model.

A kind ("features", "finetune", and later others such as a reference network) is one
`ModelKind` value registered in `detector/kinds/__init__.py`. The folder module validates the common
manifest, asks the kind for its own schema and required files, verifies every file's bytes,
and only then hands those bytes to `ModelKind.load`: a kind never opens a file itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

    from ..manifest import Manifest


class ScoringModel(Protocol):
    """What each kind provides: PIL image -> input, and a batch of inputs -> P(fake).

    Inputs are torch tensors on the torch runtime and float32 numpy arrays on ONNX Runtime;
    both are made by `transforms.preprocess.ArrayPreprocess`, so they hold the same numbers.
    """

    to_tensor: Callable[[Image.Image], torch.Tensor | np.ndarray]
    draft_size: int | None
    """The JPEG draft size the decoder may use (only when the preprocessing resizes anyway)."""

    def score_tensors(self, tensors: torch.Tensor | np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelKind:
    """One kind of detector folder."""

    name: str
    file_names: tuple[str, ...]
    """Every file this kind may write: an old folder holding only these may be replaced."""
    schema: type[BaseModel]
    """The kind's own manifest fields, validated beside the common ones (extra keys ignored)."""
    required_files: Callable[[Manifest, BaseModel], list[str]]
    """Files that must be listed (with their sha256) for this manifest and its kind section."""
    load: Callable[[Manifest, BaseModel, Mapping[str, bytes], torch.device], ScoringModel]
    """Build the torch scoring model from the validated manifest, its kind section and the verified bytes."""
    describe: Callable[[Manifest, BaseModel], str]
    """A few words for logs and the serve banner, e.g. "fine-tuned resnet50"."""
    load_onnx: Callable[[Manifest, BaseModel, Mapping[str, bytes], int | None], ScoringModel]
    """The same on ONNX Runtime (the graph of `manifest.onnx`, `threads` intra-op threads); no torch."""
    exportable: Callable[[ScoringModel], torch.nn.Module]
    """The part of a torch scoring model that the folder carries as ONNX (images -> the graph's output)."""
    onnx_output: str
    """The graph's output name: "features" (then the classic part) or "probabilities" (softmax)."""
