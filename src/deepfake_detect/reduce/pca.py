"""Principal component analysis, tolerant of asking for more components than the data has."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, RealNotInt
from sklearn.utils.validation import check_is_fitted, validate_data


class PCAReducer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """sklearn's PCA, except that an integer `n_components` is an upper bound.

    One experiment config runs across backbones whose feature sizes differ (a 768-d ViT,
    a 64-d spectrum) and across small ablation subsets; plain PCA raises when asked for
    more components than min(n_samples, n_features), which would abort a whole sweep for
    one small cell. Here the request is clipped at fit time instead; `n_components_` tells
    how many were kept. A float in (0, 1) is a fraction of explained variance, as in PCA.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), Interval(RealNotInt, 0, 1, closed="neither"), None],
        "whiten": ["boolean"],
        "random_state": ["random_state"],
    }
    """Checked when a config is read (`set_checked_params`), not after hours of extraction."""

    def __init__(
        self,
        n_components: int | float | None = 0.99,
        whiten: bool = False,
        random_state: int | np.random.RandomState | None = 0,
    ):
        self.n_components = n_components
        self.whiten = whiten
        self.random_state = random_state

    def fit(self, X, y=None) -> PCAReducer:
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        from sklearn.decomposition import PCA  # here: a detector without PCA never imports it (0.14 s)

        self.pca_ = PCA(
            n_components=self._clipped_components(X.shape),
            whiten=self.whiten,
            random_state=self.random_state,
        ).fit(X)
        self.n_components_ = int(self.pca_.n_components_)
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self.pca_.transform(X)

    def _clipped_components(self, shape: tuple[int, int]) -> int | float | None:
        requested = self.n_components
        if isinstance(requested, (int, np.integer)) and not isinstance(requested, bool):
            return int(min(requested, *shape))
        return requested

    @property
    def _n_features_out(self) -> int:
        return self.n_components_
