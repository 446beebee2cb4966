"""Training-time augmentation: CNNDetection's blur + JPEG, random crops and flips.

Wang et al. (CVPR 2020, "CNN-generated images are surprisingly easy to spot... for now")
found that training on blurred and JPEG-compressed copies (Gaussian sigma ~ U[0, 3], quality
~ U{30..100}, each with probability 0.1 or 0.5 in their "Blur+JPEG (0.1)" and "(0.5)" models)
is what lets a detector survive the same degradations at test time, at a small cost in clean
accuracy. 0.1 is the default here; 0.5 trades more clean accuracy for more robustness.

All randomness is drawn from torch's generator, which the DataLoader seeds per worker from
the run seed, so an epoch's augmentations are the same on every run with the same seed.

Geometry (the same as at test time, plus jitter):
- "resize": the image is resized (bicubic) to the input size, as `build_preprocess` does at
  test time, then cropped at a random offset from a reflect-padded copy (an eighth of the
  size on each side). Images smaller than the input, such as 32 px CIFAKE, are therefore
  resized up first and cropped after, and train and test see the same scale.
- "center_crop": no resampling (it would blur the traces); random crops of the input size,
  zero-padded where the image is smaller, as the test-time centre crop pads.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchvision.transforms.v2 as T
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from ..transforms.degrade import gaussian_blur, jpeg_reencode
from ..transforms.preprocess import PreprocessPolicy, build_preprocess


class AugmentSpec(BaseModel):
    """Which augmentations are on; `enabled=False` turns them all off at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    crop: bool = True
    flip: bool = True
    blur_prob: float = Field(0.1, ge=0, le=1)
    blur_sigma: tuple[float, float] = (0.0, 3.0)
    jpeg_prob: float = Field(0.1, ge=0, le=1)
    jpeg_quality: tuple[int, int] = (30, 100)


class BlurJpeg:
    """CNNDetection's `data_augment`: blur, then JPEG, each with its own probability."""

    def __init__(self, spec: AugmentSpec):
        self.spec = spec

    def __call__(self, img: Image.Image) -> Image.Image:
        spec = self.spec
        if spec.blur_prob and torch.rand(()) < spec.blur_prob:
            low, high = spec.blur_sigma
            img = gaussian_blur(img, low + float(torch.rand(())) * (high - low))
        if spec.jpeg_prob and torch.rand(()) < spec.jpeg_prob:
            low, high = spec.jpeg_quality
            img = jpeg_reencode(img, int(torch.randint(low, high + 1, ())))
        return img


def build_train_transform(
    policy: PreprocessPolicy,
    size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    augment: AugmentSpec,
) -> Callable[[Image.Image], torch.Tensor]:
    """PIL RGB image -> augmented, normalised tensor (3, size, size)."""
    if not augment.enabled:
        return build_preprocess(policy, size, mean, std)
    steps: list[Callable] = []
    if policy == "resize":
        steps.append(T.Resize((size, size), interpolation=T.InterpolationMode.BICUBIC, antialias=True))
    if augment.blur_prob or augment.jpeg_prob:
        steps.append(BlurJpeg(augment))
    if augment.crop:
        if policy == "resize":
            steps.append(T.RandomCrop(size, padding=max(1, size // 8), padding_mode="reflect"))
        else:
            steps.append(T.RandomCrop(size, pad_if_needed=True))
    elif policy == "center_crop":
        steps.append(T.CenterCrop(size))
    if augment.flip:
        steps.append(T.RandomHorizontalFlip())
    steps += [T.PILToTensor(), T.ToDtype(torch.float32, scale=True), T.Normalize(list(mean), list(std))]
    return T.Compose(steps)
