"""IPTC digital source types (https://cv.iptc.org/newscodes/digitalsourcetype/) -> `Signal`.

C2PA actions and the XMP `Iptc4xmpExt:DigitalSourceType` field carry the same vocabulary. A
table, so a new term is one row; terms not listed (screenCapture, virtualRecording, ...) say
nothing about generation and map to INFO.
"""

from __future__ import annotations

from .findings import Signal

SOURCE_TYPES: dict[str, Signal] = {
    "trainedAlgorithmicMedia": Signal.GENERATED,
    "algorithmicMedia": Signal.GENERATED,
    "compositeSynthetic": Signal.EDITED,
    "compositeWithTrainedAlgorithmicMedia": Signal.EDITED,
    "algorithmicallyEnhanced": Signal.EDITED,
    "digitalCapture": Signal.CAPTURE,
    "computationalCapture": Signal.CAPTURE,
    "negativeFilm": Signal.CAPTURE,
    "positiveFilm": Signal.CAPTURE,
    "print": Signal.CAPTURE,
}


def source_term(uri: str | None) -> str | None:
    """The term at the end of an IPTC URI (or the bare term), e.g. "trainedAlgorithmicMedia"."""
    if not uri or not isinstance(uri, str):
        return None
    return uri.rstrip("/").rsplit("/", 1)[-1].strip() or None


def source_signal(uri: str | None) -> Signal:
    return SOURCE_TYPES.get(source_term(uri) or "", Signal.INFO)
