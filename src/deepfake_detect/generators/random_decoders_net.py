"""Random up-sampling decoders: many cheap, seeded, different generator traces.

Community Forensics (CVPR 2025) found that the number and diversity of training generators
matters more than the number of images. A real decoder is costly to run and there are few
here; an up-sampling stage drawn at random is nearly free and leaves the same kind of trace
(periodic patterns from transposed convolutions, nearest/bilinear up-sampling followed by a
convolution, pixel shuffle; Zhang et al. 2019, Durall et al. 2020). Each drawn decoder halves
the image once or twice and brings it back with one such stage per halving, its kernel a
perturbed interpolation kernel (so the picture survives), optionally mixing colour channels
and bending the signal with a mild activation (what normalisation + activation layers do).

A bank is a fixed list of decoders drawn from one seed; each image picks its member from its
own pixels (a content hash), so the choice does not depend on batch order and a resumed
make-fakes run redraws an image exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .module import ImageGenerator

KINDS = ("tconv", "upsample_conv", "bilinear_conv", "pixel_shuffle")
ACTIVATIONS = ("identity", "leaky_relu", "tanh", "softplus")


@dataclass(frozen=True)
class StageSpec:
    kind: str
    kernel: int
    noise: float
    mix: float
    """Weight of the cross-channel part of the convolution (0: each colour on its own)."""


@dataclass(frozen=True)
class DecoderSpec:
    stages: tuple[StageSpec, ...]
    activation: str
    bend: float
    """Strength of the activation's curvature applied after each stage (0: linear)."""

    def describe(self) -> str:
        parts = [f"{s.kind}/k{s.kernel}/n{s.noise:.2f}/m{s.mix:.2f}" for s in self.stages]
        return "+".join(parts) + f"/{self.activation}{self.bend:.2f}"


def draw_spec(rng: np.random.Generator) -> DecoderSpec:
    depth = int(rng.integers(1, 3))
    stages = tuple(
        StageSpec(str(rng.choice(KINDS)), int(rng.choice([3, 4, 5])), float(rng.uniform(0.1, 0.5)),
                  float(rng.choice([0.0, rng.uniform(0.02, 0.15)])))
        for _ in range(depth)
    )
    return DecoderSpec(stages, str(rng.choice(ACTIVATIONS)), float(rng.uniform(0.0, 0.3)))


def _interpolation_kernel(size: int, scale: int) -> np.ndarray:
    """A separable tent kernel of `size` taps spread over `scale` (bilinear-like)."""
    centre = (size - 1) / 2
    ramp = np.clip(1 - np.abs(np.arange(size) - centre) / max(scale, centre + 0.5), 0, None)
    return np.outer(ramp, ramp)


def _channel_weights(base: np.ndarray, spec: StageSpec, rng: np.random.Generator, total: float = 1.0) -> torch.Tensor:
    """(3, 3, k, k): the base kernel on each colour's own channel, perturbed and scaled to sum
    to `total` (what keeps the brightness: 1 for a convolution, 4 for a stride-2 transposed
    one), plus a small zero-sum cross-channel part."""
    k = base.shape[0]
    weights = np.zeros((3, 3, k, k))
    for out in range(3):
        own = base * (1 + spec.noise * rng.standard_normal((k, k)))
        weights[out, out] = own * total / own.sum()
        for other in range(3):
            if other != out and spec.mix:
                cross = spec.mix * base * rng.standard_normal((k, k))
                weights[out, other] = cross - cross.mean()
    return torch.from_numpy(weights).float()


class DrawnStage(torch.nn.Module):
    """One 2x up-sampling stage of a drawn kind, with fixed (drawn) weights."""

    def __init__(self, spec: StageSpec, rng: np.random.Generator):
        super().__init__()
        self.spec = spec
        k = spec.kernel
        if spec.kind == "tconv":
            k = 4 if k == 3 else k  # an even kernel with stride 2 makes the classic checkerboard
            weights = _channel_weights(_interpolation_kernel(k, 2), spec, rng, total=4.0)
            self.register_buffer("weight", weights.transpose(0, 1).contiguous())  # (in, out, k, k)
            self.padding = (k - 2) // 2 + (k % 2)
            self.output_padding = k % 2
        elif spec.kind == "pixel_shuffle":
            base = np.zeros((k, k))
            base[k // 2, k // 2] = 1.0
            smooth = _interpolation_kernel(k, 1) * 0.5
            weights = torch.cat([_channel_weights(base + smooth * rng.uniform(0, 1), spec, rng) for _ in range(4)])
            order = torch.tensor([c * 4 + p for c in range(3) for p in range(4)])  # (3*4) outputs, colour-major
            self.register_buffer("weight", weights[order].contiguous())
        else:
            weights = _channel_weights(_interpolation_kernel(k, 1) + 0.5, spec, rng)
            self.register_buffer("weight", weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        kind, k = self.spec.kind, self.weight.shape[-1]
        if kind == "tconv":
            out = F.conv_transpose2d(images, self.weight, stride=2, padding=self.padding,
                                     output_padding=self.output_padding)
        elif kind == "pixel_shuffle":
            out = F.pixel_shuffle(F.conv2d(F.pad(images, [k // 2, (k - 1) // 2] * 2, mode="replicate"), self.weight), 2)
        else:
            mode = "nearest" if kind == "upsample_conv" else "bilinear"
            up = F.interpolate(images, scale_factor=2, mode=mode)
            out = F.conv2d(F.pad(up, [k // 2, (k - 1) // 2] * 2, mode="replicate"), self.weight)
        return out


class DrawnDecoder(torch.nn.Module):
    def __init__(self, spec: DecoderSpec, rng: np.random.Generator):
        super().__init__()
        self.spec = spec
        self.stages = torch.nn.ModuleList(DrawnStage(stage, rng) for stage in spec.stages)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        factor = 2 ** len(self.stages)
        low = F.avg_pool2d(images, factor)
        mean = images.mean(dim=(-2, -1), keepdim=True)
        x = low
        for stage in self.stages:
            x = stage(x)
            x = self._bend(x)
        # the drawn kernels do not preserve brightness exactly: match each channel's mean
        return x - x.mean(dim=(-2, -1), keepdim=True) + mean

    def _bend(self, x: torch.Tensor) -> torch.Tensor:
        bend, name = self.spec.bend, self.spec.activation
        if not bend or name == "identity":
            return x
        centred = 2 * x - 1
        curved = {"leaky_relu": F.leaky_relu(centred, 0.5), "tanh": torch.tanh(centred),
                  "softplus": F.softplus(centred * 2) / 2 - 0.35}[name]
        return x + bend * (curved - centred) / 2


def content_index(images: torch.Tensor, count: int) -> torch.Tensor:
    """(N,) a member per image from its own 8-bit pixels: stable across batches and runs."""
    quantised = (images.clamp(0, 1) * 255).round().to(torch.int64)
    weights = torch.arange(1, quantised[0].numel() + 1, dtype=torch.int64).reshape(quantised.shape[1:]) % 9973
    return (quantised * weights).sum(dim=(1, 2, 3)) % count


class DecoderBank(ImageGenerator):
    """`count` decoders drawn from `seed`; an image goes through the one its content picks.
    With `chain`, the decoded image is then resized by a drawn factor and back, and JPEG
    encoded at a drawn quality (the decoder -> resize -> JPEG chains images meet online)."""

    def __init__(self, count: int, seed: int, chain: bool = False):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.specs = [draw_spec(rng) for _ in range(count)]
        self.decoders = torch.nn.ModuleList(DrawnDecoder(spec, rng) for spec in self.specs)
        self.chain = chain
        self.chains = [(float(rng.uniform(0.6, 0.9)), int(rng.integers(75, 96))) for _ in range(count)]

    def parameters_text(self) -> str:
        """Every drawn member, as the manifest records it."""
        chains = [f"|resize{f:.2f}|jpeg{q}" if self.chain else "" for f, q in self.chains]
        return ";".join(spec.describe() + chain for spec, chain in zip(self.specs, chains))

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        picks = content_index(images, len(self.decoders))
        out = torch.empty_like(images)
        for index, image in zip(picks.tolist(), range(images.shape[0])):
            decoded = self.decoders[index](images[image : image + 1]).clamp(0, 1)
            out[image] = self._chain(decoded, index)[0] if self.chain else decoded[0]
        return out

    def _chain(self, decoded: torch.Tensor, index: int) -> torch.Tensor:
        from io import BytesIO

        from PIL import Image

        factor, quality = self.chains[index]
        height, width = decoded.shape[-2:]
        pixels = (decoded[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        image = Image.fromarray(pixels)
        small = image.resize((max(8, round(width * factor)), max(8, round(height * factor))), Image.Resampling.BICUBIC)
        image = small.resize((width, height), Image.Resampling.BICUBIC)
        buffer = BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        back = np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float32) / 255
        return torch.from_numpy(back).permute(2, 0, 1)[None]
