"""The grid's config file, validated up front: a typo is one line before any work starts.

Everything a run does is written here; the run folder keeps an exact copy, so a run can be
reproduced from its own folder.
"""

from __future__ import annotations

from .errors import ConfigError

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .transforms import TransformSpec


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_names(kind: str, names: list[str], valid: list[str]) -> None:
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ValueError(f"unknown {kind} {', '.join(repr(u) for u in unknown)}; valid: {', '.join(valid)}")


class WithinProtocol(Strict):
    test_size: float = Field(0.2, gt=0, lt=1)
    seeds: list[int] = [0]


class RobustnessProtocol(Strict):
    """UniversalFakeDetect / SIDBench perturbations of the test images."""

    jpeg: list[int] = [100, 90, 75, 60, 45, 30]
    blur: list[float] = [0.0, 1.0, 2.0, 3.0, 4.0]
    downscale: list[float] = [1.0, 0.75, 0.5]
    datasets: list[str] | None = None
    """Test sets to perturb (default: all)."""
    top: int | None = Field(5, ge=1)
    """Perturb only for the best N methods of the within protocol (None: all; it is costly)."""


class Protocols(Strict):
    within: WithinProtocol | None = WithinProtocol()
    cross: bool = True
    logo: bool = False
    robustness: RobustnessProtocol | None = None


class GridConfig(Strict):
    datasets: dict[str, str | list[str]]
    """name -> folder, CSV manifest, named public set, or a list of these."""
    data_root: str | None = None
    max_per_class: int | None = Field(None, ge=1)
    preprocess: Literal["resize", "center_crop"] = "resize"
    backbones: list[str] = ["efficientnet_lite0"]
    weights: dict[str, str] = {}
    """backbone -> 'pretrained', 'random' or a local file."""
    transforms: list[TransformSpec] = [TransformSpec()]
    reductions: dict[str, dict[str, Any]] = {"none": {}}
    classifiers: dict[str, dict[str, Any]] = {"linear_probe": {}}
    protocols: Protocols = Protocols()
    finetuned: list[str] = []
    """Detector folders of fine-tuned networks to evaluate beside the grid (Approach 1)."""
    cache: str | None = None
    batch_size: int = Field(64, ge=1)
    bootstrap: int = Field(1000, ge=0)
    jobs: int | None = Field(None, ge=1)
    seed: int = 0

    @field_validator("transforms", mode="before")
    @classmethod
    def _transform_names(cls, value: Any) -> Any:
        return [{"name": v} if isinstance(v, str) else v for v in value]

    @field_validator("reductions", "classifiers", mode="before")
    @classmethod
    def _names_or_mapping(cls, value: Any) -> Any:
        """`[pca, none]` and `{pca: {n_components: 64}}` both work; `all` means every one."""
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return {name: {} for name in value}
        return {k: (v or {}) for k, v in value.items()}

    @model_validator(mode="after")
    def _known_names(self) -> GridConfig:
        from .backbones import list_backbones
        from .classify import list_classifiers

        if "all" in self.classifiers:
            self.classifiers = {name: self.classifiers.get(name, {}) for name in list_classifiers()}
        _check_names("classifier", list(self.classifiers), list_classifiers())
        _check_names("backbone", self.backbones, list_backbones())
        from .reduce import list_reducers  # after the cheap checks: its estimators import sklearn

        if "all" in self.reductions:
            self.reductions = {name: self.reductions.get(name, {}) for name in list_reducers()}
        _check_names("reduction", list(self.reductions), list_reducers())
        if not self.datasets:
            raise ValueError("no datasets named")
        robustness = self.protocols.robustness
        if robustness and robustness.datasets:
            _check_names("robustness dataset", robustness.datasets, list(self.datasets))
        return self

    def base_dir(self, config_path: Path | None) -> Path:
        return config_path.parent if config_path else Path.cwd()




def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """A YAML file of settings, or one ConfigError line: missing, unreadable, not YAML, not a mapping."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, found a {type(raw).__name__}")
    return raw


def load_config(path: str | Path) -> GridConfig:
    path = Path(path)
    config = GridConfig.model_validate(read_yaml_mapping(path))
    return resolve_paths(config, path.parent)


def resolve_paths(config: GridConfig, base: Path) -> GridConfig:
    """Relative dataset, weights and cache paths are relative to the config file."""

    def resolve(value: str) -> str:
        from .data import NAMED_DATASETS

        if value in NAMED_DATASETS or value in ("pretrained", "random") or Path(value).is_absolute():
            return value
        return str((base / value).resolve())

    datasets = {
        name: [resolve(s) for s in src] if isinstance(src, list) else resolve(src) for name, src in config.datasets.items()
    }
    update: dict[str, Any] = {"datasets": datasets, "weights": {k: resolve(v) for k, v in config.weights.items()}}
    if config.cache:
        update["cache"] = resolve(config.cache)
    if config.data_root:
        update["data_root"] = resolve(config.data_root)
    update["finetuned"] = [resolve(f) for f in config.finetuned]
    return config.model_copy(update=update)


def dump_config(config: GridConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
