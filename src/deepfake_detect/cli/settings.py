"""Flags over settings models: one set of defaults (the pydantic model's), one merge rule.

A command's flags default to None ("not given"); their --help shows the model's default,
read from the model itself (`with_default`), so a default is written once. `merge_settings`
lays the flags that were given over a settings file's values; the model fills in the rest
when it validates the result. tests/test_cli_settings.py derives every flag's shown default
from the models and checks that every model field has a flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def model_default(model: type[BaseModel], place: str) -> Any:
    """The default of a field; `section.field` reaches into a nested settings model."""
    section, _, name = place.rpartition(".")
    if section:
        return model_default(model.model_fields[section].annotation, name)
    return model.model_fields[place].get_default(call_default_factory=True)


def shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or value == []:
        return "none"
    return str(value)


def with_default(model: type[BaseModel], place: str, text: str) -> str:
    """`text` and the model's default for the field at `place`, as --help shows it."""
    return f"{text} (default: {shown(model_default(model, place))})"


def plain(value: Any) -> Any:
    """A flag's value as a settings file would hold it."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return list(value) if isinstance(value, tuple) else value


def merge_settings(flags: Mapping[str, Any], file_values: Mapping[str, Any] | None = None,
                   places: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The file's values with every given flag (not None) on top: flags win over the file, the
    file over the model's defaults. `places` maps a flag to `section.field` for nested settings."""
    merged: dict[str, Any] = {key: dict(value) if isinstance(value, Mapping) else value
                              for key, value in (file_values or {}).items()}
    for flag, value in flags.items():
        if value is None or value in ((), []):  # not given (a repeatable option given no times)
            continue
        section, _, name = (places or {}).get(flag, flag).rpartition(".")
        target = merged.setdefault(section, {}) if section else merged
        target[name] = plain(value)
    return merged
