"""Classifiers: every registered entry honours the same contract, and model files load safely."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io
from conftest import gaussian_blobs
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from deepfake_detect.errors import ConfigError, DetectorError, UnknownNameError
from deepfake_detect.classify import (
    TRUSTED_TYPES,
    UntrustedModelError,
    classifier_info,
    create_classifier,
    dump_estimator,
    fake_scores,
    list_classifiers,
    load_estimator,
)
from deepfake_detect.reduce import create_reducer, list_reducers

# One BLAS/OpenMP thread, as in the grid's parallel cells (see conftest).
pytestmark = pytest.mark.usefixtures("single_threaded_native_code")

SEARCHABLE = [name for name in list_classifiers() if classifier_info(name).search_grid]


TRAIN, TEST = gaussian_blobs(seed=0), gaussian_blobs(seed=1)


@pytest.mark.parametrize(
    "name, search", [(name, False) for name in list_classifiers()] + [(name, True) for name in SEARCHABLE]
)
def test_classifier_contract(name, search, tmp_path):
    (X, y), (X_test, y_test) = TRAIN, TEST
    estimator = create_classifier(name, search=search)

    assert estimator.fit(X, y) is estimator
    scores = fake_scores(estimator, X_test)
    assert scores.shape == (len(X_test),) and scores.min() >= 0 and scores.max() <= 1
    assert roc_auc_score(y_test, scores) > 0.9
    np.testing.assert_array_equal(scores > 0.5, estimator.predict(X_test) == 1)

    np.testing.assert_array_equal(fake_scores(clone(estimator).fit(X, y), X_test), scores)  # seeded

    dump_estimator(estimator, tmp_path / "model.skops")
    np.testing.assert_array_equal(fake_scores(load_estimator(tmp_path / "model.skops"), X_test), scores)


# Fewer trees and epochs than the defaults: the types a fitted estimator holds do not depend
# on how many there are, and a pair test at full size would take most of a minute.
SMALL = {
    "autoencoder": {"max_epochs": 5},
    "bagging": {"n_estimators": 3},
    "gradient_boosting": {"max_iter": 5},
    "gradient_boosting_classic": {"n_estimators": 5},
    "random_forest": {"n_estimators": 5},
}


def test_trusted_types_are_exactly_what_every_reducer_classifier_pair_needs(tmp_path):
    """Each pair round-trips with TRUSTED_TYPES, and no entry of TRUSTED_TYPES is unused.

    The needed types are listed in a fresh process, where `load_estimator` is the first to
    import skops and skops trusts no scikit-learn estimator by default (as in a cold `predict`);
    that process must not have imported all of scikit-learn (its Gaussian processes, say) to do it.
    """
    (X, y), (X_test, _) = TRAIN, TEST
    paths = []
    for reducer_name in list_reducers():
        reducer = create_reducer(reducer_name, **SMALL.get(reducer_name, {})).fit(X)
        reduced = reducer.transform(X)
        for name in list_classifiers():
            for search in [False, True] if name in SEARCHABLE else [False]:
                classifier = create_classifier(name, search=search, **SMALL.get(name, {})).fit(reduced, y)
                pair = Pipeline([("reduce", reducer), ("classify", classifier)])
                paths.append(tmp_path / f"pair{len(paths)}.skops")
                dump_estimator(pair, paths[-1])
                loaded = load_estimator(paths[-1])
                np.testing.assert_array_equal(fake_scores(loaded, X_test), fake_scores(pair, X_test))
    script = (
        "import json, sys\n"
        "from deepfake_detect.classify.serialization import skops_io\n"
        "needed = sorted(set().union(*(skops_io().get_untrusted_types(file=path) for path in sys.argv[1:])))\n"
        "print(json.dumps({'needed': needed, 'walked': 'sklearn.gaussian_process' in sys.modules}))\n"
    )
    answer = json.loads(subprocess.run([sys.executable, "-c", script, *map(str, paths)], capture_output=True, text=True, check=True).stdout)
    assert answer["needed"] == sorted(TRUSTED_TYPES), "update TRUSTED_TYPES in classify/serialization.py"
    assert not answer["walked"], "importing skops walked all of scikit-learn"


class Intruder(BaseEstimator):
    """A type no model file of ours contains; records any attempt to build it."""

    built = False

    def __setstate__(self, state):
        Intruder.built = True
        super().__setstate__(state)


def test_loading_a_foreign_type_fails_before_building_anything(tmp_path):
    path = tmp_path / "foreign.skops"
    skops.io.dump(Pipeline([("scale", FunctionTransformer()), ("classifier", Intruder())]), path)
    Intruder.built = False

    with pytest.raises(UntrustedModelError, match=f"{Intruder.__module__}.Intruder") as error:
        load_estimator(path)
    assert "\n" not in str(error.value)
    assert not Intruder.built


def rewrite_top_level_type(path: Path, module: str, name: str) -> None:
    """Tamper with a skops file: claim its top-level object is `module.name`."""
    with zipfile.ZipFile(path) as archive:
        members = {member: archive.read(member) for member in archive.namelist()}
    schema = json.loads(members["schema.json"])
    schema["__module__"], schema["__class__"] = module, name
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)


@pytest.mark.parametrize("module, name", [("builtins", "eval"), ("collections", "OrderedDict")])
def test_a_tampered_model_file_is_refused(tmp_path, module, name):
    path = tmp_path / "model.skops"
    dump_estimator(create_classifier("naive_bayes").fit(*TRAIN), path)
    rewrite_top_level_type(path, module, name)
    with pytest.raises(UntrustedModelError, match=f"refusing to load: holds types that are not trusted: {module}.{name}$"):
        load_estimator(path)


def test_dump_refuses_what_load_would_refuse(tmp_path):
    path = tmp_path / "model.skops"
    with pytest.raises(UntrustedModelError, match="Intruder"):
        dump_estimator(Pipeline([("classifier", Intruder())]), path)
    assert not path.exists()


def test_a_file_that_is_not_a_skops_archive_is_a_clear_error(tmp_path):
    path = tmp_path / "model.skops"
    path.write_text("not a zip file")
    with pytest.raises(DetectorError, match="not a skops model file"):
        load_estimator(path)


def test_parameters_override_the_final_estimator():
    assert create_classifier("svm_rbf", C=3.0)[-1].C == 3.0
    assert create_classifier("knn3", metric="euclidean")[-1].metric == "euclidean"
    assert create_classifier("bagging", estimator__max_depth=3)[-1].estimator.max_depth == 3
    assert create_classifier("svm_rbf")[-1].C == 1.0  # factories hand out fresh objects


def test_unknown_names_and_parameters_are_one_line_errors():
    with pytest.raises(UnknownNameError, match=f"unknown classifier 'xgboost'; choose from: {list_classifiers()[0]}, "):
        create_classifier("xgboost")
    with pytest.raises(
        ConfigError, match=r"^classifier 'svm_rbf' has no parameter 'c'; valid: C, break_ties, "
    ) as error:
        create_classifier("svm_rbf", c=3.0)
    assert "\n" not in str(error.value)
    unsearchable = next(name for name in list_classifiers() if name not in SEARCHABLE)
    with pytest.raises(ConfigError, match="search=True works for: " + ", ".join(SEARCHABLE) + "$"):
        create_classifier(unsearchable, search=True)
    with pytest.raises(ConfigError, match="search=True chooses C"):
        create_classifier("svm_rbf", search=True, C=3.0)
    with pytest.raises(ConfigError, match="search must be true or false"):
        create_classifier("svm_rbf", search="yes")


@pytest.mark.parametrize("name", list_classifiers())
def test_a_value_sklearn_would_refuse_at_fit_time_is_refused_when_built(name):
    """Wrong types fail before any data is touched, one line, for every registered entry."""
    estimator = create_classifier(name)[-1]
    numeric = [k for k, v in estimator.get_params(deep=False).items()
               if isinstance(v, int | float) and not isinstance(v, bool)]
    for parameter in numeric:
        with pytest.raises(ConfigError, match=rf"^classifier '{name}': (parameter '{parameter}' must be like|The '{parameter}' parameter)") as error:
            create_classifier(name, **{parameter: "high"})
        assert "\n" not in str(error.value)


def test_search_is_a_small_cross_validated_grid_over_c():
    search = create_classifier("linear_probe", search=True, max_iter=500)
    assert isinstance(search, GridSearchCV) and search.cv == 3
    assert search.estimator[-1].max_iter == 500
    search.fit(*TRAIN)
    assert search.best_params_["classifier__C"] in classifier_info("linear_probe").search_grid["C"]
