"""Low-level networks: residual backbones, FerretNet-S, trainable patch networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

import deepfake_detect.backbones.ferretnet as ferretnet
import deepfake_detect.backbones.patchnet as patchnet
from deepfake_detect.backbones.patch_sizes import PATCH_WIDTHS
import deepfake_detect.backbones.residual as residual
from deepfake_detect.backbones import backbone_info, create_backbone
from deepfake_detect.errors import WeightsError

SHARED = Path(__file__).resolve().parents[2] / "shared"
FERRET_FILE = SHARED / "weights" / "ferretnet" / "ferretnet-s-median-3.pth"
RESIDUAL_BACKBONES = [f"{kind}_residual" for kind in residual.RESIDUALS]
PATCH_BACKBONES = [f"patchnet_{kind}{size}" for size in PATCH_WIDTHS for kind in residual.RESIDUALS]


def photo_like(n: int, side: int, seed: int = 0) -> torch.Tensor:
    """Smooth random images in [0, 1] with some fine texture, like photographs at small scale."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, side // 8, side // 8, generator=generator)
    smooth = F.interpolate(coarse, size=(side, side), mode="bicubic", align_corners=False)
    return (smooth + 0.03 * torch.rand(n, 3, side, side, generator=generator)).clamp(0, 1)


@pytest.mark.parametrize("name", RESIDUAL_BACKBONES)
def test_residual_backbone_contract(name):
    info = backbone_info(name)
    assert info.mean == (0.0, 0.0, 0.0) and info.std == (1.0, 1.0, 1.0) and not info.needs_weights
    backbone = create_backbone(name)
    images = photo_like(3, info.input_size)
    with torch.no_grad():
        features = backbone(images)
        again = backbone(images)
        alone = backbone(images[1:2])
    assert features.shape == (3, info.embed_dim)
    assert torch.isfinite(features).all()
    assert torch.equal(features, again)
    torch.testing.assert_close(alone[0], features[1], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", RESIDUAL_BACKBONES)
def test_residual_backbone_is_finite_on_a_flat_image(name):
    """A constant image has a zero residual: statistics must not divide by zero."""
    info = backbone_info(name)
    with torch.no_grad():
        features = create_backbone(name)(torch.full((1, 3, info.input_size, info.input_size), 0.5))
    assert torch.isfinite(features).all()


def test_npr_residual_vanishes_on_nearest_upsampled_images():
    small = photo_like(2, 32)
    upsampled = F.interpolate(small, scale_factor=2, mode="nearest")
    assert residual.npr_residual(upsampled).abs().max() == 0
    assert residual.npr_residual(photo_like(2, 64)).abs().max() > 0.01


def test_npr_residual_takes_odd_sides():
    assert residual.npr_residual(torch.rand(1, 3, 33, 31)).shape == (1, 3, 32, 30)


def test_median_residual_is_the_median_of_the_eight_neighbours():
    images = torch.rand(2, 3, 9, 11)
    padded = F.pad(images, (1, 1, 1, 1), mode="reflect")
    windows = F.unfold(padded.reshape(6, 1, 11, 13), 3).view(2, 3, 9, -1)
    neighbours = windows[:, :, [0, 1, 2, 3, 5, 6, 7, 8]].numpy()
    expected = images.numpy() - np.median(neighbours, axis=2).reshape(images.shape)
    np.testing.assert_allclose(residual.median_residual(images).numpy(), expected, atol=1e-6)


def test_masked_median_follows_ferretnet_definition():
    """Zero padding, centre replaced by 0, median of the nine values (torch's lower median)."""
    images = torch.randn(1, 2, 5, 6)
    padded = F.pad(images, (1, 1, 1, 1)).numpy()
    expected = np.empty(images.shape, dtype=np.float32)
    for y in range(5):
        for x in range(6):
            window = padded[0, :, y : y + 3, x : x + 3].reshape(2, 9).copy()
            window[:, 4] = 0
            expected[0, :, y, x] = np.sort(window, axis=1)[:, 4]
    np.testing.assert_allclose(residual.masked_median(images).numpy(), expected)


def test_srm_residual_ignores_flat_and_linear_images():
    ramp = torch.linspace(0, 1, 20).view(1, 1, 1, 20).expand(1, 3, 20, 20)
    out = residual.srm_residual(ramp)
    assert out.shape == (1, 9, 20, 20)
    assert out[..., 2:-2, 2:-2].abs().max() < 1e-5


# ---------------------------------------------------------------- FerretNet-S


@pytest.mark.skipif(not FERRET_FILE.is_file(), reason="shared weights ../shared/weights/ferretnet absent")
def test_ferretnet_loads_the_published_checkpoint_strictly():
    network = ferretnet.build_ferretnet(FERRET_FILE)
    assert sum(p.numel() for p in network.parameters()) == 126_289
    state = torch.load(FERRET_FILE, map_location="cpu", weights_only=True)["model"]
    ours = network.state_dict()
    assert set(ours) == set(state)
    assert all(ours[k].shape == state[k].shape for k in state)
    image = Image.fromarray((photo_like(1, 300)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    probability = ferretnet.ferret_fake_probability(network, ferretnet.ferret_tensor(image)[None])
    assert probability.shape == (1,) and 0 <= probability.item() <= 1


def test_ferretnet_random_twin_round_trips_through_safetensors(tmp_path):
    network = ferretnet.build_ferretnet("random", seed=3)
    with torch.no_grad():  # give the batch norms non-trivial statistics
        network.train()(torch.randn(4, 3, 64, 64))
    network.eval()
    path = tmp_path / "ferret.safetensors"
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(path))
    loaded = ferretnet.build_ferretnet(path)
    batch = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(ferretnet.ferret_fake_probability(loaded, batch), ferretnet.ferret_fake_probability(network, batch))


def test_ferretnet_refuses_a_file_of_another_shape(tmp_path):
    state = ferretnet.build_ferretnet("random").state_dict()
    state["logit.1.weight"] = torch.zeros(2, 128)
    path = tmp_path / "bad.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    with pytest.raises(WeightsError, match="bad.safetensors"):
        ferretnet.build_ferretnet(path)


def test_ferret_tensor_crops_without_resizing():
    array = np.random.default_rng(0).integers(0, 256, (300, 320, 3), dtype=np.uint8)
    tensor = ferretnet.ferret_tensor(Image.fromarray(array))
    assert tensor.shape == (3, 256, 256)
    top, left = (300 - 256) // 2, (320 - 256) // 2
    expected = (array[top, left, 0] / 255 - ferretnet.FERRET_MEAN[0]) / ferretnet.FERRET_STD[0]
    assert tensor[0, 0, 0].item() == pytest.approx(expected, abs=1e-5)


# ---------------------------------------------------------------- patch networks


@pytest.mark.parametrize("name", PATCH_BACKBONES)
def test_patch_backbone_contract(name):
    info = backbone_info(name)
    backbone = create_backbone(name, "random")
    with torch.no_grad():
        for side in (48, 77):  # fully convolutional: any size
            assert backbone(torch.rand(2, 3, side, side)).shape == (2, info.embed_dim)
    with pytest.raises(WeightsError):
        create_backbone(name, "pretrained")


@pytest.mark.parametrize("size, low, high", [("", 500_000, 1_500_000), ("_s", 100_000, 300_000)])
@pytest.mark.parametrize("kind", list(residual.RESIDUALS))
def test_patchnet_size_is_small(kind, size, low, high):
    network = patchnet.build_patchnet(kind, size=size)
    assert low <= sum(p.numel() for p in network.parameters()) <= high
    assert network(torch.rand(3, 3, 40, 40)).shape == (3, 2)
    assert create_backbone(f"patchnet_{kind}{size}", "random").info.embed_dim == network.head.in_features


def test_patchnet_weights_round_trip_and_load_as_backbone(tmp_path):
    network = patchnet.build_patchnet("npr", seed=1).eval()
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(path))
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(patchnet.build_patchnet("npr", path).eval()(images), network(images))
        torch.testing.assert_close(create_backbone("patchnet_npr", path)(images), network.features(images))
    with pytest.raises(WeightsError):
        patchnet.build_patchnet("median", tmp_path / "missing.safetensors")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["npr", "median"])
def test_patchnet_learns_upsampling_traces(kind):
    """Real crops against their nearest-2x down-up-sampled versions: the loss falls."""
    torch.manual_seed(0)
    network = patchnet.build_patchnet(kind).train()
    optimizer = torch.optim.AdamW(network.parameters(), lr=3e-3)
    losses = []
    for step in range(12):
        real = photo_like(8, 32, seed=step)
        fake = F.interpolate(F.avg_pool2d(real, 2), scale_factor=2, mode="nearest")
        images, labels = torch.cat([real, fake]), torch.tensor([0] * 8 + [1] * 8)
        loss = F.cross_entropy(network(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
