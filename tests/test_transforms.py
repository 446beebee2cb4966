import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from deepfake_detect.transforms import (
    ROBUSTNESS_LEVELS,
    TRANSFORMS,
    Degradation,
    TransformSpec,
    apply_transform,
    Preprocessing,
    build_preprocess,
)
from deepfake_detect.transforms.preprocess import PATCH_COUNT, embed_crops


@pytest.fixture
def photo():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8))


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transforms_are_deterministic_per_image_and_seed(photo, name):
    spec = TransformSpec(name=name)
    first = np.asarray(apply_transform(photo, spec, "ab" * 16))
    again = np.asarray(apply_transform(photo, spec, "ab" * 16))
    assert np.array_equal(first, again)
    if name != "none":
        other_seed = np.asarray(apply_transform(photo, TransformSpec(name=name, seed=1), "ab" * 16))
        assert not np.array_equal(first, other_seed)
        assert not np.array_equal(first, np.asarray(photo))


def test_cache_key_covers_only_effective_parameters():
    assert TransformSpec(name="blur").key() == TransformSpec(name="blur", brightness=0.9).key()
    assert TransformSpec(name="blur").key() != TransformSpec(name="blur", blur_sigma=(1, 3)).key()
    assert TransformSpec().key() == "none"


@pytest.mark.parametrize("policy", ["resize", "center_crop"])
def test_preprocess_gives_backbone_input(photo, policy):
    tensor = build_preprocess(policy, 32, (0.5,) * 3, (0.25,) * 3)(photo)
    assert tensor.shape == (3, 32, 32)
    if policy == "center_crop":  # no resampling: the centre pixels are the original ones
        original = (np.asarray(photo)[4:36, 4:36].transpose(2, 0, 1) / 255 - 0.5) / 0.25
        assert np.allclose(tensor.numpy(), original, atol=1e-5)


@pytest.mark.parametrize(
    "spec, label",
    [
        (TransformSpec(), "none"),
        (TransformSpec(seed=3), "none"),  # a seed has nothing to draw for
        (TransformSpec(name="blur", brightness=0.9), "blur"),  # jitter parameters do not apply
        (TransformSpec(name="blur", blur_sigma=(1, 3)), "blur(sigma=1-3)"),
        (TransformSpec(name="blur+jitter", hue=0.2, seed=1), "blur+jitter(hue=0.2, seed=1)"),
    ],
)
def test_label_is_the_name_plus_changed_effective_parameters(spec, label):
    assert spec.label() == label


@pytest.mark.parametrize("name", TRANSFORMS)
def test_default_label_is_the_name(name):
    assert TransformSpec(name=name).label() == name


def test_a_transform_cannot_carry_a_degradation():
    with pytest.raises(ValidationError):
        TransformSpec(name="blur", degrade="jpeg", degrade_level=75)


@pytest.mark.parametrize("kind", ROBUSTNESS_LEVELS)
def test_degradations_at_every_robustness_level(photo, kind):
    for level in ROBUSTNESS_LEVELS[kind]:
        degradation = Degradation(kind=kind, level=level)
        out = degradation.apply(photo)
        assert out.mode == "RGB" and degradation.key() == f"{kind}:{level:g}"
        assert np.array_equal(np.asarray(out), np.asarray(photo)) == degradation.is_identity
        assert degradation(photo, 7).size == out.size  # usable as the loader's image transform


@pytest.mark.parametrize(
    "kind, level", [("jpeg", 0), ("jpeg", 101), ("jpeg", 75.5), ("blur", -1), ("downscale", 0), ("downscale", 1.5)]
)
def test_degradation_levels_are_validated(kind, level):
    with pytest.raises(ValidationError):
        Degradation(kind=kind, level=level)


def test_patches_are_native_crops_of_the_corners_and_centre():
    pixels = np.random.default_rng(1).integers(0, 255, (50, 70, 3), dtype=np.uint8)
    prep = Preprocessing("patches", 32, (0.0,) * 3, (1.0,) * 3)
    crops = prep.array_transform(Image.fromarray(pixels)) * 255
    assert crops.shape == (PATCH_COUNT, 3, 32, 32) and crops.flags["C_CONTIGUOUS"]
    expected = [pixels[:32, :32], pixels[:32, -32:], pixels[-32:, :32], pixels[-32:, -32:], pixels[9:41, 19:51]]
    for crop, original in zip(crops, expected):  # never resampled
        assert np.allclose(crop, original.transpose(2, 0, 1), atol=1e-3)
    assert prep.draft_size is None and prep.key.startswith(f"patches{PATCH_COUNT}mean:32+")


def test_patches_mirror_pad_small_images_and_never_resize_them_up():
    """No zero border a network could read as evidence (issue 22): the padding mirrors the image."""
    pixels = np.full((20, 40, 3), 200, dtype=np.uint8)
    crops = Preprocessing("patches", 32, (0.0,) * 3, (1.0,) * 3).array_transform(Image.fromarray(pixels))
    assert crops.shape == (PATCH_COUNT, 3, 32, 32)
    assert np.allclose(crops, 200 / 255, atol=1e-3)


def test_embed_crops_averages_each_images_crop_vectors():
    batch = np.arange(2 * 3 * 1 * 2 * 2, dtype=np.float32).reshape(2, 3, 1, 2, 2)
    vectors = embed_crops(lambda images: images.reshape(len(images), -1), batch)
    assert np.array_equal(vectors, batch.reshape(2, 3, 4).mean(axis=1))
    assert np.array_equal(embed_crops(lambda images: images.sum(axis=(1, 2, 3)), batch[0]), batch[0].sum(axis=(1, 2, 3)))
