"""Reducers: every registered entry honours the same contract; the custom ones pass sklearn's checks."""

from __future__ import annotations

import numpy as np
import pytest
import skops.io
import torch
from conftest import gaussian_blobs
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from deepfake_detect.classify import TRUSTED_TYPES, dump_estimator, load_estimator
from deepfake_detect.errors import ConfigError, UnknownNameError
from deepfake_detect.reduce import (
    AutoencoderReducer,
    PCAReducer,
    create_reducer,
    list_reducers,
)

# One BLAS/OpenMP thread, as in the grid's parallel cells (see conftest).
pytestmark = pytest.mark.usefixtures("single_threaded_native_code")

# Fewer epochs than the default keeps the suite quick; the contract does not depend on them.
FAST = {"autoencoder": {"max_epochs": 20}}


@pytest.mark.parametrize("name", list_reducers())
def test_reducer_contract(name, tmp_path):
    X, y = gaussian_blobs(seed=0)
    X_test, y_test = gaussian_blobs(seed=1)
    reducer = create_reducer(name, **FAST.get(name, {}))

    assert reducer.fit(X) is reducer
    reduced, reduced_test = reducer.transform(X), reducer.transform(X_test)
    assert reduced.shape[0] == len(X) and reduced_test.shape[1] == reduced.shape[1]
    assert np.isfinite(reduced_test).all()

    probe = LogisticRegression().fit(reduced, y)
    assert roc_auc_score(y_test, probe.predict_proba(reduced_test)[:, 1]) > 0.9

    refitted = clone(reducer).fit(X)
    np.testing.assert_array_equal(refitted.transform(X_test), reduced_test)

    dump_estimator(reducer, tmp_path / "reducer.skops")
    loaded = load_estimator(tmp_path / "reducer.skops")
    np.testing.assert_array_equal(loaded.transform(X_test), reduced_test)


@parametrize_with_checks(
    [AutoencoderReducer(hidden=8, bottleneck=2, max_epochs=5), PCAReducer()]  # small: check data is tiny
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_create_reducer_rejects_unknown_names_and_parameters():
    with pytest.raises(UnknownNameError, match="choose from: " + ", ".join(list_reducers()) + "$"):
        create_reducer("umap")
    valid = ", ".join(sorted(PCAReducer().get_params()))
    with pytest.raises(ConfigError, match=rf"^reducer 'pca' has no parameter 'n_component'; valid: {valid}$"):
        create_reducer("pca", n_component=8)
    assert create_reducer("autoencoder", bottleneck=8).bottleneck == 8


@pytest.mark.parametrize("name", list_reducers())
def test_a_value_of_the_wrong_type_is_a_one_line_config_error(name):
    numeric = [k for k, v in create_reducer(name).get_params().items() if isinstance(v, int | float) and not isinstance(v, bool)]
    for parameter in numeric:
        with pytest.raises(ConfigError, match=rf"^reducer '{name}': parameter '{parameter}' must be like"):
            create_reducer(name, **{parameter: "high"})


def test_pca_clips_an_integer_request_to_what_the_data_allows():
    X, _ = gaussian_blobs(n=20, n_features=32)
    assert create_reducer("pca", n_components=128).fit(X).transform(X).shape == (20, 20)
    assert create_reducer("pca", n_components=8).fit(X).n_components_ == 8
    assert create_reducer("pca", n_components=8).get_params()["n_components"] == 8


def test_pca_float_keeps_a_fraction_of_variance():
    rng = np.random.default_rng(0)
    low_rank = rng.normal(size=(100, 3)) @ rng.normal(size=(3, 40)) + 1e-3 * rng.normal(size=(100, 40))
    assert create_reducer("pca", n_components=0.99).fit(low_rank).n_components_ == 3


def test_autoencoder_is_reproducible_and_leaves_torch_global_state_alone():
    X, _ = gaussian_blobs()
    torch.manual_seed(123)
    rng_state, threads = torch.get_rng_state(), torch.get_num_threads()

    first = AutoencoderReducer(bottleneck=8, max_epochs=20, random_state=0).fit(X).transform(X)
    second = AutoencoderReducer(bottleneck=8, max_epochs=20, random_state=0).fit(X).transform(X)
    other_seed = AutoencoderReducer(bottleneck=8, max_epochs=20, random_state=1).fit(X).transform(X)

    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other_seed)
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch.get_num_threads() == threads


def test_autoencoder_stops_early_when_validation_loss_stalls():
    noise = np.random.default_rng(0).normal(size=(200, 32))  # little to learn: a fast learner stalls soon
    reducer = AutoencoderReducer(bottleneck=4, hidden=16, lr=3e-2, max_epochs=200, patience=3).fit(noise)
    assert reducer.n_iter_ < 50
    assert np.isfinite(reducer.best_loss_)


def test_autoencoder_state_is_plain_numpy_so_skops_needs_no_torch():
    X, _ = gaussian_blobs()
    reducer = AutoencoderReducer(bottleneck=8, max_epochs=5).fit(X)
    fitted = {key: value for key, value in vars(reducer).items() if key.endswith("_")}
    for value in fitted.values():
        items = value if isinstance(value, list) else [value]
        assert all(isinstance(item, (np.ndarray, int, float)) for item in items)
    untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(reducer))
    assert untrusted == ["deepfake_detect.reduce.autoencoder.AutoencoderReducer"]
    assert set(untrusted) <= set(TRUSTED_TYPES)
