"""What the network kinds ("finetune", "reference") share: a manifest section naming a known
network, weights loaded strictly from verified bytes, and scoring through the *probability
module*, the same module the folder carries as ONNX, so both runtimes compute one function.

A kind supplies how its network is built, its probability module and which output column is
P(fake); everything else is here once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator

from ...errors import DetectorError, UnknownNameError
from ..manifest import ONNX_FILE
from .base import ModelKind

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ...inference.session import OnnxNetwork
    from ..manifest import Manifest

FakeColumn = Callable[["np.ndarray"], "np.ndarray"]
"""The probability module's output (N, ...) -> P(fake) per image (N,)."""
WEIGHTS_FILE = "model.safetensors"
"""The network's weights in a folder of every network kind."""


class NetworkSection(BaseModel):
    """A kind's own manifest fields: its backbone must name a network the kind knows."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    known: ClassVar[Callable[[str], object]]
    """Raises `UnknownNameError` for a name the kind cannot build (no torch imported)."""

    backbone: dict

    @field_validator("backbone")
    @classmethod
    def _known_network(cls, value: dict) -> dict:
        try:
            cls.known(str(value.get("name")))
        except UnknownNameError as exc:
            raise ValueError(str(exc)) from None
        return value


def load_strictly(network: torch.nn.Module, weights: bytes, file_name: str, what: str) -> torch.nn.Module:
    """`network` with every weight from the safetensors `weights`, or one DetectorError line."""
    from safetensors.torch import load as load_safetensors

    try:
        network.load_state_dict(load_safetensors(weights), strict=True)
    except Exception as exc:  # safetensors header errors, missing or unexpected keys, wrong shapes
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise DetectorError(f"{file_name}: does not fit {what}: {first}") from None
    return network.eval()


class NetworkModel:
    """The network on `device`, scored through its probability module, with the manifest's preprocessing.

    `network` is the trainable part (`adapt` fine-tunes it in place); `module` wraps it.
    """

    def __init__(self, network: torch.nn.Module, module: Callable[[torch.nn.Module], torch.nn.Module],
                 fake_column: FakeColumn, manifest: Manifest, device: torch.device):
        self.device = device
        self.network = network.to(device).eval()
        self.module = module(self.network)
        self.fake_column = fake_column
        preprocessing = manifest.preprocess.preprocessing()
        self.to_tensor = preprocessing.tensor_transform
        self.draft_size = preprocessing.draft_size

    def score_tensors(self, tensors: torch.Tensor) -> np.ndarray:
        import numpy as np
        import torch

        with torch.inference_mode():
            output = self.module(tensors.to(self.device)).float().cpu().numpy()
        return self.fake_column(output).astype(np.float64)


class OnnxNetworkModel:
    """The exported probability module on ONNX Runtime (no torch)."""

    def __init__(self, network: OnnxNetwork, fake_column: FakeColumn, manifest: Manifest):
        self.network = network
        self.fake_column = fake_column
        preprocessing = manifest.preprocess.preprocessing()
        self.to_tensor = preprocessing.array_transform
        self.draft_size = preprocessing.draft_size

    def score_tensors(self, arrays: np.ndarray) -> np.ndarray:
        import numpy as np

        return self.fake_column(self.network(arrays)).astype(np.float64)


def network_model_kind(
    name: str,
    section: type[NetworkSection],
    build: Callable[[NetworkSection], torch.nn.Module],
    what: Callable[[str], str],
    describe: Callable[[NetworkSection], str],
    module: Callable[[torch.nn.Module], torch.nn.Module],
    fake_column: FakeColumn,
    onnx_output: str,
) -> ModelKind:
    """A network kind from what differs between kinds: how the architecture its section names is
    built (random init, never a download), words for it in load errors (`what`, from the
    architecture's name) and in banners (`describe`, from the kind's section), its probability module, the P(fake) column and the ONNX output name. Both runtimes, the files and
    the export are the same for every network kind."""

    def load(manifest: Manifest, kind_section: BaseModel, files: Mapping[str, bytes], device: torch.device) -> NetworkModel:
        arch = manifest.backbone.name
        network = load_strictly(build(kind_section), files[WEIGHTS_FILE], WEIGHTS_FILE, what(arch))
        return NetworkModel(network, module, fake_column, manifest, device)

    def load_onnx(manifest: Manifest, _: BaseModel, files: Mapping[str, bytes], threads: int | None) -> OnnxNetworkModel:
        from ...inference.session import OnnxNetwork

        graph = manifest.onnx.file
        return OnnxNetworkModel(OnnxNetwork(files[graph], threads, graph, manifest.preprocess.size), fake_column, manifest)

    return ModelKind(
        name, (WEIGHTS_FILE, ONNX_FILE), section, lambda manifest, kind_section: [WEIGHTS_FILE], load,
        lambda manifest, kind_section: describe(kind_section),
        load_onnx=load_onnx, exportable=lambda model: model.module, onnx_output=onnx_output,
    )
