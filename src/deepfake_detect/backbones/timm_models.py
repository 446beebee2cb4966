"""Backbones built with timm: DINO and CLIP ViTs, DINO and ImageNet ResNets.

timm's own loader reads a local file (its checkpoint filters convert the official DINO and
OpenAI CLIP layouts), so a user's downloaded file and the hub go through the same code.
Pretrained weights come from the local cache when they are there, and are downloaded only
after a quick check that the source answers (see `download`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .download import cached_hub_file, hub_file_url, hub_offline, require_reachable, url_weights
from .registry import FINETUNE_TAG, load_strict, read_state_dict, register_backbone

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
VIT_B_BLOCKS = (768,) * 12
RESNET18_BLOCKS = (64, 64, 128, 256, 512)
"""timm's feature_info: the stem, then layer1-layer4 (so block k is layer k)."""
RESNET50_BLOCKS = (64, 256, 512, 1024, 2048)
DINO_RESNET50_URL = "https://dl.fbaipublicfiles.com/dino/dino_resnet50_pretrain/dino_resnet50_pretrain.pth"


@dataclass(frozen=True)
class TimmSource:
    """Where a timm backbone's pretrained weights come from: timm's tag, published on the
    Hugging Face hub as the repository `timm/<tag>`, and an official file one may get instead."""

    tag: str
    official: str = ""

    @property
    def hub_repo(self) -> str:
        return f"timm/{self.tag}"

    def description(self) -> str:
        """For `backbones` and error messages: files a user can download by hand."""
        hub = f"model.safetensors from https://huggingface.co/{self.hub_repo}"
        return f"{hub}, or {self.official}" if self.official else hub


SOURCES: dict[str, TimmSource] = {
    "dino_vitb16": TimmSource(
        "vit_base_patch16_224.dino",
        "the official https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth",
    ),
    "clip_vitb16": TimmSource("vit_base_patch16_clip_224.openai"),  # OpenAI's CLIP ViT-B/16 image tower
    "resnet18": TimmSource(
        "resnet18.tv_in1k", "torchvision's IMAGENET1K_V1 https://download.pytorch.org/models/resnet18-f37072fd.pth"
    ),
    "resnet50": TimmSource(
        "resnet50.tv_in1k", "torchvision's IMAGENET1K_V1 https://download.pytorch.org/models/resnet50-0676ba61.pth"
    ),
}


def _timm(name: str, pretrained: bool, weights_file: Path | None):
    """Pretrained: timm's own loading, from the hub cache if the file is there, else downloaded
    (both checked before timm is even imported, so offline fails at once).
    A user's file: read it, convert official DINO / OpenAI CLIP layouts with timm's checkpoint
    filter, and load strictly (timm alone would accept a file that matches nothing, with a
    warning)."""
    pretrained = pretrained and weights_file is None
    overlay = _hub_weights(name) if pretrained else None
    import timm
    from timm.models.vision_transformer import VisionTransformer
    from timm.models.vision_transformer import checkpoint_filter_fn as vit_checkpoint_filter

    network = timm.create_model(SOURCES[name].tag, pretrained=pretrained, num_classes=0, pretrained_cfg_overlay=overlay)
    if weights_file is not None:
        state = read_state_dict(weights_file)
        if isinstance(network, VisionTransformer):
            state = vit_checkpoint_filter(state, network)
        load_strict(network, state, ignore_prefixes=("head.", "fc."))
    return network


def _hub_weights(name: str) -> dict[str, str] | None:
    """timm's `pretrained_cfg_overlay` that loads the hub file already in the local cache, or
    None (timm downloads it) once the hub has been found reachable; else `WeightsError`."""
    source = SOURCES[name]
    cached = cached_hub_file(source.hub_repo)
    if cached is not None:
        return {"file": str(cached)}
    require_reachable(hub_file_url(source.hub_repo), name, source.official, offline=hub_offline())
    return None


@register_backbone(
    input_size=224, embed_dim=768, weights_source=SOURCES["dino_vitb16"].description(), block_channels=VIT_B_BLOCKS
)
def dino_vitb16(pretrained: bool = False, weights_file: Path | None = None):
    return _timm("dino_vitb16", pretrained, weights_file)


@register_backbone(
    input_size=224, embed_dim=768, mean=CLIP_MEAN, std=CLIP_STD, weights_source=SOURCES["clip_vitb16"].description(),
    block_channels=VIT_B_BLOCKS,
)
def clip_vitb16(pretrained: bool = False, weights_file: Path | None = None):
    return _timm("clip_vitb16", pretrained, weights_file)


@register_backbone(
    input_size=224, embed_dim=512, weights_source=SOURCES["resnet18"].description(), tags=(FINETUNE_TAG,),
    block_channels=RESNET18_BLOCKS,
)
def resnet18(pretrained: bool = False, weights_file: Path | None = None):
    return _timm("resnet18", pretrained, weights_file)


@register_backbone(
    input_size=224, embed_dim=2048, weights_source=SOURCES["resnet50"].description(), tags=(FINETUNE_TAG,),
    block_channels=RESNET50_BLOCKS,
)
def resnet50(pretrained: bool = False, weights_file: Path | None = None):
    return _timm("resnet50", pretrained, weights_file)


@register_backbone(
    input_size=224, embed_dim=2048, weights_source=f"the official DINO release {DINO_RESNET50_URL}",
    block_channels=RESNET50_BLOCKS,
)
def dino_resnet50(pretrained: bool = False, weights_file: Path | None = None):
    """A torchvision-layout ResNet-50; DINO publishes it without a head, so none is expected."""
    if weights_file is None and pretrained:
        weights_file = url_weights("dino_resnet50", DINO_RESNET50_URL)
    import timm

    network = timm.create_model("resnet50", pretrained=False, num_classes=0)
    if weights_file is not None:
        load_strict(network, read_state_dict(weights_file), ignore_prefixes=("fc.",))
    return network
