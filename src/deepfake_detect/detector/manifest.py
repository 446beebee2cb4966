"""The manifest schema every detector folder shares, whatever its kind.

One `preprocess` block, a backbone (each kind checks that it knows it), a finite threshold in [0, 1], and the files
(plain names directly inside the folder) with their sha256. Descriptive extras (training
data, validation metrics, versions, ...) are kept as given. A kind adds its own fields with
its own schema (see `detector.kinds.base.ModelKind`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..transforms.preprocess import Preprocessing, PreprocessPolicy

MANIFEST_FILE = "manifest.json"
ONNX_FILE = "network.onnx"
"""The network as ONNX, beside the weights: what ONNX Runtime runs (see `detector.onnx_export`)."""


def plain_file_name(name: str) -> str:
    if name in ("", ".", "..") or name.startswith(".") or any(c in name for c in "/\\\0") or name == MANIFEST_FILE:
        raise ValueError("must be a plain file name directly inside the detector folder")
    return name


FileName = Annotated[str, AfterValidator(plain_file_name)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Finite = Annotated[float, Field(allow_inf_nan=False, strict=True)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]


class PreprocessBlock(BaseModel):
    """How an image becomes the model's input tensor; the same block for every kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: PreprocessPolicy
    size: Annotated[int, Field(ge=16, le=4096, strict=True)]
    mean: tuple[Finite, Finite, Finite]
    std: tuple[Positive, Positive, Positive]

    def preprocessing(self) -> Preprocessing:
        """The tensor transform and JPEG draft size this block describes."""
        return Preprocessing(self.policy, self.size, self.mean, self.std)


class BackboneBlock(BaseModel):
    """The architecture; descriptive extras (weights source, dims) are kept. Which names are
    known is the kind's to say (each kind's section validates its own backbone)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    weights_id: str = "bundled"


class OnnxBlock(BaseModel):
    """The network as an ONNX graph (`detector.onnx`): what ONNX Runtime runs on CPUs."""

    model_config = ConfigDict(extra="allow", frozen=True)

    file: FileName
    input: str
    output: str
    opset: Annotated[int, Field(ge=7, strict=True)]


class Manifest(BaseModel):
    """What every detector folder's manifest.json holds; descriptive extras are kept as given."""

    model_config = ConfigDict(extra="allow", frozen=True)

    format: str
    format_version: int
    """Both checked first (`detector.folder`), so a foreign or newer folder gets one clear line."""
    kind: str
    """Checked against the registered kinds by `detector.folder.validate_manifest`."""
    backbone: BackboneBlock
    preprocess: PreprocessBlock
    threshold: Probability
    """Verdict "fake" when the probability is above it."""
    files: dict[FileName, Sha256]
    onnx: OnnxBlock | None = None
    """Absent in folders saved before ONNX export, and for networks ONNX cannot express."""
    created: str | None = None
    versions: dict[str, str] = {}
