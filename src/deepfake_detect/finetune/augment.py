"""Training-time augmentation: CNNDetection's blur + JPEG, random crops, flips and down-scaling.

Wang et al. (CVPR 2020, "CNN-generated images are surprisingly easy to spot... for now")
found that training on blurred and JPEG-compressed copies (Gaussian sigma ~ U[0, 3], quality
~ U{30..100}, each with probability 0.1 or 0.5 in their "Blur+JPEG (0.1)" and "(0.5)" models)
is what lets a detector survive the same degradations at test time, at a small cost in clean
accuracy. 0.1 is the default here; 0.5 trades more clean accuracy for more robustness.

All randomness is drawn from torch's generator, which the DataLoader seeds per worker from
the run seed, so an epoch's augmentations are the same on every run with the same seed.

The transform takes one image, or several that must get the same augmentation: called with
(real, fake) of an aligned pair (`finetune --paired`), it draws once and gives both the same
blur sigma, JPEG quality, crop position, down-scaling and flip, and returns both tensors.

Order: (resize,) blur, JPEG, crop (or down-scale), flip.

Geometry (the same as at test time, plus jitter):
- "resize": the image is resized (bicubic) to the input size, as `build_preprocess` does at
  test time, then cropped at a random offset from a reflect-padded copy (an eighth of the
  size on each side). Images smaller than the input, such as 32 px CIFAKE, are therefore
  resized up first and cropped after, and train and test see the same scale.
- "center_crop": no resampling (it would blur the traces); random crops of the input size,
  mirror-padded where the image is smaller, as the test-time centre crop pads.

Dual data alignment (`finetune --paired` only; DDA, NeurIPS 2025, and SAFE, KDD 2025; all
off by default): the real comes first and the fake second in a call, and these steps run
before everything above.
- `align_jpeg_prob`: the FAKE alone is JPEG-compressed at a quality drawn from
  `align_jpeg_quality`, the range the reals' own JPEG history comes from (make-fakes saves
  a real crop losslessly, so its source's tables are gone), so "carries JPEG traces" stops
  meaning real. DDA does it at each real's estimated quality, half of the time.
- `blend_prob`: a random fraction (up to `blend_max`) of the real is mixed into its fake,
  in pixels (half of the time) or in the frequency domain (the fake's low-frequency band,
  up to `blend_max` of the spectrum's radius, replaced by the real's): what is left to
  tell them apart is the fake's high-frequency trace.
- `rescale_prob`: real and fake resized by one random factor from `rescale_factor`.
- `rotate_prob` (up to `rotate_degrees`), `color_jitter_prob` (brightness, contrast,
  saturation 0.2, hue 0.02), `mask_prob` (up to `mask_max` of the image in random 16 px
  squares set to zero): SAFE's, one draw for both images.
- `grayscale_prob`: both images turned grey (equal channels), so grayscale photographs, which
  no fake in the pairs otherwise resembles, are not read as odd.
- `denoise_real_prob`: the REAL alone is smoothed (Gaussian, sigma from `denoise_sigma`). An
  autoencoder's reconstruction has no sensor noise, so on raw pairs "noise-free" means fake,
  and real photographs that are clean (bokeh, studio portraits, retouched or shrunk web
  images) are read as fake. A smoothed real makes noise level uninformative, as DDA's JPEG
  step does for compression: what is left is the decoder's own trace.

Down-scaling (`downscale_prob`, off by default): with that chance the crop takes a region
`downscale_factor` (1.1-2) times the input size instead, at the same random position (the
centre without `crop`), and resizes that region down to the input size (Pillow's bicubic), as
a photo shrunk for the web loses and blends its pixel-level traces. The whole image is never
resized: only the region. The region is at most what the image holds (its short side, or the
input size if that is larger): under "center_crop" that is the image at native resolution,
under "resize" only the padded copy (so at most 1.25x, and nothing without `crop`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torchvision.transforms.v2 as T
from PIL import Image, ImageFilter

from ..transforms.degrade import jpeg_reencode
from ..transforms.preprocess import PreprocessPolicy, build_preprocess, center_crop
from .config import AugmentSpec


Images = Image.Image | tuple[Image.Image, ...]


def _as_called(images: Sequence[Image.Image]) -> Images:
    """One image back for one image in, a tuple for several (torchvision v2's convention)."""
    return images[0] if len(images) == 1 else tuple(images)


def _as_tuple(images: Images) -> tuple[Image.Image, ...]:
    return (images,) if isinstance(images, Image.Image) else images


def blur_jpeg(spec: AugmentSpec) -> list[Callable]:
    """CNNDetection's `data_augment` from torchvision v2: blur, then JPEG, each with its own
    probability. v2 draws once per call, so both images of an aligned pair get the same sigma
    and quality. torchvision's blur needs sigma > 0, so U[0, 3] becomes U[0.01, 3] (0.01 px
    changes no pixel), over a kernel reaching 3 sigma."""
    steps: list[Callable] = []
    if spec.blur_prob:
        low, high = spec.blur_sigma
        kernel = 2 * math.ceil(3 * high) + 1
        steps.append(T.RandomApply([T.GaussianBlur(kernel, sigma=(max(low, MIN_SIGMA), max(high, MIN_SIGMA)))],
                                   p=spec.blur_prob))
    if spec.jpeg_prob:
        steps.append(T.RandomApply([T.JPEG(quality=spec.jpeg_quality)], p=spec.jpeg_prob))
    return steps


MIN_SIGMA = 0.01


class CropDownscale:
    """The crop of the input size (random, or the centre without `crop`), or with
    `downscale_prob` a larger region resized down to it; one position for all the images of a call.

    Hand-written around v2's crops because v2 has no such step: `RandomResizedCrop` sizes its
    region as a share of the *image's* area (and varies its aspect), while this region is a
    multiple (1.1-2x) of the *input* size, square, bounded by what the image holds."""

    def __init__(self, policy: PreprocessPolicy, size: int, spec: AugmentSpec):
        self.policy, self.size, self.spec = policy, size, spec
        self.padding = max(1, size // 8)

    def __call__(self, *images: Image.Image) -> Images:
        region = self.region(images[0])
        crop = self.cropper(region)
        if crop is not None:
            images = _as_tuple(crop(*images))
        if region != self.size:
            images = tuple(img.resize((self.size, self.size), Image.Resampling.BICUBIC) for img in images)
        return _as_called(images)

    def region(self, img: Image.Image) -> int:
        """The side of the square to take: the input size, or with `downscale_prob` a random
        multiple of it, as large as the image allows."""
        spec = self.spec
        if not (spec.downscale_prob and torch.rand(()) < spec.downscale_prob):
            return self.size
        low, high = spec.downscale_factor
        wanted = int(self.size * (low + float(torch.rand(())) * (high - low)))
        if self.policy == "resize":  # the image is the input size; only the padding gives room
            room = self.size + 2 * self.padding if self.spec.crop else self.size
        else:
            room = max(self.size, min(img.size))
        return max(self.size, min(wanted, room))

    def cropper(self, region: int) -> Callable | None:
        if self.policy == "resize":
            return T.RandomCrop(region, padding=self.padding, padding_mode="reflect") if self.spec.crop else None
        return T.RandomCrop(region, pad_if_needed=True, padding_mode="symmetric") if self.spec.crop else MirrorCenterCrop(region)


def _draw(low: float, high: float) -> float:
    return low + float(torch.rand(())) * (high - low)


def _chance(prob: float) -> bool:
    return bool(prob) and bool(torch.rand(()) < prob)


def blend_pixels(real: np.ndarray, fake: np.ndarray, fraction: float) -> np.ndarray:
    return (1 - fraction) * fake + fraction * real


def blend_frequencies(real: np.ndarray, fake: np.ndarray, radius: float) -> np.ndarray:
    """The fake with its spectrum inside `radius` (a fraction of the Nyquist radius) taken
    from the real: same low frequencies, the fake's own high ones."""
    height, width = real.shape[:2]
    fy = np.fft.fftfreq(height)[:, None] * 2
    fx = np.fft.fftfreq(width)[None, :] * 2
    low = (np.sqrt(fy**2 + fx**2) < radius)[..., None]
    spectrum = np.where(low, np.fft.fft2(real, axes=(0, 1)), np.fft.fft2(fake, axes=(0, 1)))
    return np.real(np.fft.ifft2(spectrum, axes=(0, 1)))


def _to_image(array: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8))


class DualAlign:
    """DDA's and SAFE's pair steps (see the module docstring): called with (real, fake), one
    draw of every random choice for the pair; the fake-only steps touch the second image, the
    real-only one (denoising) the first."""

    def __init__(self, spec: AugmentSpec):
        self.spec = spec
        self.shared = T.Compose([
            T.RandomApply([T.RandomRotation(spec.rotate_degrees)], p=spec.rotate_prob),
            T.RandomApply([T.ColorJitter(0.2, 0.2, 0.2, 0.02)], p=spec.color_jitter_prob),
            T.RandomGrayscale(spec.grayscale_prob),
        ])

    def __call__(self, real: Image.Image, fake: Image.Image) -> tuple[Image.Image, Image.Image]:
        spec = self.spec
        if _chance(spec.blend_prob) and real.size == fake.size:
            pixels, other = np.asarray(real, np.float64), np.asarray(fake, np.float64)
            amount = _draw(0.0, spec.blend_max)
            mixed = blend_pixels(pixels, other, amount) if _chance(0.5) else blend_frequencies(pixels, other, amount)
            fake = _to_image(mixed)
        if _chance(spec.denoise_real_prob):
            real = real.filter(ImageFilter.GaussianBlur(_draw(*spec.denoise_sigma)))
        if _chance(spec.align_jpeg_prob):
            fake = jpeg_reencode(fake, int(torch.randint(spec.align_jpeg_quality[0], spec.align_jpeg_quality[1] + 1, ())))
        if _chance(spec.rescale_prob):
            factor = _draw(*spec.rescale_factor)
            side = (max(8, round(real.width * factor)), max(8, round(real.height * factor)))
            real, fake = (img.resize(side, Image.Resampling.BICUBIC) for img in (real, fake))
        real, fake = self.shared(real, fake)
        if _chance(spec.mask_prob):
            real, fake = random_mask((real, fake), _draw(0.0, spec.mask_max))
        return real, fake


def random_mask(images: tuple[Image.Image, ...], fraction: float, square: int = 16) -> tuple[Image.Image, ...]:
    """About `fraction` of the image in `square`-px squares set to zero, the same squares in every image."""
    width, height = images[0].size
    rows, cols = max(1, height // square), max(1, width // square)
    hidden = torch.rand(rows, cols) < fraction
    masked = []
    for img in images:
        pixels = np.array(img)
        for r, c in hidden.nonzero().tolist():
            pixels[r * square:(r + 1) * square, c * square:(c + 1) * square] = 0
        masked.append(Image.fromarray(pixels))
    return tuple(masked)


class MirrorCenterCrop:
    """The centre crop of `preprocess.center_crop` (mirror-padded when smaller) on PIL images."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, *images: Image.Image) -> Images:
        return _as_called([Image.fromarray(center_crop(np.asarray(img), self.size)) for img in images])


class Each:
    """A one-image transform applied to each image of a call (nothing random to share)."""

    def __init__(self, transform: Callable[[Image.Image], torch.Tensor]):
        self.transform = transform

    def __call__(self, *images: Image.Image) -> torch.Tensor | tuple[torch.Tensor, ...]:
        return _as_called([self.transform(img) for img in images])


def build_train_transform(
    policy: PreprocessPolicy,
    size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    augment: AugmentSpec,
) -> Callable[..., torch.Tensor | tuple[torch.Tensor, ...]]:
    """PIL RGB image -> augmented, normalised tensor (3, size, size); several images (a real
    and its aligned fake, of one size) -> a tuple of tensors, all augmented alike."""
    if not augment.enabled:
        return Each(build_preprocess(policy, size, mean, std))
    steps: list[Callable] = [DualAlign(augment)] if augment.aligns else []
    if policy == "resize":
        steps.append(T.Resize((size, size), interpolation=T.InterpolationMode.BICUBIC, antialias=True))
    steps += blur_jpeg(augment)
    steps.append(CropDownscale(policy, size, augment))
    if augment.flip:
        steps.append(T.RandomHorizontalFlip())
    # tv_tensors images, not plain tensors: with several plain tensors, v2 transforms only the first.
    steps += [T.ToImage(), T.ToDtype(torch.float32, scale=True), T.Normalize(list(mean), list(std)), T.ToPureTensor()]
    return T.Compose(steps)
