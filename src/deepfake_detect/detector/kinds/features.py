"""Detector kind "features": a frozen backbone, then a calibrated reduction + classifier.

Written by `train_detector`. The classic part is saved twice: as a skops file (the scikit-learn
pipeline itself, loaded only after every type in it is found on an explicit trusted list) and,
where skl2onnx converts it exactly, as `classic.onnx` (`train.classic_graph`). On ONNX Runtime
a folder with that graph runs without scikit-learn or SciPy (about a second of a cold start);
the torch runtime, and a folder without the graph, score with the scikit-learn pipeline.
Validating a manifest imports no scikit-learn either (the registries list names without it).
A backbone with learned weights ships them as safetensors, so the detector works offline and
cannot drift if upstream weights change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict

from ...backbones import backbone_info
from ...errors import DetectorError, UnknownNameError
from ...inference.session import OnnxNetwork
from ...transforms.preprocess import embed_crops
from ..manifest import ONNX_FILE
from .base import ModelKind

if TYPE_CHECKING:
    import numpy as np
    import torch

    from ..manifest import Manifest

MODEL_FILE = "model.skops"
BACKBONE_FILE = "backbone.safetensors"
CLASSIC_FILE = "classic.onnx"

DETECTOR_TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.frozen._frozen.FrozenEstimator",
    "sklearn.isotonic.IsotonicRegression",
)
"""What a calibrated model holds beyond the classify module's TRUSTED_TYPES (found by asking
skops, imported as `classify.serialization.skops_io` imports it (trusting no scikit-learn
estimator by default), which types of a `CalibratedClassifierCV(FrozenEstimator(...))` it does
not trust, for every registered classifier and both calibration methods)."""


def _known(kind: str, names: Callable[[], list[str]]) -> AfterValidator:
    def check(name: str) -> str:
        if name not in names():
            raise ValueError(str(UnknownNameError(kind, name, names())))
        return name

    return AfterValidator(check)


def _reductions() -> list[str]:
    from ...reduce import list_reducers  # scikit-learn: only for a features detector

    return list_reducers()


def _classifiers() -> list[str]:
    from ...classify import list_classifiers  # scikit-learn: only for a features detector

    return list_classifiers()


class ReductionStep(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: Annotated[str, _known("reduction", _reductions)]
    params: dict[str, Any] = {}


class ClassifierStep(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: Annotated[str, _known("classifier", _classifiers)]
    params: dict[str, Any] = {}


class CalibrationBlock(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    method: Literal["sigmoid", "isotonic"]


def _registered_backbone(name: str) -> str:
    try:
        backbone_info(name)
    except UnknownNameError as exc:
        raise ValueError(str(exc)) from None
    return name


class BackboneName(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: Annotated[str, AfterValidator(_registered_backbone)]


class ClassicGraphBlock(BaseModel):
    """Where the classic part's ONNX graph is (`file`), or why there is none (`reason`)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    file: Literal["classic.onnx"] | None = None
    reason: str | None = None


class FeaturesSection(BaseModel):
    """The manifest fields only this kind has; its backbone must be a registered one."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    backbone: BackboneName
    reduction: ReductionStep
    classifier: ClassifierStep
    calibration: CalibrationBlock
    classic_graph: ClassicGraphBlock | None = None
    """Absent in folders saved before the classic part was converted to ONNX."""

    @property
    def has_classic_graph(self) -> bool:
        """The folder carries `classic.onnx` (and so lists its sha256)."""
        return self.classic_graph is not None and self.classic_graph.file is not None


# --- trusted skops bytes -------------------------------------------------------------------------


def estimator_bytes(estimator: Any) -> bytes:
    """skops bytes of a calibrated model, refused now if loading would refuse them later."""
    from ...classify.serialization import estimator_bytes as skops_bytes

    return skops_bytes(estimator, DETECTOR_TRUSTED_TYPES)


def load_trusted_estimator(data: bytes, name: str) -> Any:
    """Build the model only after every type in the bytes is trusted and its arrays are sound."""
    from ...classify.serialization import estimator_from_bytes

    return estimator_from_bytes(data, name, DETECTOR_TRUSTED_TYPES)


# --- the scoring model ---------------------------------------------------------------------------


Scorer = Callable[["np.ndarray"], "np.ndarray"]
"""Feature rows (float64) -> P(fake) per row: the scikit-learn pipeline or its ONNX graph."""


def scores_of_finite_rows(scorer: Scorer, features: Any) -> np.ndarray:
    """P(fake) per row; NaN for a row whose features are not finite (an error row for that image,
    where scikit-learn would refuse the whole batch), the other rows scored as usual."""
    import numpy as np

    features = np.asarray(features, dtype=np.float64)
    scores = np.full(len(features), np.nan)
    finite = np.isfinite(features).all(axis=1)
    if finite.any():
        scores[finite] = scorer(features[finite])
    return scores


def estimator_scorer(estimator: Any) -> Scorer:
    """The scikit-learn pipeline as a `Scorer`."""
    from ...classify import fake_scores  # scikit-learn: only for a features detector scored by it

    return lambda rows: fake_scores(estimator, rows)


class FeatureModel:
    """Backbone features (torch), then the calibrated reduction + classifier pipeline."""

    def __init__(self, backbone, estimator: Any, manifest: Manifest, device: torch.device):
        from ...features.extract import prepare_for_inference

        self.device = device
        self.backbone = prepare_for_inference(backbone, device)
        self.estimator = estimator
        self.scorer = estimator_scorer(estimator)
        self.to_tensor = manifest.preprocess.preprocessing().tensor_transform
        self.draft_size = manifest.preprocess.preprocessing().draft_size

    def score_tensors(self, tensors: torch.Tensor) -> np.ndarray:
        from ...features.extract import embed

        return scores_of_finite_rows(self.scorer, embed(self.backbone, tensors, self.device))


class OnnxFeatureModel:
    """The backbone's ONNX graph on ONNX Runtime (no torch), then the classic part: its own ONNX
    graph where the folder has one (no scikit-learn), else the scikit-learn pipeline."""

    def __init__(self, network: OnnxNetwork, scorer: Scorer, manifest: Manifest):
        self.network = network
        self.scorer = scorer
        self.to_tensor = manifest.preprocess.preprocessing().array_transform
        self.draft_size = manifest.preprocess.preprocessing().draft_size

    def score_tensors(self, arrays: np.ndarray) -> np.ndarray:
        return scores_of_finite_rows(self.scorer, embed_crops(self.network, arrays))


def _required_files(manifest: Manifest, section: FeaturesSection) -> list[str]:
    needs_weights = backbone_info(manifest.backbone.name).needs_weights
    return [MODEL_FILE] + [BACKBONE_FILE] * needs_weights + [CLASSIC_FILE] * section.has_classic_graph


def _load(manifest: Manifest, section: BaseModel, files: Mapping[str, bytes], device: torch.device) -> FeatureModel:
    return FeatureModel(_backbone(manifest, files), _estimator(files, manifest, section), manifest, device)


def _load_onnx(manifest: Manifest, section: FeaturesSection, files: Mapping[str, bytes], threads: int | None) -> OnnxFeatureModel:
    network = OnnxNetwork(files[manifest.onnx.file], threads, manifest.onnx.file, manifest.preprocess.size)
    if section.has_classic_graph:  # its bytes are verified like every listed file
        scorer = load_classic_graph(files[CLASSIC_FILE], backbone_info(manifest.backbone.name).embed_dim, threads)
    else:
        scorer = estimator_scorer(_estimator(files, manifest, section))
    return OnnxFeatureModel(network, scorer, manifest)


def load_classic_graph(graph: bytes, n_features: int, threads: int | None = None) -> Scorer:
    """The classic part's graph, refused in one line unless it takes `n_features` features (the
    backbone's) and gives a probability per row."""
    from ...inference.session import OnnxScorer

    return _probed(OnnxScorer(graph, n_features, CLASSIC_FILE, threads), n_features, CLASSIC_FILE)


def _estimator(files: Mapping[str, bytes], manifest: Manifest, section: FeaturesSection) -> Any:
    """The saved model, refused in one line unless it is the pipeline the manifest names and every
    array in it is sound: a crafted file must never reach scikit-learn's compiled code unchecked."""
    estimator = load_trusted_estimator(files[MODEL_FILE], MODEL_FILE)
    if not hasattr(estimator, "predict_proba") or list(getattr(estimator, "classes_", [])) != [0, 1]:
        raise DetectorError(f"{MODEL_FILE}: not a fitted real(0)/fake(1) classifier")
    try:
        _check_named_pipeline(estimator, section)
    except Exception as exc:  # ValueError from the checks; AttributeError and the like from a crafted file
        raise DetectorError(f"{MODEL_FILE}: refused, {' '.join(str(exc).split())[:300]}") from None
    _probed(estimator_scorer(estimator), backbone_info(manifest.backbone.name).embed_dim, MODEL_FILE)
    return estimator


def _probed(scorer: Scorer, n_features: int, name: str) -> Scorer:
    """`scorer`, refused in one line (naming the file `name`) unless it gives all-zero features a
    probability each: a crafted model fails when it is loaded, not at the first image."""
    import numpy as np

    try:
        probe = scorer(np.zeros((2, n_features)))
    except Exception as exc:  # whatever scikit-learn or ONNX Runtime raise
        raise DetectorError(f"{name}: refused, it cannot score features ({type(exc).__name__}: "
                            f"{' '.join(str(exc).split())[:300]})") from None
    if probe.shape != (2,) or not np.all((probe >= 0) & (probe <= 1)):
        raise DetectorError(f"{name}: refused, it gives no probability")
    return scorer


def _check_named_pipeline(estimator: Any, section: FeaturesSection) -> None:
    """The calibrated pipeline `train` saves, with the reduction, classifier and calibration the
    manifest names (their types, step by step); ValueError otherwise."""
    from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration
    from sklearn.frozen import FrozenEstimator
    from sklearn.isotonic import IsotonicRegression
    from sklearn.pipeline import Pipeline

    from ...classify import create_classifier
    from ...reduce import create_reducer

    expected_calibrator = {"sigmoid": _SigmoidCalibration, "isotonic": IsotonicRegression}[section.calibration.method]
    if type(estimator) is not CalibratedClassifierCV or not estimator.calibrated_classifiers_:
        raise ValueError("not a calibrated classifier")
    expected = [("reduce", type(create_reducer(section.reduction.name))),
                ("classify", [(n, type(s)) for n, s in create_classifier(section.classifier.name).steps])]
    for calibrated in estimator.calibrated_classifiers_:
        frozen = calibrated.estimator
        pipeline = getattr(frozen, "estimator", None)
        if type(frozen) is not FrozenEstimator or type(pipeline) is not Pipeline:
            raise ValueError("not the saved reduction + classifier pipeline")
        found = [(name, [(n, type(s)) for n, s in step.steps] if type(step) is Pipeline else type(step))
                 for name, step in pipeline.steps]
        if found != expected:
            raise ValueError(f"is not the {section.reduction.name} + {section.classifier.name} the manifest names")
        if not all(type(c) is expected_calibrator for c in calibrated.calibrators):
            raise ValueError(f"its calibration is not the {section.calibration.method} the manifest names")


def _backbone(manifest: Manifest, files: Mapping[str, bytes]):
    """The registered architecture, with every weight overwritten strictly from the folder's file.

    Built from the registry without fetching anything: the detector works offline.
    """
    from safetensors.torch import load as load_safetensors

    from ...backbones import Backbone  # the nn.Module type: imports torch

    info = backbone_info(manifest.backbone.name)
    network = info.factory()
    if BACKBONE_FILE in files:
        try:
            network.load_state_dict(load_safetensors(files[BACKBONE_FILE]), strict=True)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise DetectorError(f"{BACKBONE_FILE}: does not fit backbone '{info.name}': {first}") from None
    return Backbone(info, network, manifest.backbone.weights_id).eval()


def _describe(manifest: Manifest, section: BaseModel) -> str:
    return f"{manifest.backbone.name} + {section.reduction.name} + {section.classifier.name}"


FEATURES = ModelKind(
    "features",
    (MODEL_FILE, BACKBONE_FILE, ONNX_FILE, CLASSIC_FILE),
    FeaturesSection,
    _required_files,
    _load,
    _describe,
    load_onnx=_load_onnx,
    exportable=lambda model: model.backbone,
    onnx_output="features",
)
