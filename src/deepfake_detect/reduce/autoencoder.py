"""A small MLP autoencoder as a non-linear alternative to PCA.

Trained with PyTorch, but the fitted state is plain numpy and `transform` runs the encoder
in numpy: the estimator then saves with skops like any sklearn transformer, with no pickled
torch module, and neither importing this module nor scoring needs torch (it is imported
inside `fit`), which keeps registry listings and model loading light.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data


if TYPE_CHECKING:
    import torch
    from torch import nn

_MIN_RELATIVE_IMPROVEMENT = 1e-4
"""A validation loss must beat the best so far by this fraction to reset the patience."""


@contextmanager
def _seeded_torch(seed: int, n_threads: int) -> Iterator[None]:
    """Seed torch and use `n_threads` threads (-1: every core) inside the block only."""
    import torch

    previous_threads = torch.get_num_threads()
    torch.set_num_threads((os.cpu_count() or 1) if n_threads < 0 else max(1, n_threads))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(previous_threads)


class AutoencoderReducer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Standardise, then encode through one ReLU hidden layer to a linear bottleneck.

    The decoder mirrors the encoder and exists only for training. Early stopping watches
    the reconstruction loss on a held-out `validation_fraction` of the training rows (the
    autoencoder sees no labels, but an unchecked one memorises a small training set). The
    weights of the best epoch are kept. Training is seeded by `random_state` and leaves
    torch's global random state untouched, so two fits give identical output.

    `n_jobs` is torch's thread count during `fit` (restored afterwards). It defaults to 1
    because callers run many fits side by side, and OpenMP threads competing for the
    same cores run several times slower than one thread each; a fixed count also keeps
    the floating-point sums, hence the weights, reproducible.
    """

    _parameter_constraints: dict = {
        "bottleneck": [Interval(Integral, 1, None, closed="left")],
        "hidden": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [Integral],
    }
    """Checked when a config is read (`set_checked_params`), not after hours of extraction."""

    def __init__(
        self,
        bottleneck: int = 64,
        hidden: int = 128,
        max_epochs: int = 100,
        lr: float = 1e-3,
        batch_size: int = 64,
        validation_fraction: float = 0.1,
        patience: int = 10,
        random_state: int | np.random.RandomState | None = 0,
        n_jobs: int = 1,
    ):
        self.bottleneck = bottleneck
        self.hidden = hidden
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X, y=None) -> AutoencoderReducer:
        X = validate_data(self, X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        standardised = ((X - self.mean_) / self.scale_).astype(np.float32)

        rng = check_random_state(self.random_state)
        train, validation = self._split(standardised, rng)
        with _seeded_torch(int(rng.randint(np.iinfo(np.int32).max)), self.n_jobs):
            encoder, self.n_iter_, self.best_loss_ = self._train(train, validation)
        linears = [encoder[0], encoder[2]]
        self.encoder_weights_ = [layer.weight.detach().numpy().T.astype(np.float64) for layer in linears]
        self.encoder_biases_ = [layer.bias.detach().numpy().astype(np.float64) for layer in linears]
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        activations = (X - self.mean_) / self.scale_
        last = len(self.encoder_weights_) - 1
        for index, (weights, bias) in enumerate(zip(self.encoder_weights_, self.encoder_biases_, strict=True)):
            activations = activations @ weights + bias
            if index < last:
                activations = np.maximum(activations, 0.0)
        return activations

    @property
    def _n_features_out(self) -> int:
        return self.encoder_biases_[-1].shape[0]

    def _split(self, X: np.ndarray, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        """Hold out validation rows; with too few rows, validate on the training rows."""
        n_validation = int(round(self.validation_fraction * len(X)))
        if n_validation < 1 or n_validation >= len(X):
            return X, X
        order = rng.permutation(len(X))
        return X[order[n_validation:]], X[order[:n_validation]]

    def _train(self, train: np.ndarray, validation: np.ndarray) -> tuple[nn.Sequential, int, float]:
        """Train encoder and decoder; return the encoder of the best epoch, epochs run, best loss."""
        import torch

        encoder, decoder = self._networks(train.shape[1])
        model = torch.nn.Sequential(encoder, decoder)
        optimiser = torch.optim.Adam(model.parameters(), lr=self.lr)
        train_tensor, validation_tensor = torch.from_numpy(train), torch.from_numpy(validation)

        best_loss, best_state, stale_epochs, epoch = np.inf, None, 0, 0
        for epoch in range(1, self.max_epochs + 1):
            self._train_one_epoch(model, optimiser, train_tensor)
            validation_loss = _reconstruction_loss(model, validation_tensor)
            if validation_loss < best_loss * (1 - _MIN_RELATIVE_IMPROVEMENT):
                best_loss, stale_epochs = validation_loss, 0
                best_state = {key: value.clone() for key, value in encoder.state_dict().items()}
            else:
                stale_epochs += 1
                if stale_epochs >= self.patience:
                    break
        if best_state is not None:
            encoder.load_state_dict(best_state)
        return encoder, epoch, float(best_loss)

    def _networks(self, n_features: int) -> tuple[nn.Sequential, nn.Sequential]:
        from torch import nn

        encoder = nn.Sequential(nn.Linear(n_features, self.hidden), nn.ReLU(), nn.Linear(self.hidden, self.bottleneck))
        decoder = nn.Sequential(nn.Linear(self.bottleneck, self.hidden), nn.ReLU(), nn.Linear(self.hidden, n_features))
        return encoder, decoder

    def _train_one_epoch(self, model: nn.Module, optimiser: torch.optim.Optimizer, data: torch.Tensor) -> None:
        import torch

        model.train()
        for batch in torch.randperm(len(data)).split(self.batch_size):
            inputs = data[batch]
            loss = torch.nn.functional.mse_loss(model(inputs), inputs)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()


def _reconstruction_loss(model: nn.Module, data: torch.Tensor) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        return torch.nn.functional.mse_loss(model(data), data).item()
