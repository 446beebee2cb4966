import numpy as np
import pytest
from PIL import Image

from deepfake_detect.transforms import TRANSFORMS, TransformSpec, apply_transform, build_preprocess


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
