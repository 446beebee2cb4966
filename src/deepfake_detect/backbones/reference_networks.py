"""Published reference detectors the project can load as detector folders of kind "reference".

A reference network is someone else's trained detector, kept beside ours so that every report
can show the project's methods and a published one on the same images. This module is data
about them (no torch): what the network is, where its official weights come from, under what
licence, and the preprocessing it was tested with. Building one is `build_reference_network`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..registry import Registry

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ReferenceNetwork:
    """One published detector: images -> one logit each (sigmoid = P(generated))."""

    name: str
    title: str
    license: str
    source: str
    """The official weights, in words a user can act on offline."""
    policy: str
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    build: Callable[[str | Path], nn.Module]
    """`build("random")` gives a seeded random twin; `build(path)` loads a file strictly."""
    onnx_unavailable: str | None = None
    """Why the network cannot be exported to ONNX (then it runs on torch); None: export it."""


def _build_ferretnet_s(weights: str | Path) -> nn.Module:
    from .ferretnet import build_ferretnet

    return build_ferretnet(weights)


_FERRET_MEAN = (0.48145466, 0.4578275, 0.40821073)
_FERRET_STD = (0.26862954, 0.26130258, 0.27577711)
"""CLIP's mean/std, as `backbones.ferretnet` (which imports torch) has them; a test checks both agree."""

_REFERENCES: Registry[ReferenceNetwork] = Registry("reference detector")
_REFERENCES.add("ferretnet_s", ReferenceNetwork(
        name="ferretnet_s",
        title="FerretNet-S (NeurIPS 2025), 126 k parameters, trained on ProGAN images",
        license="Apache-2.0",
        source="ferretnet-s-median-3.pth from https://github.com/xigua7105/FerretNet "
        "(checkpoints/4cls_ckpt/ferretnet-s-median-3.pth)",
        policy="center_crop",
        size=256,
        mean=_FERRET_MEAN,
        std=_FERRET_STD,
        build=_build_ferretnet_s,
        onnx_unavailable="its 3x3 median (torch.median) has no ONNX opset-17 export",
))


def list_references() -> list[str]:
    return _REFERENCES.names()


def reference_network(name: str) -> ReferenceNetwork:
    return _REFERENCES[name]
