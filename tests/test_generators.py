"""Generators: every registered one honours the contract; the real TAESD files load strictly
and redraw a real photograph faithfully; weights are found, or refused in one line."""

from __future__ import annotations

import email.message
import urllib.error
import urllib.response
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
import torch.hub
from safetensors.torch import save_file

from conftest import save_vae_twin
from deepfake_detect.errors import UnknownNameError, WeightsError
from deepfake_detect.generators import create_generator, default_generators, generator_info, list_generators

SHARED_TAESD = Path(__file__).resolve().parents[2] / "shared" / "weights" / "taesd"
TAESD_FAMILY = [name for name in list_generators() if generator_info(name).family == "taesd"]
needs_shared = pytest.mark.skipif(not SHARED_TAESD.is_dir(), reason=f"shared weights not found at {SHARED_TAESD}")


def photo(size: int) -> torch.Tensor:
    """A centre crop of a real photograph, (1, 3, size, size) in [0, 1]."""
    pixels = skimage.data.astronaut()
    top, left = (pixels.shape[0] - size) // 2, (pixels.shape[1] - size) // 2
    crop = np.ascontiguousarray(pixels[top : top + size, left : left + size, :3])
    return torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / ((a - b) ** 2).mean()))


@pytest.mark.parametrize("name", list_generators())
def test_every_generator_redraws_images_in_range_deterministically(name):
    images = torch.cat([photo(64), torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))])
    generator = create_generator(name, weights="random")
    with torch.inference_mode():
        first = generator(images)
        again = create_generator(name, weights="random")(images)
    assert first.shape == images.shape and first.dtype == torch.float32
    assert 0 <= float(first.min()) and float(first.max()) <= 1
    assert torch.equal(first, again)
    assert generator.name == name and generator.weights_id
    assert not any(p.requires_grad for p in generator.parameters()) and not generator.training
    with pytest.raises(ValueError, match="multiples of 8"):
        generator(torch.rand(1, 3, 60, 64))


@pytest.mark.parametrize("name", list_generators())
def test_every_generator_says_where_it_comes_from(name):
    info = generator_info(name)
    assert info.description and info.licence and info.family
    if info.needs_weights:
        assert info.latent_channels and all(info.download_url(stem).startswith("https://") for stem in info.weights_files)


def test_an_unknown_generator_lists_the_valid_ones():
    with pytest.raises(UnknownNameError, match="taesd"):
        create_generator("stylegan9")


@needs_shared
@pytest.mark.parametrize("name", TAESD_FAMILY)
def test_the_published_weights_load_strictly_and_redraw_a_photo_faithfully(name):
    generator = create_generator(name, weights=SHARED_TAESD)
    image = photo(128)  # PSNR 24-30 dB here (25-31 dB on the whole 512 px photo)
    with torch.inference_mode():
        redrawn = generator(image)
    assert psnr(redrawn, image) > 20
    assert not torch.equal((redrawn * 255).round(), (image * 255).round())  # traces, not a copy
    assert len(generator.weights_id.split("+")) == 2  # both files' hashes: provenance


@pytest.mark.slow
@needs_shared
def test_one_weights_file_names_its_folder(tmp_path):
    encoder = next(SHARED_TAESD.glob("taesd_encoder.*"))
    assert create_generator("taesd", weights=encoder).weights_id == create_generator("taesd", weights=SHARED_TAESD).weights_id


def save_twin(name: str, folder: Path, as_name: str | None = None) -> None:
    """The random twin's weights written as `as_name`'s files (safetensors, like ComfyUI's)."""
    twin = create_generator(name, weights="random")
    folder.mkdir(parents=True, exist_ok=True)
    for part in ("encoder", "decoder"):
        state = {k: v.contiguous() for k, v in getattr(twin, part).state_dict().items()}
        save_file(state, str(folder / f"{as_name or name}_{part}.safetensors"))


def test_weights_from_the_environment_folder(tmp_path, monkeypatch):
    save_twin("taesd", tmp_path / "weights")
    monkeypatch.setenv(generator_info("taesd").weights_env, str(tmp_path / "weights"))
    images = photo(32)
    with torch.inference_mode():
        assert torch.equal(create_generator("taesd")(images), create_generator("taesd", weights="random")(images))


def test_weights_of_another_architecture_are_refused_naming_the_file(tmp_path):
    save_twin("taesd", tmp_path, as_name="taesd3")  # 4 latent channels where taesd3 has 16
    with pytest.raises(WeightsError, match=r"taesd3_encoder\.safetensors: does not fit .*wrong shape"):
        create_generator("taesd3", weights=tmp_path)


def test_a_missing_weights_file_is_named_with_its_download(tmp_path):
    save_twin("taef2", tmp_path)
    (tmp_path / "taef2_decoder.safetensors").unlink()
    with pytest.raises(WeightsError, match=r"taef2_decoder.*https://github.com/madebyollin/taesd/raw/main/taef2_decoder\.pth"):
        create_generator("taef2", weights=tmp_path)
    with pytest.raises(WeightsError, match="no such folder"):
        create_generator("taef2", weights=tmp_path / "absent")


def test_offline_without_weights_fails_fast_in_one_line(tmp_path, monkeypatch):
    info = generator_info("taesdxl")
    monkeypatch.delenv(info.weights_env, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(request, timeout=None):  # the network boundary (torch.hub's download): no internet here
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "urlopen", offline)
    with pytest.raises(WeightsError) as caught:
        create_generator("taesdxl")
    message = str(caught.value)
    assert "taesdxl_encoder.pth" in message and info.download_url("taesdxl_encoder") in message
    assert "\n" not in message and not list((tmp_path / "torch").rglob("*.pth"))


def test_a_download_lands_in_the_cache_and_is_not_repeated(tmp_path, monkeypatch):
    source = tmp_path / "published"
    twin = create_generator("taesd", weights="random")
    source.mkdir()
    for part in ("encoder", "decoder"):
        torch.save(getattr(twin, part).state_dict(), source / f"taesd_{part}.pth")
    monkeypatch.delenv(generator_info("taesd").weights_env, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    fetched = []

    def serve(request, timeout=None):  # the network boundary (torch.hub's download): the published files
        url = request.full_url
        fetched.append(url)
        return urllib.response.addinfourl(open(source / url.rsplit("/", 1)[1], "rb"), email.message.Message(), url, 200)

    monkeypatch.setattr(torch.hub, "urlopen", serve)
    first = create_generator("taesd")
    second = create_generator("taesd")
    assert len(fetched) == 2 and first.weights_id == second.weights_id
    images = photo(32)
    with torch.inference_mode():
        assert torch.equal(first(images), twin(images))


def test_all_means_every_generator_but_the_full_size_ones():
    drawn_banks = {"random_upsamplers", "decoder_chains"}  # asked for by name: they change what `all` made
    assert set(default_generators()) == set(list_generators()) - {"sd_vae", "sdxl_vae", "flux1_vae"} - drawn_banks
    assert {"taesd", "tconv"} <= set(default_generators())


@pytest.mark.slow
def test_a_full_vae_loads_the_published_layout_from_a_file_of_any_name(tmp_path):
    """The diffusers-format file Hugging Face serves, and the same weights under the attention
    names diffusers used before (query/key/value/proj_attn), give the twin's reconstruction."""
    twin = save_vae_twin("sd_vae", tmp_path / "diffusion_pytorch_model.safetensors")
    state = {k: v.contiguous() for k, v in twin.vae.state_dict().items()}
    old_names = {k.replace(".to_q.", ".query.").replace(".to_out.0.", ".proj_attn."): v for k, v in state.items()}
    assert old_names.keys() != state.keys()
    save_file(old_names, str(tmp_path / "old.safetensors"))
    images = photo(64)
    with torch.inference_mode():
        expected = twin(images)
        for file in ("diffusion_pytorch_model.safetensors", "old.safetensors"):
            loaded = create_generator("sd_vae", weights=tmp_path / file)
            assert torch.equal(loaded(images), expected) and loaded.weights_id.startswith("sd_vae:")


def test_a_vae_of_another_family_is_refused_naming_the_file(tmp_path):
    save_vae_twin("flux1_vae", tmp_path / "sd_vae.safetensors")  # 16 latent channels, no 1x1 convolutions
    with pytest.raises(WeightsError, match=r"sd_vae\.safetensors: does not fit the sd_vae network: .*missing"):
        create_generator("sd_vae", weights=tmp_path)


def test_a_vae_in_the_original_ldm_layout_is_refused_with_what_to_get(tmp_path):
    save_file({"encoder.down.0.block.0.norm1.weight": torch.ones(128)}, str(tmp_path / "ae.safetensors"))
    with pytest.raises(WeightsError, match=r"ae\.safetensors: .*original LDM layout.*diffusion_pytorch_model"):
        create_generator("flux1_vae", weights=tmp_path / "ae.safetensors")


def test_offline_a_full_vae_names_its_hugging_face_file(tmp_path, monkeypatch):
    info = generator_info("sdxl_vae")
    monkeypatch.delenv(info.weights_env, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(request, timeout=None):  # the network boundary (torch.hub's download)
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "urlopen", offline)
    with pytest.raises(WeightsError, match=r"needs sdxl_vae\.safetensors .*https://huggingface\.co/stabilityai/sdxl-vae/"):
        create_generator("sdxl_vae")


@pytest.mark.parametrize("name", ["random_upsamplers", "decoder_chains"])
def test_a_drawn_bank_redraws_an_image_the_same_in_any_batch_and_records_what_it_drew(name):
    """Each image's member is picked by its own pixels: the same output alone, in a batch, or in
    another order (a resumed make-fakes run); another seed draws other decoders."""
    images = torch.cat([photo(64), torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))])
    generator = create_generator(name, seed=0)
    with torch.inference_mode():
        together = generator(images)
        alone = torch.cat([generator(images[i : i + 1]) for i in range(4)])
        reversed_ = generator(images.flip(0)).flip(0)
        other_seed = create_generator(name, seed=1)(images)
    assert torch.equal(together, alone) and torch.equal(together, reversed_)
    assert not torch.equal(together, other_seed)
    assert psnr(together[:1], images[:1]) > 14  # still the picture
    members = generator.weights_id.split(":", 1)[1].split(";")
    assert generator.weights_id.startswith("seed0:") and len(members) == 16
    assert {kind for kind in ("tconv", "upsample_conv", "bilinear_conv", "pixel_shuffle") if kind in generator.weights_id}
    assert ("jpeg" in generator.weights_id) == (name == "decoder_chains")
