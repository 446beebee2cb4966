"""A rank ensemble of fine-tuned networks: each member's score read as its rank among real photographs.

Networks trained alike from different seeds disagree most where none of them knows (on
generators they never saw), and their raw scores sit on different scales, so a plain mean
lets the most confident member decide. Each member's logit margin (logit "fake" minus logit
"real", the log-odds its softmax reports) is therefore turned into the share of *reference
reals*, held-out photographs none of the members trained on, that scored below it; the
ensemble's score is the mean of those shares over members. It is not a probability: 0.9 means
"on average, above 90% of the reference photographs", which is what a threshold set on reals
reads anyway.

The step "scored below" is a sigmoid a tenth of that member's reference spread wide, so the
module stays differentiable (`adapt`) and ONNX can carry it (plain broadcasting, no sort).
"""

from __future__ import annotations

import torch
from torch import nn

from .finetuned import build_finetune_network

SOFTNESS = 0.1
"""Width of each member's soft step, as a fraction of the standard deviation of its reference margins."""


class RankEnsemble(nn.Module):
    """Images -> (N,) mean rank of the members' margins among the reference reals, in [0, 1].

    `reference` (members, reference reals) holds each member's margins on the reference reals
    and `softness` (members,) each member's step width; both are buffers, saved with the weights.
    """

    def __init__(self, members: list[nn.Module], reference_size: int):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.register_buffer("reference", torch.zeros(len(members), reference_size))
        self.register_buffer("softness", torch.ones(len(members)))

    def margins(self, images: torch.Tensor) -> torch.Tensor:
        """(members, N): logit "fake" minus logit "real" of every member."""
        return torch.stack([(logits := member(images).float())[:, 1] - logits[:, 0] for member in self.members])

    def set_reference(self, margins: torch.Tensor) -> None:
        """Take (members, reference reals) margins as the reference (sorted, for reading)."""
        spread = margins.std(dim=1).clamp_min(1e-6)
        self.reference.copy_(margins.sort(dim=1).values)
        self.softness.copy_(SOFTNESS * spread)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        margins = self.margins(images)[:, :, None]  # (members, N, 1)
        steps = torch.sigmoid((margins - self.reference[:, None, :]) / self.softness[:, None, None])
        return steps.mean(dim=2).mean(dim=0)


def build_rank_ensemble(members: list[str], reference_size: int) -> RankEnsemble:
    """Members of the named fine-tunable architectures, random init (their weights are then loaded)."""
    return RankEnsemble([build_finetune_network(arch, "random") for arch in members], reference_size).eval()
