"""Small and odd images: never padded with zeros a network can read, and under half a
native-resolution detector's input, declared too small to judge instead of scored."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from deepfake_detect.detector import Detector
from deepfake_detect.transforms.preprocess import Preprocessing, center_crop, five_crops


def textured(width: int, height: int, seed: int = 0, grey: bool = False) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(30, 220, (height, width, 3), dtype=np.uint8)
    return np.repeat(pixels[..., :1], 3, axis=2) if grey else pixels


@pytest.mark.parametrize("shape", [(32, 32), (300, 20), (20, 300)])
def test_a_crop_larger_than_the_image_is_its_mirror_copies_never_zeros(shape):
    width, height = shape
    pixels = textured(width, height)
    crop = center_crop(pixels, 64)
    assert crop.shape == (64, 64, 3) and crop.min() >= 30  # no black border anywhere
    values = {tuple(v) for v in pixels.reshape(-1, 3)}
    assert {tuple(v) for v in crop.reshape(-1, 3)} <= values  # only the image's own pixels
    top, left = (64 - min(height, 64)) // 2, (64 - min(width, 64)) // 2
    inner = crop[top : top + min(height, 64), left : left + min(width, 64)]
    assert inner.shape[0] == min(height, 64) and inner.shape[1] == min(width, 64)
    for patch in five_crops(pixels, 64):
        assert patch.min() >= 30


def test_small_images_keep_their_residual_statistics():
    """The NPR-like 2x2 residual of a mirror-padded crop has the image's own spread (a zero
    border would add a hard edge and a flat area)."""
    pixels = textured(32, 32).astype(np.float32)
    crop = center_crop(textured(32, 32), 128).astype(np.float32)

    def residual_spread(a: np.ndarray) -> float:
        low = a[::2, ::2].repeat(2, axis=0).repeat(2, axis=1)
        return float(np.abs(a - low).mean())

    assert residual_spread(crop) == pytest.approx(residual_spread(pixels), rel=0.05)


def test_the_builtin_detector_declares_tiny_images_too_small_and_scores_the_rest(tmp_path):
    tiny, small, grey = tmp_path / "tiny.png", tmp_path / "small.png", tmp_path / "grey.png"
    Image.fromarray(textured(32, 32)).save(tiny)
    Image.fromarray(textured(96, 96)).save(small)
    Image.fromarray(textured(200, 150, grey=True)[..., 0]).save(grey)
    detector = Detector.load()
    assert detector.spec.preprocess.policy == "center_crop"
    refused, scored, grey_scored = detector.predict([tiny, small, grey])
    assert refused.probability is None and refused.verdict is None and "too small to judge: 32x32" in refused.error
    assert scored.probability is not None and scored.verdict and "small image: 96x96" in scored.note
    assert grey_scored.probability is not None and grey_scored.verdict and grey_scored.error is None
    assert detector.too_small(64, 500) is None and detector.too_small(500, 63)


def test_a_resizing_detector_still_scores_small_images():
    prep = Preprocessing("resize", 64, (0.5,) * 3, (0.5,) * 3)
    array = prep.array_transform(Image.fromarray(textured(16, 16)))
    assert array.shape == (3, 64, 64)
