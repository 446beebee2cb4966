"""One contract over every registered backbone, plus the one with real weights offline."""

import os
import socket
import subprocess
import sys

import pytest
import skimage.data
import torch
from huggingface_hub import constants as hf_constants
from PIL import Image
from safetensors.torch import save_file

from deepfake_detect.backbones import WeightsError, backbone_info, create_backbone, list_backbones, timm_models
from deepfake_detect.backbones.registry import list_layered
from deepfake_detect.errors import ConfigError, UnknownNameError
from deepfake_detect.backbones.efficientnet_lite import packaged_weights
from deepfake_detect.errors import ExitStatus
from deepfake_detect.transforms import Preprocessing

from conftest import make_real_fake_folder

WEIGHTED = [name for name in list_backbones() if backbone_info(name).needs_weights]
EVERY_BLOCK = [
    f"{name}@blocks=" + ",".join(str(b) for b in range(len(backbone_info(name).block_channels))) for name in list_layered()
]
"""One spec per deep backbone, selecting all its blocks: checks every registered channel count."""


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


@pytest.mark.parametrize("spec", EVERY_BLOCK)
def test_block_spec_contract(spec):
    """A spec is a backbone like any other: built from its network, (N, embed_dim) finite vectors
    (mean and std per channel of every block), deterministic; its name is the canonical spec."""
    base = backbone_info(spec.split("@")[0])
    test_backbone_contract(spec)
    assert backbone_info(spec).embed_dim == 2 * sum(base.block_channels)
    assert backbone_info(spec).name == spec and backbone_info(spec).input_size == base.input_size


def test_block_specs_have_one_canonical_name():
    assert backbone_info("resnet18@blocks=last, 2,2").name == "resnet18@blocks=2,4"
    assert backbone_info("efficientnet_lite0@blocks=2,4,7,last").name == "efficientnet_lite0@blocks=2,4,7,8"


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet18"])
def test_last_block_mean_is_the_plain_backbone_with_its_weights_file(name, tmp_path):
    """The spec loads the network's own weights file, and its last block's channel means are
    exactly the globally pooled features the plain backbone gives."""
    source = create_backbone(name, weights="random", seed=3)
    path = tmp_path / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in source.network.state_dict().items()}, path)
    spec = create_backbone(f"{name}@blocks=1,last", weights=path)
    images = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        pooled, vectors = source(images), spec(images)
    assert spec.weights_id == create_backbone(name, weights=path).weights_id
    assert torch.allclose(vectors[:, -2 * source.info.embed_dim : -source.info.embed_dim], pooled, atol=1e-5)


@pytest.mark.parametrize(
    "spec, error, words",
    [
        ("efficientnet_lite0@blocks=2,9", ConfigError, ["no block '9'", "0-8 or last"]),
        ("resnet18@blocks=", ConfigError, ["resnet18@blocks=LIST", "0-4 or last"]),
        ("resnet18@layers=2", ConfigError, ["resnet18@blocks=LIST"]),
        ("npr_residual@blocks=1", ConfigError, ["no blocks", "efficientnet_lite0"]),
        ("nonet@blocks=1", UnknownNameError, ["unknown backbone 'nonet'", "resnet18"]),
    ],
)
def test_bad_block_specs_are_one_line_naming_the_valid_blocks(spec, error, words):
    with pytest.raises(error) as info:
        create_backbone(spec, weights="random")
    message = str(info.value)
    assert "\n" not in message and all(word in message for word in words), message


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


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connecting is refused at once, as offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def no_network_sources(monkeypatch, tmp_path, closed_port):
    """Every download source points at a closed loopback port, and the caches are empty.
    (The hub's endpoint and cache folder are read at its import: set them where it keeps them.)"""
    monkeypatch.setattr(hf_constants, "ENDPOINT", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(timm_models, "DINO_RESNET50_URL", f"http://127.0.0.1:{closed_port}/dino_resnet50_pretrain.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return f"127.0.0.1:{closed_port}"


@pytest.mark.parametrize("name", sorted(timm_models.SOURCES))
def test_offline_pretrained_is_one_line_naming_the_file(name, no_network_sources):
    with pytest.raises(WeightsError) as info:
        create_backbone(name, weights="pretrained")
    message = str(info.value)
    assert "\n" not in message and "--weights" in message and no_network_sources in message
    assert "cannot be reached" in message


@pytest.mark.parametrize("name", sorted(timm_models.SOURCES))
def test_hub_repositories_are_timms_own(name):
    import timm

    source = timm_models.SOURCES[name]
    assert timm.models.get_pretrained_cfg(source.tag).hf_hub_id == source.hub_repo


def test_hub_offline_switch_skips_the_probe(no_network_sources, monkeypatch):
    """With HF_HUB_OFFLINE on, nothing is even tried: a listening endpoint gets no connection."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0)
        monkeypatch.setattr(hf_constants, "ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(WeightsError, match="HF_HUB_OFFLINE is set: download http://127.0.0.1.* --weights PATH"):
            create_backbone("resnet18", weights="pretrained")
        with pytest.raises(BlockingIOError):
            server.accept()


def test_pretrained_weights_in_the_hub_cache_load_offline(no_network_sources, tmp_path):
    """A warm cache needs no network: the hub's own cache layout, holding timm's full model."""
    import timm

    tag = timm_models.SOURCES["resnet18"].tag
    torch.manual_seed(3)
    full = timm.create_model(tag, pretrained=False).eval()  # with its ImageNet head, as on the hub
    snapshot = tmp_path / "hub" / f"models--timm--{tag}" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in full.state_dict().items()}, snapshot / "model.safetensors")
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0123abc")
    backbone = create_backbone("resnet18", weights="pretrained")
    images = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        assert torch.allclose(backbone(images), full.forward_head(full.forward_features(images), pre_logits=True), atol=1e-5)
    assert backbone.weights_id == "pretrained:resnet18"


def test_cli_offline_pretrained_fails_at_once_in_one_line(tmp_path, closed_port):
    """The real command, offline: HF_ENDPOINT at a closed port, an empty hub cache."""
    folder = make_real_fake_folder(tmp_path / "data", per_class=1)
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{closed_port}", "HF_HUB_CACHE": str(tmp_path / "hub"),
           "DEEPFAKE_DETECT_CACHE": str(tmp_path / "cache")}
    env.pop("HF_HUB_OFFLINE", None)
    result = subprocess.run([sys.executable, "-m", "deepfake_detect", "extract", str(folder), "--backbone", "resnet18"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == ExitStatus.USAGE, result.stderr
    errors = [line for line in result.stderr.splitlines() if "127.0.0.1" in line]
    assert len(errors) == 1 and "--weights" in errors[0] and "Retrying" not in result.stderr
    assert "Traceback" not in result.stderr


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
    to_tensor = Preprocessing.for_backbone(info, "resize").tensor_transform
    image = to_tensor(Image.fromarray(skimage.data.chelsea()))
    with torch.inference_mode():
        logits = classifier(image[None])
        from_features = classifier._fc(backbone(image[None]))
    assert int(logits.argmax()) in range(281, 286)
    assert torch.allclose(logits, from_features, atol=1e-4)
    coffee = to_tensor(Image.fromarray(skimage.data.coffee()))
    with torch.inference_mode():
        assert int(classifier(coffee[None]).argmax()) in {504, 967, 968}  # coffee mug, espresso, cup
