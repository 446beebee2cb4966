"""Save and load fitted estimators with skops, never pickle.

A pickle runs whatever code its author chose when loaded, and model files get shared.
skops stores a schema of types and data instead, and refuses to build any type it is not
told to trust. We trust a fixed list: the types our registries' fitted reducers and
classifiers contain beyond skops' own defaults (builtins, numpy, sklearn estimators).
The file's types are checked before anything in it is imported or built. skops itself is
imported on first use: importing it walks all of scikit-learn (seconds), which listing the
registry should not pay for.

TRUSTED_TYPES stops code execution, not every harm: skops warns that tree node arrays
(`Tree`, `TreePredictor`) are indexed without bounds checks, so a hand-crafted file with
such nodes could crash the process at predict time. Every loaded estimator therefore goes
through `structure.check_fitted_structure` before it is returned.
"""

from __future__ import annotations

from ..errors import UntrustedModelError
from .structure import check_fitted_structure

import zipfile
from pathlib import Path
from typing import Any

TRUSTED_TYPES: tuple[str, ...] = (
    "deepfake_detect.reduce.autoencoder.AutoencoderReducer",
    "deepfake_detect.reduce.pca.PCAReducer",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.metrics._ranking.roc_auc_score",
    "sklearn.metrics._scorer._Scorer",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.tree._tree.Tree",
)
"""Found by fitting every registered classifier (with and without search) after every
registered reducer and asking skops which types it does not trust by default; the contract
test in tests/test_classify.py repeats this, so a new registry entry that needs another
type fails there with the name to add."""




def dump_estimator(estimator: Any, path: str | Path) -> None:
    """Write `estimator` to `path` in skops format.

    Refuses an estimator that `load_estimator` would refuse, so an unloadable file is
    never written and discovered only later.
    """
    import skops.io

    data = skops.io.dumps(estimator)
    _check_trusted(skops.io.get_untrusted_types(data=data), f"cannot save to {path}, load_estimator would refuse")
    Path(path).write_bytes(data)


def load_estimator(path: str | Path) -> Any:
    """Read an estimator written by `dump_estimator`, refusing any type not trusted."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError) as error:
        raise ValueError(f"{path}: not a skops model file ({type(error).__name__})") from None
    _check_trusted(untrusted, f"{path}: refusing to load")
    try:
        estimator = skops.io.load(path, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as error:  # belt and braces
        raise UntrustedModelError(f"{path}: {str(error).splitlines()[0]}") from None
    try:
        check_fitted_structure(estimator)
    except ValueError as error:
        raise UntrustedModelError(f"{path}: refused, {error}") from None
    return estimator


def _check_trusted(types: list[str], context: str) -> None:
    unknown = sorted(set(types) - set(TRUSTED_TYPES))
    if unknown:
        raise UntrustedModelError(f"{context} types not in TRUSTED_TYPES: {', '.join(unknown)}")
