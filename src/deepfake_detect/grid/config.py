"""The grid's config file, validated up front: every mistake is one line before any work starts.

Names (backbones, reductions, classifiers, robustness datasets), estimator parameters and
their types, robustness levels and duplicate method labels are all checked here, so a typo
never surfaces as a traceback after hours of feature extraction. Everything a run does is
written here; the run folder keeps an exact copy, so a run can be reproduced from its folder.

Methods are identified by labels. A classifier or reduction key is a label whose part before
'@' names the registry entry (`{"svm_rbf@C=3": {C: 3}, svm_rbf: {}}` runs the SVM twice); a
transform's label is its name plus the parameters that differ from the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError, UnknownNameError, UserError
from ..transforms import TransformSpec
from ..transforms.degrade import ROBUSTNESS_LEVELS
from ..transforms.preprocess import PreprocessPolicy

LABEL_SEPARATOR = "@"
"""In a method label, what comes before it names the registry entry."""
FUSION_PREFIX = "fusion:"
"""A fusion `lowlevel` of the config appears in results as backbone `fusion:lowlevel`."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def registry_name(label: str) -> str:
    """`svm_rbf@C=3` -> `svm_rbf`."""
    return label.split(LABEL_SEPARATOR, 1)[0]


def transform_label(spec: TransformSpec) -> str:
    """The method column of a transform: its name plus parameters that differ from the defaults."""
    return spec.label()


@dataclass(frozen=True)
class Step:
    """One reduction or classifier of the grid: its label, registry entry and parameters."""

    label: str
    name: str
    params: dict[str, Any]


class WithinProtocol(Strict):
    test_size: float = Field(0.2, gt=0, lt=1)
    seeds: list[int] = Field([0], min_length=1)


JpegQuality = Annotated[int, Field(ge=1, le=100)]
BlurSigma = Annotated[float, Field(ge=0)]
ScaleFactor = Annotated[float, Field(gt=0, le=1)]


PERTURBATIONS = ("jpeg", "blur", "downscale")


class RobustnessProtocol(Strict):
    """UniversalFakeDetect / SIDBench perturbations of the test images.

    Naming some perturbations runs only those (`{jpeg: [75, 50]}` runs no blur and no
    down-scaling); naming none runs all three at their default levels.
    """

    jpeg: list[JpegQuality] = [int(q) for q in ROBUSTNESS_LEVELS["jpeg"]]
    """JPEG quality, 1..100."""
    blur: list[BlurSigma] = [float(s) for s in ROBUSTNESS_LEVELS["blur"]]
    """Gaussian sigma in pixels, >= 0."""
    downscale: list[ScaleFactor] = [float(f) for f in ROBUSTNESS_LEVELS["downscale"]]
    """Scale factor in (0, 1]."""
    datasets: list[str] | None = None
    """Test sets to perturb (default: all)."""
    top: int | None = Field(5, ge=1)
    """Perturb only for the best N methods of the within protocol (None: all; it is costly)."""

    @model_validator(mode="before")
    @classmethod
    def _only_the_named(cls, value: Any) -> Any:
        """The perturbations a config leaves out are not run, when it names any."""
        if isinstance(value, dict) and any(name in value for name in PERTURBATIONS):
            return {**{name: [] for name in PERTURBATIONS}, **value}
        return value

    def levels(self) -> list[tuple[str, float]]:
        """(kind, level) pairs in config order."""
        return [("jpeg", float(q)) for q in self.jpeg] + [("blur", s) for s in self.blur] + [
            ("downscale", f) for f in self.downscale
        ]


class Protocols(Strict):
    within: WithinProtocol | None = WithinProtocol()
    """A split of each dataset; `false` (or null) switches it off like logo/lodo, `true` is the default split."""
    cross: bool | dict[str, list[str]] = True
    """True: train on each dataset, test on every other. A mapping `train: [test, ...]` keeps only
    those pairs (when a training set holds another set's reals, testing there would not be fair)."""
    logo: bool = False
    lodo: bool = False
    """Leave one dataset out: train on all the other datasets pooled, test on it (three or more)."""
    robustness: RobustnessProtocol | None = None

    @field_validator("within", mode="before")
    @classmethod
    def _within_as_switch(cls, value: Any) -> Any:
        """`within: false` / `within: true`, as the other protocols are switched."""
        if value is False:
            return None
        return WithinProtocol() if value is True else value


class GridConfig(Strict):
    datasets: dict[str, str | list[str]]
    """name -> folder, CSV manifest, named public set, or a list of these."""
    data_root: str | None = None
    max_per_class: int | None = Field(None, ge=1)
    preprocess: PreprocessPolicy = "resize"
    backbones: list[str] = ["efficientnet_lite0"]
    """Registered names or block specs (`efficientnet_lite0@blocks=2,4,last`)."""
    fusions: dict[str, Annotated[list[str], Field(min_length=2)]] = {}
    """label -> backbones whose cached features are concatenated, each part standardised
    (features.fusion); evaluated as backbone `fusion:<label>`."""
    weights: dict[str, str] = {}
    """backbone (or a spec's network) -> 'pretrained', 'random' or a local file."""
    transforms: list[TransformSpec] = [TransformSpec()]
    reductions: dict[str, dict[str, Any]] = {"none": {}}
    """label -> parameters; the label before '@' names the reducer."""
    classifiers: dict[str, dict[str, Any]] = {"linear_probe": {}}
    """label -> parameters (`search: true` for a small search over C); before '@': the classifier."""
    protocols: Protocols = Protocols()
    finetuned: list[str] | dict[str, str] = []
    """Detector folders of fine-tuned networks to evaluate beside the grid (Approach 1); as a
    mapping `label: folder`, the label names the rows (two runs of one architecture differ)."""
    reference: list[str] | dict[str, str] = []
    """Detector folders of published reference detectors (`deepfake-detect reference`), evaluated
    like `finetuned:` entries; their rows have approach "reference"."""
    cache: str | None = None
    notice: str | None = None
    """A caveat shown at the top of the report and after the run (the demo: "toy data")."""
    batch_size: int = Field(64, ge=1)
    bootstrap: int = Field(1000, ge=0)
    jobs: int | None = Field(None, ge=1)
    seed: int = 0

    @field_validator("transforms", mode="before")
    @classmethod
    def _transform_names(cls, value: Any) -> Any:
        if isinstance(value, str | dict):
            value = [value]
        return [{"name": v} if isinstance(v, str) else v for v in value]

    @field_validator("reductions", "classifiers", mode="before")
    @classmethod
    def _names_or_mapping(cls, value: Any) -> Any:
        """`[pca, none]` and `{pca: {n_components: 64}}` both work; `all` means every one."""
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return {name: {} for name in value}
        if isinstance(value, dict):
            return {k: (v or {}) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _check_everything(self) -> GridConfig:
        """Names first (cheap: no scikit-learn, no torch), then parameters (builds estimators)."""
        from ..backbones import backbone_info
        from ..classify import list_classifiers

        if not self.datasets:
            raise ValueError("no datasets named")
        self.classifiers = _expand_all(self.classifiers, list_classifiers())
        _check_names("classifier", self.classifiers, list_classifiers())
        for backbone in [*self.backbones, *(m for members in self.fusions.values() for m in members)]:
            backbone_info(backbone)  # an unknown name or a bad block spec: one line
        robustness = self.protocols.robustness
        for name in (robustness.datasets or []) if robustness else []:
            if name not in self.datasets:
                raise UnknownNameError("robustness dataset", name, list(self.datasets))
        cross = self.protocols.cross if isinstance(self.protocols.cross, dict) else {}
        for name in [*cross, *(test for tests in cross.values() for test in tests)]:
            if name not in self.datasets:
                raise UnknownNameError("cross dataset", name, list(self.datasets))
        if robustness and not self.protocols.within:
            raise ValueError("protocols.robustness needs protocols.within (it retrains on the within split)")
        labels = [transform_label(t) for t in self.transforms]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValueError(f"transforms: {', '.join(duplicates)} given twice (labels must differ)")
        from ..evaluate.protocols import LODO_PREFIX  # after the cheap checks: these import sklearn
        from ..reduce import list_reducers

        clashing = [name for name in self.datasets if name.startswith(LODO_PREFIX)] if self.protocols.lodo else []
        if clashing:
            raise ValueError(f"dataset '{clashing[0]}': with protocols.lodo, names starting with "
                             f"'{LODO_PREFIX}' are kept for the pooled training sets")

        self.reductions = _expand_all(self.reductions, list_reducers())
        _check_names("reducer", self.reductions, list_reducers())
        self._check_parameters()
        return self

    def _check_parameters(self) -> None:
        from ..classify import create_classifier
        from ..reduce import create_reducer

        for step in self.reduction_steps():
            create_reducer(step.name, **step.params)
        for step in self.classifier_steps():
            create_classifier(step.name, **step.params)

    def reduction_steps(self) -> list[Step]:
        return [Step(label, registry_name(label), params) for label, params in self.reductions.items()]

    def classifier_steps(self) -> list[Step]:
        return [Step(label, registry_name(label), params) for label, params in self.classifiers.items()]

    def detector_entries(self) -> list[tuple[str | None, str]]:
        """(row label or None for the detector's own name, folder) of `finetuned:`, then `reference:`."""
        return [(label, folder) for entries in (self.finetuned, self.reference)
                for label, folder in (entries.items() if isinstance(entries, dict) else ((None, f) for f in entries))]

    def feature_sources(self) -> list[str]:
        """What the grid evaluates as backbones: `backbones`, then each fusion as `fusion:<label>`."""
        return [*self.backbones, *(FUSION_PREFIX + label for label in self.fusions)]

    def fusion_members(self, source: str) -> list[str]:
        """The backbones a `fusion:<label>` source concatenates; empty for a plain backbone."""
        return self.fusions.get(source.removeprefix(FUSION_PREFIX), []) if source.startswith(FUSION_PREFIX) else []

    def weights_for(self, backbone: str) -> str:
        """Weights of a backbone, or of the network a block spec taps, else 'pretrained'."""
        return self.weights.get(backbone) or self.weights.get(registry_name(backbone), "pretrained")

    def transform_by_label(self) -> dict[str, TransformSpec]:
        return {transform_label(t): t for t in self.transforms}

    def base_dir(self, config_path: Path | None) -> Path:
        return config_path.parent if config_path else Path.cwd()


def _expand_all(steps: dict[str, dict[str, Any]], every: list[str]) -> dict[str, dict[str, Any]]:
    """`all` stands for every registered entry, with the parameters given for `all`."""
    if "all" not in steps:
        return steps
    shared = steps["all"]
    expanded = {name: dict(shared) for name in every}
    expanded.update({label: params for label, params in steps.items() if label != "all"})
    return expanded


def _check_names(kind: str, steps: dict[str, dict[str, Any]], valid: list[str]) -> None:
    for label in steps:
        if registry_name(label) not in valid:
            raise UnknownNameError(kind, registry_name(label), valid)


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
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, found a {type(raw).__name__}")
    return raw


def load_config(path: str | Path) -> GridConfig:
    """Read and validate a grid config; any problem is a ConfigError naming the file."""
    path = Path(path)
    raw = read_yaml_mapping(path)
    try:
        config = GridConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {validation_message(exc)}") from None
    except UserError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return resolve_paths(config, path.parent)


def validation_message(exc: ValidationError) -> str:
    """A pydantic error as one line: `where: what; where: what`."""
    problems = []
    for error in exc.errors():
        where = ".".join(map(str, error["loc"]))
        text = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {text}" if where else text)
    return "; ".join(problems)


def resolve_paths(config: GridConfig, base: Path) -> GridConfig:
    """Relative dataset, weights and cache paths are relative to the config file."""

    def resolve(value: str) -> str:
        from ..data import NAMED_DATASETS

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
    for key in ("finetuned", "reference"):
        entries = getattr(config, key)
        update[key] = {k: resolve(v) for k, v in entries.items()} if isinstance(entries, dict) else [resolve(f) for f in entries]
    return config.model_copy(update=update)


def config_yaml(config: GridConfig) -> str:
    """The config as YAML that `load_config` reads back to the same settings."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)

