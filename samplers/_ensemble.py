from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import math
from typing import Any

import lightgbm
import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution


def encode(
    configs: Sequence[Mapping[str, Any]], distributions: Mapping[str, BaseDistribution]
) -> np.ndarray:
    """Features of configurations: numeric parameters scaled to [0, 1] (in log space for
    ``log=True``), categorical ones one-hot encoded."""
    columns: list[np.ndarray] = []
    for name, dist in distributions.items():
        values = [config[name] for config in configs]
        if isinstance(dist, CategoricalDistribution):
            index = np.array([dist.to_internal_repr(v) for v in values], dtype=int)
            columns.append(np.eye(len(dist.choices))[index])
            continue
        low, high = float(dist.low), float(dist.high)  # type: ignore[attr-defined]
        x = np.asarray(values, dtype=float)
        if dist.log:  # type: ignore[attr-defined]
            x, low, high = np.log(x), math.log(low), math.log(high)
        scaled = (x - low) / (high - low) if high > low else np.zeros_like(x)
        columns.append(scaled[:, None])
    return np.hstack(columns) if columns else np.zeros((len(configs), 0))


class BootstrapEnsemble:
    """Gradient-boosted trees (LightGBM) fitted on bootstrap resamples of the history.

    BANANAS (White et al., AAAI 2021, Sec. 4) predicts with an ensemble of neural networks
    and reads its spread as uncertainty; bootstrapped LightGBM models give the same
    mean/spread at a small fraction of the cost, which a search of thousands of trials needs.
    """

    def __init__(self, *, n_models: int, n_estimators: int, seed: int) -> None:
        self.n_models = n_models
        self.n_estimators = n_estimators
        self.seed = seed
        self._models: list[lightgbm.Booster] = []

    def fit(self, features: np.ndarray, targets: np.ndarray) -> BootstrapEnsemble:
        rng = np.random.default_rng(self.seed)
        self._models = []
        for member in range(self.n_models):
            rows = rng.integers(len(targets), size=len(targets))
            params = {
                "objective": "regression",
                "learning_rate": 0.1,
                "num_leaves": 15,
                "min_data_in_leaf": 3,
                "min_data_in_bin": 1,
                "feature_fraction": 0.8,
                "num_threads": 1,
                "deterministic": True,
                "force_row_wise": True,
                "seed": self.seed + member,
                "verbose": -1,
            }
            data = lightgbm.Dataset(features[rows], targets[rows], params={"verbose": -1})
            self._models.append(lightgbm.train(params, data, num_boost_round=self.n_estimators))
        return self

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of the members' predictions."""
        predictions = np.stack([model.predict(features) for model in self._models])
        return predictions.mean(axis=0), predictions.std(axis=0)
