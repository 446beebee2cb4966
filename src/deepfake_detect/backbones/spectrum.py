"""A hand-crafted extractor: the azimuthally averaged power spectrum (Durall et al., 2020).

Up-convolutions in generator decoders leave periodic traces that show as bumps at high
spatial frequencies; averaging the log power over rings turns that into a short vector.
It needs no weights, so it is the cheapest baseline and a check on what networks learn.
"""

from __future__ import annotations

from .registry import register_backbone

SPECTRUM_SIZE = 224


@register_backbone(
    input_size=SPECTRUM_SIZE,
    embed_dim=SPECTRUM_SIZE // 2,
    mean=(0.0, 0.0, 0.0),
    std=(1.0, 1.0, 1.0),
    weights_source="none needed (hand-crafted)",
    needs_weights=False,
)
def fft_spectrum():
    from .module import AzimuthalSpectrum

    return AzimuthalSpectrum(SPECTRUM_SIZE)
