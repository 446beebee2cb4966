"""Save and load fitted estimators with skops, never pickle.

A pickle runs whatever code its author chose when loaded, and model files get shared.
skops stores a schema of types and data instead, and refuses to build any type it is not
told to trust. We trust a fixed list: the types our registries' fitted reducers and
classifiers contain beyond skops' own defaults (builtins, numpy, sklearn estimators).
The file's types are checked before anything in it is imported or built.

skops is imported on first use, and without its scikit-learn walk (see `skops_io`): its
default trust list comes from `sklearn.utils.all_estimators()`, which imports every
scikit-learn module, 2 s of a cold `predict` with a features detector, more than importing
torch (issue 18). We never need that list: TRUSTED_TYPES names every scikit-learn type our
files hold.

TRUSTED_TYPES stops code execution, not every harm: skops warns that tree node arrays
(`Tree`, `TreePredictor`) are indexed without bounds checks, so a hand-crafted file with
such nodes could crash the process at predict time. Every loaded estimator therefore goes
through `structure.check_fitted_structure` before it is returned.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import DetectorError, UntrustedModelError
from .structure import check_fitted_structure

TRUSTED_TYPES: tuple[str, ...] = (
    "deepfake_detect.reduce.autoencoder.AutoencoderReducer",
    "deepfake_detect.reduce.pca.PCAReducer",
    "sklearn.decomposition._pca.PCA",
    "sklearn.discriminant_analysis.LinearDiscriminantAnalysis",
    "sklearn.dummy.DummyClassifier",
    "sklearn.ensemble._bagging.BaggingClassifier",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.metrics._ranking.roc_auc_score",
    "sklearn.metrics._scorer._Scorer",
    "sklearn.model_selection._search.GridSearchCV",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.naive_bayes.GaussianNB",
    "sklearn.neighbors._classification.KNeighborsClassifier",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.svm._classes.SVC",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._tree.Tree",
)
"""Found by fitting every registered classifier (with and without search) after every
registered reducer and asking skops, imported as `skops_io` imports it, which types it does
not trust by default; the contract test in tests/test_classify.py repeats this in a fresh
process, so a new registry entry that needs another type fails there with the name to add.
If skops was imported before us (by the user's code), its defaults also trust every public
scikit-learn estimator: the check is then as strict as skops' own, never looser."""


def skops_io() -> ModuleType:
    """`skops.io`, imported without building skops' scikit-learn trust list when we import it first.

    skops computes `SKLEARN_ESTIMATOR_TYPE_NAMES` once, at import, from
    `sklearn.utils.all_estimators()`, which imports all of scikit-learn. While skops imports,
    that function answers with no estimators, so skops trusts no scikit-learn estimator by
    default and every one in a file must be in TRUSTED_TYPES. The original is put back at
    once; nothing else sees the change. Without the walk, scikit-learn's array-API shim never
    imports torch either (1.6 s a detector on ONNX Runtime does not need).
    """
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    import sklearn.utils

    all_estimators = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = lambda type_filter=None: []
    try:
        import skops.io
    finally:
        sklearn.utils.all_estimators = all_estimators
    return skops.io


def estimator_bytes(estimator: Any, extra_trusted: Iterable[str] = ()) -> bytes:
    """skops bytes of `estimator`, refused now if `estimator_from_bytes` would refuse them later
    (so an unloadable file is never written and discovered only later)."""
    skops = skops_io()
    data = skops.dumps(estimator)
    _check_trusted(skops.get_untrusted_types(data=data), extra_trusted, "cannot save the model")
    return data


def estimator_from_bytes(data: bytes, name: str, extra_trusted: Iterable[str] = ()) -> Any:
    """The estimator in skops `data`, built only after every type in it is found trusted
    (TRUSTED_TYPES and `extra_trusted`) and returned only after its fitted arrays are checked;
    every refusal is one line naming `name`."""
    skops = skops_io()
    try:
        untrusted = skops.get_untrusted_types(data=data)
    except Exception as exc:  # zip, JSON and schema errors of several kinds
        raise DetectorError(f"{name}: not a skops model file ({type(exc).__name__})") from None
    _check_trusted(untrusted, extra_trusted, f"{name}: refusing to load")
    try:
        estimator = skops.loads(data, trusted=sorted({*TRUSTED_TYPES, *extra_trusted}))
    except Exception as exc:
        raise DetectorError(f"{name}: cannot be read as a model ({type(exc).__name__}: {exc})") from None
    try:
        check_fitted_structure(estimator)
    except ValueError as error:
        raise UntrustedModelError(f"{name}: refused, {error}") from None
    return estimator


def dump_estimator(estimator: Any, path: str | Path) -> None:
    """Write `estimator` to `path` in skops format (refused if `load_estimator` would refuse it)."""
    Path(path).write_bytes(estimator_bytes(estimator))


def load_estimator(path: str | Path) -> Any:
    """Read an estimator written by `dump_estimator`, refusing any type not trusted."""
    return estimator_from_bytes(Path(path).read_bytes(), str(path))


def _check_trusted(types: Iterable[str], extra_trusted: Iterable[str], context: str) -> None:
    unknown = sorted(set(types) - set(TRUSTED_TYPES) - set(extra_trusted))
    if unknown:
        raise UntrustedModelError(f"{context}: holds types that are not trusted: {', '.join(unknown)}")
