"""Invisible watermarks of Stable Diffusion (optional extra: `pip install "deepfake-detect[watermark]"`).

The reference scripts mark their outputs with `invisible-watermark`'s dwtDct method: SD 1.x
the bytes "StableDiffusionV1", SD 2.x "SDV2", SDXL (diffusers) a 48-bit message. diffusers
hands the library RGB arrays where it expects BGR, so both channel orders are tried.

`block_bits` reproduces the library's dwtDct *decoder* with numpy: the library loops over
every 4x4 block in Python (seconds on a 12 MP photo); this gives the same bits
(tests/test_provenance.py checks it against `WatermarkDecoder`) in milliseconds. Embedding
uses the library itself.

A mark counts when at least `min_matching` of its bits agree: the smallest count whose
chance under random bits is below 1/6,000 (six tests per image: three marks, two orders, so
under 1/1,000 per image), checked on unmarked photographs (benchmarks/provenance.py
--watermark-false-alarms: on 934 ImageNet photographs the highest shares seen were 0.667,
0.618 and 0.750, all below, and no photograph raised an alarm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .findings import Finding, Signal

SDXL_BITS = [int(b) for b in bin(0b101100111110110010010000011110111011000110011110)[2:]]


def _bits_of(text: bytes) -> list[int]:
    return [int(b) for b in np.unpackbits(np.frombuffer(text, dtype=np.uint8))]


FALSE_ALARM_PER_TEST = 1e-3 / 6


@dataclass(frozen=True)
class Mark:
    name: str
    bits: tuple[int, ...]

    @property
    def min_matching(self) -> int:
        """Fewest agreeing bits that count as the mark: P(Binomial(n, 1/2) >= k) < FALSE_ALARM_PER_TEST."""
        n = len(self.bits)
        tail, k = 0.0, n + 1
        while k > 0 and tail + math.comb(n, k - 1) / 2**n < FALSE_ALARM_PER_TEST:
            k -= 1
            tail += math.comb(n, k) / 2**n
        return k

    @property
    def threshold(self) -> float:
        return self.min_matching / len(self.bits)


MARKS: tuple[Mark, ...] = (
    Mark("Stable Diffusion XL (diffusers)", tuple(SDXL_BITS)),
    Mark("Stable Diffusion 1.x", tuple(_bits_of(b"StableDiffusionV1"))),
    Mark("Stable Diffusion 2.x", tuple(_bits_of(b"SDV2"))),
)
THRESHOLDS = {mark.name: mark.threshold for mark in MARKS}
MIN_PIXELS = 256 * 256
"""The library refuses smaller images: too few blocks to vote each bit."""
SCALE, BLOCK = 36, 4


def available() -> bool:
    try:
        import cv2  # noqa: F401
        import pywt  # noqa: F401
        import imwatermark  # noqa: F401
    except ImportError:
        return False
    return True


def block_bits(bgr: np.ndarray) -> np.ndarray:
    """One 0/1 vote per 4x4 block of the U channel's Haar approximation, in the library's order."""
    import cv2
    import pywt

    rows, cols = bgr.shape[0] // 4 * 4, bgr.shape[1] // 4 * 4
    yuv = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2YUV)
    approximation = pywt.dwt2(yuv[:rows, :cols, 1], "haar")[0]
    block_rows, block_cols = approximation.shape[0] // BLOCK, approximation.shape[1] // BLOCK
    blocks = (approximation[: block_rows * BLOCK, : block_cols * BLOCK]
              .reshape(block_rows, BLOCK, block_cols, BLOCK).transpose(0, 2, 1, 3).reshape(-1, BLOCK * BLOCK))
    position = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    value = np.abs(blocks[np.arange(len(blocks)), position])
    return (value % SCALE) > 0.5 * SCALE


def decode(votes: np.ndarray, length: int) -> np.ndarray:
    """The message bits: the mean vote of every block that carries bit i (i = block index mod length)."""
    index = np.arange(len(votes)) % length
    mean = np.bincount(index, weights=votes.astype(float), minlength=length) / np.bincount(index, minlength=length)
    return mean * 255 > 127


def match_shares(rgb: np.ndarray) -> dict[tuple[str, str], float]:
    """{(mark name, channel order): share of matching bits} for an RGB uint8 array."""
    shares = {}
    for order, array in (("BGR", rgb[..., ::-1]), ("RGB", rgb)):
        votes = block_bits(array)
        for mark in MARKS:
            shares[(mark.name, order)] = float(np.mean(decode(votes, len(mark.bits)) == np.array(mark.bits, bool)))
    return shares


def read_watermarks(image: Any) -> list[Finding]:
    """A weak GENERATED finding per mark found (unsigned: a mark can be copied onto any image)."""
    if image.width * image.height < MIN_PIXELS:
        return []
    shares = match_shares(np.asarray(image.convert("RGB")))
    found = {}
    for (name, order), share in shares.items():
        if share >= THRESHOLDS[name] and share > found.get(name, (None, 0.0))[1]:
            found[name] = (order, share)
    return [
        Finding("watermark", Signal.GENERATED,
                f"watermark: {name} invisible mark ({share:.0%} of bits match, {order} order; can be copied)",
                tool=name, details={"order": order, "match": share, "threshold": THRESHOLDS[name]})
        for name, (order, share) in found.items()
    ]
