"""The detector kinds, by the manifest's `kind` name. A new kind is one module and one entry here."""

from __future__ import annotations

from ...errors import look_up
from .features import FEATURES
from .finetuned import FINETUNED
from .base import ModelKind
from .reference import REFERENCE

_KINDS: dict[str, ModelKind] = {kind.name: kind for kind in (FEATURES, FINETUNED, REFERENCE)}


def list_kinds() -> list[str]:
    return sorted(_KINDS)


def model_kind(name: str) -> ModelKind:
    return look_up(_KINDS, "detector kind", name)


def known_file_names() -> set[str]:
    """Every file name some kind writes."""
    return {name for kind in _KINDS.values() for name in kind.file_names}
