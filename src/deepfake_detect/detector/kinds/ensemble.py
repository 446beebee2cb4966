"""Detector kind "ensemble": fine-tuned networks rank-averaged against reference reals.

The network is `backbones.ensemble.RankEnsemble`; its manifest's backbone names it
"rank_ensemble" and lists the members' architectures and how many reference reals it holds,
which is all it takes to rebuild it before its weights (members and reference margins, one
safetensors file) are loaded strictly. Written by `ensemble.build.build_ensemble`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import field_validator

from ...backbones import check_arch
from ...errors import UnknownNameError
from .network import NetworkSection, network_model_kind

if TYPE_CHECKING:
    import numpy as np
    import torch

ARCH = "rank_ensemble"
ONNX_OUTPUT = "mean_rank"
OUTPUT = ("the mean over members of the share of reference real photographs each member scores below the image "
          "(0 to 1; not a probability)")


def describe_members(members: list[str]) -> str:
    """E.g. "rank ensemble of 3 patchnet_npr_s" or "rank ensemble of resnet18, patchnet_npr_s"."""
    names = f"{len(members)} {members[0]}" if len(set(members)) == 1 else ", ".join(members)
    return f"rank ensemble of {names}"


def check_ensemble(name: str) -> None:
    if name != ARCH:
        raise UnknownNameError(f"unknown ensemble '{name}'; an ensemble detector's backbone is '{ARCH}'")


class EnsembleSection(NetworkSection):
    """The backbone is "rank_ensemble" with `members` (fine-tunable architectures) and `reference_size`."""

    known = staticmethod(check_ensemble)

    @field_validator("backbone")
    @classmethod
    def _members_known(cls, value: dict) -> dict:
        members, size = value.get("members"), value.get("reference_size")
        if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
            raise ValueError("an ensemble's backbone needs 'members', a list of architecture names")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError("an ensemble's backbone needs 'reference_size', a positive integer")
        for member in members:
            try:
                check_arch(member)
            except UnknownNameError as exc:
                raise ValueError(str(exc)) from None
        return value


def _build(section: NetworkSection) -> torch.nn.Module:
    from ...backbones.ensemble import build_rank_ensemble

    return build_rank_ensemble(section.backbone["members"], section.backbone["reference_size"])


def probability_module(network: torch.nn.Module) -> torch.nn.Module:
    """The ensemble already gives one score per image in [0, 1]."""
    return network.eval()


def fake_column(scores: np.ndarray) -> np.ndarray:
    return scores.reshape(-1)


ENSEMBLE = network_model_kind(
    "ensemble", EnsembleSection, _build, lambda name: "the rank ensemble its manifest describes",
    lambda section: describe_members(section.backbone["members"]), probability_module, fake_column, onnx_output=ONNX_OUTPUT,
)
