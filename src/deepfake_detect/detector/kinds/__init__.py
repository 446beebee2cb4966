"""The detector kinds, by the manifest's `kind` name. A new kind is one module and one entry here."""

from __future__ import annotations

from .ensemble import ENSEMBLE
from .features import FEATURES
from .finetuned import FINETUNED
from .base import ModelKind
from .reference import REFERENCE
from ...registry import Registry

_KINDS: Registry[ModelKind] = Registry("detector kind")
for _kind in (FEATURES, FINETUNED, REFERENCE, ENSEMBLE):
    _KINDS.add(_kind.name, _kind)


def list_kinds() -> list[str]:
    return _KINDS.names()


def model_kind(name: str) -> ModelKind:
    return _KINDS[name]


def known_file_names() -> set[str]:
    """Every file name some kind writes."""
    return {name for kind in _KINDS.values() for name in kind.file_names}
