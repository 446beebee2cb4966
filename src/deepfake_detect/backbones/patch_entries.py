"""Registry entries of the trainable patch networks (backbones/patchnet.py), without torch.

Listing backbones, validating a manifest or choosing a fine-tuning architecture must not
import torch, so the entries live here and each factory builds its network on first use.
The patch networks carry the fine-tuning tag: `finetune --arch patchnet_median` trains one
end to end (random init) under the same 2-way head as the ImageNet CNNs.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import WeightsError
from .patch_sizes import PATCH_WIDTHS
from .registry import FINETUNE_TAG, register_backbone
from .residual import PLAIN_PIXELS, RESIDUALS

PATCH_INPUT_SIZE = 128
"""Centre crop side when used through the feature pipeline; the network takes any side >= 16."""
PATCH_SOURCE = "no public weights: random init, or a file trained by `finetune` or studies/"


def _features_factory(residual: str, suffix: str):
    def factory(pretrained: bool = False, weights_file: Path | None = None):
        from .patchnet import patch_features

        if pretrained:
            raise WeightsError(f"patchnet_{residual}{suffix} has no public weights; {PATCH_SOURCE}")
        return patch_features(residual, weights_file, suffix)

    factory.__name__ = f"patchnet_{residual}{suffix}"
    factory.__doc__ = f"Trainable patch CNN on the {residual} residual (pooled features)."
    return factory


for _suffix, (_, _stages) in PATCH_WIDTHS.items():
    for _residual in RESIDUALS:
        register_backbone(
            input_size=PATCH_INPUT_SIZE, embed_dim=_stages[-1], weights_source=PATCH_SOURCE,
            tags=(FINETUNE_TAG,), **PLAIN_PIXELS,
        )(_features_factory(_residual, _suffix))
