"""A features detector's classic part as one ONNX graph: features (float64) -> P(fake).

Why: scoring with the scikit-learn pipeline means importing scikit-learn and SciPy, about a
second of every cold `predict` (more than the rest of it together). The same numbers come out
of a small ONNX graph that ONNX Runtime (already loaded for the backbone) runs without them.

The graph is built here, at training time, from the fitted
`CalibratedClassifierCV(FrozenEstimator(Pipeline[reduce, classify]))` that `train` saves, as
three graphs joined with `onnx.compose`: the transformers (the reduction and the classifier's
own scaling, float64, by skl2onnx; then a cast to float32 for trees, which scikit-learn casts
to before comparing), the classifier (skl2onnx, giving the response scikit-learn's calibration
reads: the decision function where the classifier has one, else the probability of "fake"),
and the fitted sigmoid or isotonic calibrator, written out as ONNX operators.

`checked_classic_graph` keeps the graph only if it agrees with scikit-learn on the rows it is
given and on 256 random rows spread like them; a pipeline skl2onnx cannot convert (today:
histogram gradient boosting) keeps its skops file alone, and the manifest says why.
"""

from __future__ import annotations

import functools
import logging
import warnings
from typing import Any

import numpy as np

INPUT_NAME = "features"
OUTPUT_NAME = "fake_probability"
OPSET = {"": 17, "ai.onnx.ml": 3}
IR_VERSION = 8
"""What ONNX Runtime 1.20+ (this package's floor) reads, for opset 17."""
AGREEMENT_TOLERANCE = 1e-4
"""Largest |P(fake) graph - P(fake) scikit-learn| accepted on the checking rows: the agreement
asked of a network's ONNX graph against torch. The graph runs in float64 except where
scikit-learn itself rounds (tree inputs); what skl2onnx keeps in float32 (tree leaves, the RBF
kernel) differs by 1e-7 to 5e-5 after calibration."""

log = logging.getLogger(__name__)


class NotConvertible(Exception):
    """The pipeline has no exact ONNX form here; the message says which part and why."""


def classic_graph(calibrated: Any, n_features: int) -> bytes:
    """The ONNX bytes of `calibrated` (as `train` fits it); `NotConvertible` if it has none."""
    from onnx import compose

    transformers, classifier, calibrator, method = _parts(calibrated)
    try:
        front = _at_opset(_front_graph(transformers, classifier, n_features))
        scores = _at_opset(_classifier_graph(classifier, method, front.graph.output[0].type))
        model = compose.merge_models(front, scores, io_map=[(front.graph.output[0].name, scores.graph.input[0].name)])
        model = compose.merge_models(model, _calibrator_graph(calibrator, scores.graph.output[1].type),
                                     io_map=[(scores.graph.output[1].name, CALIBRATOR_INPUT)], outputs=[OUTPUT_NAME])
    except Exception as exc:  # skl2onnx raises RuntimeError, NameError, ValueError, ... per converter
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise NotConvertible(f"skl2onnx cannot convert it ({type(exc).__name__}: {first})") from None
    return model.SerializeToString()


def checked_classic_graph(calibrated: Any, rows: np.ndarray) -> tuple[bytes | None, dict[str, Any]]:
    """(graph bytes, what the manifest records), or (None, why not) when there is no graph that
    agrees with scikit-learn within AGREEMENT_TOLERANCE on `rows` (e.g. the validation split)
    and on random rows with their mean and spread (a few validation rows alone check little)."""
    from ..classify import fake_scores
    from ..errors import DetectorError
    from ..inference.session import OnnxScorer

    rows = np.asarray(rows, dtype=np.float64)
    rows = np.vstack([rows, _spread_like(rows, RANDOM_CHECK_ROWS)])
    try:
        graph = classic_graph(calibrated, rows.shape[1])
        scores = OnnxScorer(graph, rows.shape[1])(rows)
    except (NotConvertible, DetectorError) as exc:
        log.info("the classic part stays scikit-learn only: %s", exc)
        return None, {"reason": str(exc)}
    difference = float(np.max(np.abs(scores - fake_scores(calibrated, rows))))
    if not difference <= AGREEMENT_TOLERANCE:
        reason = f"its ONNX graph differs from scikit-learn by {difference:.2g} on the checking rows"
        log.warning("the classic part stays scikit-learn only: %s", reason)
        return None, {"reason": reason}
    return graph, {"max_abs_difference": difference, "checked_rows": len(rows)}


RANDOM_CHECK_ROWS = 256


def _spread_like(rows: np.ndarray, count: int) -> np.ndarray:
    """`count` seeded Gaussian rows with `rows`' per-feature mean and standard deviation."""
    spread = rows.std(axis=0) if len(rows) > 1 else np.ones(rows.shape[1])
    return np.random.default_rng(0).normal(rows.mean(axis=0), spread + 1e-6, size=(count, rows.shape[1]))


def _at_opset(model):
    """`model` declaring exactly OPSET (skl2onnx declares the lowest each graph needs, and
    `onnx.compose` joins only graphs that declare the same), converted where ops changed."""
    from onnx import helper, version_converter

    declared = {entry.domain: entry.version for entry in model.opset_import}
    if declared.get("", OPSET[""]) != OPSET[""]:
        model = version_converter.convert_version(model, OPSET[""])
    del model.opset_import[:]
    model.opset_import.extend(helper.make_opsetid(domain, version) for domain, version in OPSET.items())
    model.ir_version = IR_VERSION
    return model


# --- the parts of the calibrated pipeline --------------------------------------------------------


def _parts(calibrated: Any) -> tuple[list[Any], Any, Any, str]:
    """(transformers in order, classifier, calibrator, response method) of `train`'s model."""
    from sklearn.calibration import _SigmoidCalibration
    from sklearn.isotonic import IsotonicRegression
    from sklearn.pipeline import Pipeline

    members = getattr(calibrated, "calibrated_classifiers_", [])
    if len(members) != 1 or len(members[0].calibrators) != 1:
        raise NotConvertible("not one binary calibrated classifier")
    pipeline = getattr(members[0].estimator, "estimator", None)
    if type(pipeline) is not Pipeline:
        raise NotConvertible("not a frozen pipeline")
    *transformers, classifier = _flatten(pipeline)
    if list(getattr(classifier, "classes_", [])) != [0, 1]:
        raise NotConvertible("not a real(0)/fake(1) classifier")
    calibrator = members[0].calibrators[0]
    if not isinstance(calibrator, (_SigmoidCalibration, IsotonicRegression)):
        raise NotConvertible(f"calibrator {type(calibrator).__name__}")
    if isinstance(calibrator, IsotonicRegression) and not np.all(np.diff(calibrator.X_thresholds_) > 0):
        raise NotConvertible("isotonic thresholds are not strictly increasing")
    # what CalibratedClassifierCV reads from a binary classifier, in its order of preference
    method = "decision_function" if hasattr(classifier, "decision_function") else "predict_proba"
    return transformers, classifier, calibrator, method


def _flatten(pipeline: Any) -> list[Any]:
    from sklearn.pipeline import Pipeline

    flat = []
    for _, step in pipeline.steps:
        flat.extend(_flatten(step) if type(step) is Pipeline else [step])
    return flat


def _casts_to_float32(classifier: Any) -> bool:
    """Tree models compare float32 inputs (scikit-learn casts X before any split)."""
    from sklearn.ensemble import BaggingClassifier, GradientBoostingClassifier
    from sklearn.ensemble._forest import BaseForest
    from sklearn.tree import BaseDecisionTree

    return isinstance(classifier, (BaseDecisionTree, BaseForest, BaggingClassifier, GradientBoostingClassifier))


# --- the three graphs ----------------------------------------------------------------------------

CALIBRATOR_INPUT = "calibrate_scores"


def _front_graph(transformers: list[Any], classifier: Any, n_features: int):
    """features (float64) -> the classifier's input: the transformers, then a float32 cast for trees."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType
    from skl2onnx.sklapi import CastTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    _register_reducers()
    steps = list(transformers)
    if _casts_to_float32(classifier):
        steps.append(CastTransformer(dtype=np.float32).fit(np.zeros((1, classifier.n_features_in_))))
    pipeline = Pipeline([(f"step{i}", step) for i, step in enumerate(steps or [FunctionTransformer()])])
    return convert_sklearn(pipeline, initial_types=[(INPUT_NAME, DoubleTensorType([None, n_features]))],
                           target_opset=OPSET, naming="front_")


def _classifier_graph(classifier: Any, method: str, input_type):
    """the classifier's input -> (label, scores): raw scores for a decision function (its column 1
    is the decision function), probabilities otherwise (column 1: P(fake))."""
    from onnx import TensorProto
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    float32 = input_type.tensor_type.elem_type == TensorProto.FLOAT
    kind = FloatTensorType if float32 else DoubleTensorType
    options = {"raw_scores": True} if method == "decision_function" else {}
    initial_types = [("classifier_input", kind([None, classifier.n_features_in_]))]
    with warnings.catch_warnings():  # skl2onnx reads attributes scikit-learn deprecates (SVC's probA_)
        warnings.simplefilter("ignore", FutureWarning)
        try:  # a (batch, 2) tensor, not skl2onnx's default list of dicts
            return convert_sklearn(classifier, initial_types=initial_types, target_opset=OPSET, naming="classify_",
                                   options={id(classifier): {**options, "zipmap": False}})
        except NameError:  # a converter without the zipmap option (LinearSVC) outputs a tensor anyway
            return convert_sklearn(classifier, initial_types=initial_types, target_opset=OPSET, naming="classify_",
                                   options={id(classifier): options})


def _calibrator_graph(calibrator: Any, scores_type):
    """scores (batch, 2) -> P(fake) (batch,): column 1 in float64, then the fitted calibrator,
    a sigmoid 1 / (1 + exp(a*t + b)) or the isotonic fit's piecewise-linear interpolation,
    flat outside its ends (scikit-learn's clip), as scikit-learn computes them."""
    from onnx import TensorProto, helper, numpy_helper
    from sklearn.isotonic import IsotonicRegression

    constants: dict[str, np.ndarray] = {"column": np.array(1, dtype=np.int64)}
    nodes = [helper.make_node("Gather", [CALIBRATOR_INPUT, "column"], ["picked"], axis=1),
             helper.make_node("Cast", ["picked"], ["response"], to=TensorProto.DOUBLE)]
    if isinstance(calibrator, IsotonicRegression):
        x, y = (np.asarray(v, dtype=np.float64) for v in (calibrator.X_thresholds_, calibrator.y_thresholds_))
        if len(x) == 1:
            x, y = np.array([x[0], x[0] + 1.0]), np.array([y[0], y[0]])
        # f(t) = y0 + sum_i slope_i * (clip(t, x_i, x_i+1) - x_i): np.interp's line
        constants.update(shape=np.array([-1, 1], dtype=np.int64), low=x[:-1], high=x[1:],
                         slopes=np.diff(y) / np.diff(x), first=y[:1], axis=np.array([1], dtype=np.int64))
        nodes += [helper.make_node("Reshape", ["response", "shape"], ["column_t"]),
                  helper.make_node("Max", ["column_t", "low"], ["above"]),
                  helper.make_node("Min", ["above", "high"], ["clipped"]),
                  helper.make_node("Sub", ["clipped", "low"], ["run"]),
                  helper.make_node("Mul", ["run", "slopes"], ["rises"]),
                  helper.make_node("ReduceSum", ["rises", "axis"], ["total"], keepdims=0),
                  helper.make_node("Add", ["total", "first"], [OUTPUT_NAME])]
    else:
        constants.update(a=np.array(calibrator.a_, dtype=np.float64), b=np.array(calibrator.b_, dtype=np.float64))
        nodes += [helper.make_node("Mul", ["response", "a"], ["scaled"]),
                  helper.make_node("Add", ["scaled", "b"], ["shifted"]),
                  helper.make_node("Neg", ["shifted"], ["negated"]),
                  helper.make_node("Sigmoid", ["negated"], [OUTPUT_NAME])]
    for node in nodes:  # unique names beside the other graphs'
        node.input[:] = [CALIBRATOR_INPUT if n == CALIBRATOR_INPUT else n if n == OUTPUT_NAME else f"calibrate_{n}"
                         for n in node.input]
        node.output[:] = [n if n == OUTPUT_NAME else f"calibrate_{n}" for n in node.output]
    graph = helper.make_graph(
        nodes, "calibrator",
        [helper.make_value_info(CALIBRATOR_INPUT, scores_type)],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.DOUBLE, [None])],
        [numpy_helper.from_array(value, f"calibrate_{name}") for name, value in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in OPSET.items()])
    model.ir_version = IR_VERSION
    return model


# --- skl2onnx converters for our reducers --------------------------------------------------------

@functools.cache
def _register_reducers() -> None:
    """Teach skl2onnx our two reducers (once per process), as its custom-converter API asks."""
    from skl2onnx import update_registered_converter

    from ..reduce.autoencoder import AutoencoderReducer
    from ..reduce.pca import PCAReducer

    update_registered_converter(PCAReducer, "DeepfakeDetectPCAReducer", _reduced_shape, _convert_pca)
    update_registered_converter(AutoencoderReducer, "DeepfakeDetectAutoencoderReducer", _reduced_shape, _convert_autoencoder)


def _reduced_shape(operator) -> None:
    kind = operator.inputs[0].type.__class__
    operator.outputs[0].type = kind([operator.inputs[0].get_first_dimension(), operator.raw_operator._n_features_out])


def _convert_pca(scope, operator, container) -> None:
    from skl2onnx.algebra.onnx_operator import OnnxSubEstimator

    reduced = OnnxSubEstimator(operator.raw_operator.pca_, operator.inputs[0], op_version=container.target_opset,
                               output_names=operator.outputs[:1])
    reduced.add_to(scope, container)


def _convert_autoencoder(scope, operator, container) -> None:
    """Standardise, then the encoder's layers (ReLU between them), as `AutoencoderReducer.transform`."""
    from skl2onnx.algebra.onnx_ops import OnnxAdd, OnnxDiv, OnnxIdentity, OnnxMatMul, OnnxRelu, OnnxSub

    reducer, opv = operator.raw_operator, container.target_opset
    activations = OnnxDiv(OnnxSub(operator.inputs[0], reducer.mean_, op_version=opv), reducer.scale_, op_version=opv)
    last = len(reducer.encoder_weights_) - 1
    for index, (weights, bias) in enumerate(zip(reducer.encoder_weights_, reducer.encoder_biases_, strict=True)):
        activations = OnnxAdd(OnnxMatMul(activations, weights, op_version=opv), bias, op_version=opv)
        if index < last:
            activations = OnnxRelu(activations, op_version=opv)
    OnnxIdentity(activations, op_version=opv, output_names=operator.outputs[:1]).add_to(scope, container)
