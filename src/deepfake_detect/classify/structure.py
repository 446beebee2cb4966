"""Checking a loaded estimator's fitted arrays before any of it runs.

skops refuses untrusted types, so a model file cannot run code; but the arrays inside trusted
types are data an author chose, and several scikit-learn estimators hand them to compiled code
that indexes without bounds checks: a decision tree's child and feature indices, a histogram
boosting predictor's nodes, libsvm's support counts, the labels of nearest neighbours. A file
whose tree points outside itself crashes the process (a segmentation fault, not an exception).

`check_fitted_structure` walks everything reachable from the estimator and checks, for each
estimator that reaches native code, the invariants scikit-learn's own fit guarantees (indices in
range, children after their parent so a walk always ends, array shapes consistent with the
estimator's feature count and classes), and that every floating-point array is finite. It raises
`ValueError` with one line naming what is wrong; callers turn it into their own error type.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NATIVE_KERNELS = ("linear", "poly", "rbf", "sigmoid")
MAX_SVM_DEGREE = 10


def check_fitted_structure(estimator: Any) -> None:
    """Raise ValueError (one line) unless every fitted array reachable from `estimator` is sound."""
    _walk(estimator, "model", set())


def _walk(value: Any, where: str, seen: set[int]) -> None:
    if id(value) in seen or value is None or isinstance(value, str | bytes | int | float | bool | type):
        return
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        _check_array(value, where, seen)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _walk(item, f"{where}.{key}", seen)
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _walk(item, f"{where}[{index}]", seen)
        return
    if type(value).__module__.startswith("scipy.interpolate"):
        return  # an isotonic calibrator's interpolant: its fill values are NaN by design, no native indexing
    for check in _checks_for(value):
        check(value, where)
    state = getattr(value, "__dict__", None)
    if isinstance(state, dict):
        for key, item in state.items():
            _walk(item, f"{where}.{key}", seen)


def _check_array(array: np.ndarray, where: str, seen: set[int]) -> None:
    if array.dtype.kind == "O":
        for index, item in enumerate(array.ravel()):
            _walk(item, f"{where}[{index}]", seen)
    elif array.dtype.names:
        for field in array.dtype.names:
            _require_finite(array[field], f"{where}.{field}")
    else:
        _require_finite(array, where)


def _require_finite(array: np.ndarray, where: str) -> None:
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        raise ValueError(f"{where} holds values that are not finite")


def _checks_for(value: Any) -> list:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.svm._base import BaseLibSVM
    from sklearn.tree import BaseDecisionTree

    table = [
        (BaseDecisionTree, _check_decision_tree),
        (HistGradientBoostingClassifier, _check_hist_boosting),
        (BaseLibSVM, _check_libsvm),
        (KNeighborsClassifier, _check_neighbours),
        (FunctionTransformer, _check_function_transformer),
    ]
    return [check for kind, check in table if isinstance(value, kind)]


def _fail(where: str, problem: str) -> None:
    raise ValueError(f"{where}: {problem}")


def _n_features(estimator: Any, where: str) -> int:
    n_features = getattr(estimator, "n_features_in_", None)
    if not isinstance(n_features, int | np.integer) or isinstance(n_features, bool) or n_features < 1:
        _fail(where, f"n_features_in_ is {n_features!r}, not a positive integer")
    return int(n_features)


def _check_children(left: np.ndarray, right: np.ndarray, leaf: np.ndarray, where: str) -> None:
    """Inner nodes point to later nodes inside the tree (so every walk ends at a leaf)."""
    count = len(left)
    index = np.arange(count)
    inner = ~leaf
    for name, child in (("left child", left), ("right child", right)):
        child = np.asarray(child, dtype=np.int64)
        if not ((child[inner] > index[inner]) & (child[inner] < count)).all():
            _fail(where, f"a {name} index points outside the tree or backwards")


def _check_decision_tree(estimator: Any, where: str) -> None:
    from sklearn.tree._tree import TREE_LEAF

    tree = getattr(estimator, "tree_", None)
    if tree is None:  # an unfitted template (a forest's `estimator`): never asked to predict
        return
    where = f"{where} ({type(estimator).__name__})"
    n_features = _n_features(estimator, where)
    if tree.n_features != n_features:
        _fail(where, f"the tree reads {tree.n_features} features, the estimator {n_features}")
    count = tree.node_count
    left, right, feature = tree.children_left, tree.children_right, tree.feature
    if count < 1 or not (len(left) == len(right) == len(feature) == count):
        _fail(where, "the tree's node arrays disagree in length")
    leaf = left == TREE_LEAF
    if not (right[leaf] == TREE_LEAF).all():
        _fail(where, "a node has one child")
    _check_children(left, right, leaf, where)
    if not ((feature[~leaf] >= 0) & (feature[~leaf] < n_features)).all():
        _fail(where, "a split reads a feature index outside the input")
    if tree.value.shape != (count, tree.n_outputs, tree.max_n_classes):
        _fail(where, "the tree's value array does not match its nodes")
    for name in ("threshold", "value", "impurity"):
        _require_finite(np.asarray(getattr(tree, name)), f"{where}.{name}")


def _check_hist_boosting(estimator: Any, where: str) -> None:
    if not hasattr(estimator, "_predictors"):
        return  # unfitted (a search's template): predicting raises NotFittedError, no native code
    where = f"{where} ({type(estimator).__name__})"
    n_features = _n_features(estimator, where)
    mapper = getattr(estimator, "_bin_mapper", None)
    categorical = getattr(mapper, "is_categorical_", None)
    if mapper is None or (categorical is not None and np.any(categorical)):
        _fail(where, "categorical splits are not produced by this tool")
    stages = estimator._predictors
    if not stages:
        _fail(where, "has no fitted predictors")
    for stage, predictors in enumerate(stages):
        for predictor in predictors:
            _check_predictor_nodes(predictor.nodes, n_features, f"{where} stage {stage}")


def _check_predictor_nodes(nodes: np.ndarray, n_features: int, where: str) -> None:
    fields = ("left", "right", "feature_idx", "is_leaf", "is_categorical")
    if nodes.ndim != 1 or len(nodes) < 1 or not set(fields) <= set(nodes.dtype.names or ()):
        _fail(where, "the predictor's nodes are not a node table")
    leaf = nodes["is_leaf"].astype(bool)
    if nodes["is_categorical"].any():
        _fail(where, "categorical splits are not produced by this tool")
    _check_children(nodes["left"], nodes["right"], leaf, where)
    feature = nodes["feature_idx"][~leaf]
    if not ((feature >= 0) & (feature < n_features)).all():
        _fail(where, "a split reads a feature index outside the input")


def _check_libsvm(estimator: Any, where: str) -> None:
    if not hasattr(estimator, "support_vectors_"):
        return
    where = f"{where} ({type(estimator).__name__})"
    n_features = _n_features(estimator, where)
    if estimator._impl != "c_svc" or estimator.kernel not in NATIVE_KERNELS or estimator._sparse:
        _fail(where, "not a dense C-SVC with a built-in kernel")
    n_classes = len(estimator.classes_)
    vectors, support = estimator.support_vectors_, estimator.support_
    counts = estimator._n_support
    pairs = n_classes * (n_classes - 1) // 2
    shapes_agree = (
        vectors.ndim == 2 and vectors.shape[1] == n_features and support.shape == (len(vectors),)
        and counts.shape == (n_classes,) and (counts >= 0).all() and counts.sum() == len(vectors)
        and estimator._dual_coef_.shape == (n_classes - 1, len(vectors))
        and estimator._intercept_.shape == (pairs,)
        and all(np.asarray(p).size in (0, pairs) for p in (estimator._probA, estimator._probB))
        and tuple(estimator.shape_fit_)[1:] == (n_features,)
    )
    if not shapes_agree:
        _fail(where, "support vectors, counts and coefficients disagree in shape")
    if not (isinstance(estimator.degree, int | np.integer) and 0 <= estimator.degree <= MAX_SVM_DEGREE):
        _fail(where, f"degree {estimator.degree!r} is out of range")
    _require_finite(np.asarray([estimator._gamma, estimator.coef0], dtype=np.float64), f"{where}.gamma")


def _check_neighbours(estimator: Any, where: str) -> None:
    if not hasattr(estimator, "_fit_X"):
        return
    where = f"{where} ({type(estimator).__name__})"
    n_features = _n_features(estimator, where)
    fit_x, labels, classes = estimator._fit_X, np.asarray(estimator._y), estimator.classes_
    if estimator._fit_method != "brute":
        _fail(where, "only brute-force neighbour search is produced by this tool")
    if fit_x.ndim != 2 or fit_x.shape[1] != n_features or labels.shape != (len(fit_x),):
        _fail(where, "the stored samples and labels disagree in shape")
    if estimator.n_samples_fit_ != len(fit_x) or not 1 <= estimator.n_neighbors <= len(fit_x):
        _fail(where, "n_neighbors or the sample count does not match the stored samples")
    if labels.dtype.kind not in "iu" or not ((labels >= 0) & (labels < len(classes))).all():
        _fail(where, "a stored label is not one of the classes")


def _check_function_transformer(estimator: Any, where: str) -> None:
    if estimator.func is not None or estimator.inverse_func is not None:
        _fail(f"{where} (FunctionTransformer)", "holds a function; this tool saves only the identity")
