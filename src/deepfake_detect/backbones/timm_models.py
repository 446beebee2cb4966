"""Backbones built with timm: DINO and CLIP ViTs, DINO and ImageNet ResNets.

timm's own loader reads a local file (its checkpoint filters convert the official DINO and
OpenAI CLIP layouts), so a user's downloaded file and the hub go through the same code.
"""

from __future__ import annotations

from pathlib import Path

from .registry import read_state_dict, load_strict, register_backbone

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
DINO_RESNET50_URL = "https://dl.fbaipublicfiles.com/dino/dino_resnet50_pretrain/dino_resnet50_pretrain.pth"

# Pretrained sources, as data: the timm tag fetched online, and what to download by hand.
SOURCES = {
    "dino_vitb16": (
        "vit_base_patch16_224.dino",
        "model.safetensors from https://huggingface.co/timm/vit_base_patch16_224.dino, "
        "or the official https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth",
    ),
    "clip_vitb16": (
        "vit_base_patch16_clip_224.openai",
        "model.safetensors from https://huggingface.co/timm/vit_base_patch16_clip_224.openai "
        "(OpenAI's CLIP ViT-B/16 image tower)",
    ),
    "resnet18": (
        "resnet18.tv_in1k",
        "torchvision ResNet18_Weights.IMAGENET1K_V1 (https://download.pytorch.org/models/resnet18-f37072fd.pth), "
        "also timm 'resnet18.tv_in1k'",
    ),
    "resnet50": (
        "resnet50.tv_in1k",
        "torchvision ResNet50_Weights.IMAGENET1K_V1 (https://download.pytorch.org/models/resnet50-0676ba61.pth), "
        "also timm 'resnet50.tv_in1k'",
    ),
    "dino_resnet50": ("resnet50", f"the official DINO release {DINO_RESNET50_URL}"),
}


def _timm(name: str, pretrained: bool, weights_file: Path | None):
    """Online: timm's own download. A local file: read it, convert official DINO / OpenAI CLIP
    layouts with timm's checkpoint filter, and load strictly (timm alone would accept a file
    that matches nothing, with a warning)."""
    import timm
    from timm.models.vision_transformer import VisionTransformer
    from timm.models.vision_transformer import checkpoint_filter_fn as vit_checkpoint_filter

    tag = SOURCES[name][0]
    network = timm.create_model(tag, pretrained=pretrained and weights_file is None, num_classes=0)
    if weights_file is not None:
        state = read_state_dict(weights_file)
        if isinstance(network, VisionTransformer):
            state = vit_checkpoint_filter(state, network)
        load_strict(network, state, ignore_prefixes=("head.", "fc."))
    return network


@register_backbone(input_size=224, embed_dim=768, weights_source=SOURCES["dino_vitb16"][1])
def dino_vitb16(pretrained: bool = False, weights_file: Path | None = None):
    return _timm("dino_vitb16", pretrained, weights_file)


@register_backbone(
    input_size=224, embed_dim=768, mean=CLIP_MEAN, std=CLIP_STD, weights_source=SOURCES["clip_vitb16"][1]
)
def clip_vitb16(pretrained: bool = False, weights_file: Path | None = None):
    return _timm("clip_vitb16", pretrained, weights_file)


@register_backbone(input_size=224, embed_dim=512, weights_source=SOURCES["resnet18"][1])
def resnet18(pretrained: bool = False, weights_file: Path | None = None):
    return _timm("resnet18", pretrained, weights_file)


@register_backbone(input_size=224, embed_dim=2048, weights_source=SOURCES["resnet50"][1])
def resnet50(pretrained: bool = False, weights_file: Path | None = None):
    return _timm("resnet50", pretrained, weights_file)


@register_backbone(input_size=224, embed_dim=2048, weights_source=SOURCES["dino_resnet50"][1])
def dino_resnet50(pretrained: bool = False, weights_file: Path | None = None):
    """A torchvision-layout ResNet-50; DINO publishes it without a head, so none is expected."""
    import timm

    network = timm.create_model("resnet50", pretrained=False, num_classes=0)
    if weights_file is not None:
        load_strict(network, read_state_dict(weights_file), ignore_prefixes=("fc.",))
    elif pretrained:
        from torch.hub import load_state_dict_from_url

        load_strict(network, load_state_dict_from_url(DINO_RESNET50_URL, map_location="cpu"), ("fc.",))
    return network
