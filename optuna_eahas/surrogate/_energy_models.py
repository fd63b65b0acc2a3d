from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np

from optuna_eahas.records import RunRecord
from optuna_eahas.surrogate._trees import TreeEnsemble

# Each target is modelled in log space: energies and times are positive and vary over orders
# of magnitude, so relative errors are what matter.
TARGETS = (
    "epoch_energy_j",
    "epoch_time_s",
    "first_epoch_energy_ratio",
    "first_epoch_time_ratio",
    "test_energy_j",
    "test_time_s",
)


def energy_targets(records: Sequence[RunRecord]) -> dict[str, np.ndarray]:
    """Per-record targets: steady epoch energy and time (epochs after the first), the first
    epoch's cost relative to them, and the mean test pass (the paper's inference energy)."""

    def steady(values: np.ndarray) -> float:
        return float(values[1:].mean()) if len(values) > 1 else float(values[0])

    epoch_energy = np.array([steady(r.train_energy_j) for r in records])
    epoch_time = np.array([steady(r.train_time_s) for r in records])
    return {
        "epoch_energy_j": epoch_energy,
        "epoch_time_s": epoch_time,
        "first_epoch_energy_ratio": np.array([r.train_energy_j[0] for r in records])
        / epoch_energy,
        "first_epoch_time_ratio": np.array([r.train_time_s[0] for r in records]) / epoch_time,
        "test_energy_j": np.array([r.test_energy_j.mean() for r in records]),
        "test_time_s": np.array([r.test_time_s.mean() for r in records]),
    }


def fit_energy_models(
    features: np.ndarray,
    targets: Mapping[str, np.ndarray],
    *,
    seed: int = 0,
    n_estimators: int = 200,
    num_leaves: int = 15,
    learning_rate: float = 0.1,
) -> dict[str, str]:
    """Fit one LightGBM regressor per target (paper Section 4.3) and return their text models."""
    import lightgbm

    models = {}
    for name in TARGETS:
        booster = lightgbm.train(
            {
                "objective": "regression",
                "num_leaves": num_leaves,
                "learning_rate": learning_rate,
                "min_data_in_leaf": 10,
                "feature_fraction": 0.9,
                "bagging_fraction": 0.9,
                "bagging_freq": 1,
                "seed": seed,
                "deterministic": True,
                "num_threads": 2,
                "verbose": -1,
            },
            lightgbm.Dataset(features, np.log(targets[name])),
            num_boost_round=n_estimators,
        )
        models[name] = booster.model_to_string()
    return models


class EnergyTimeModel:
    """Training energy and time per epoch, first-epoch extra and test-pass cost of a
    configuration, evaluated in NumPy from LightGBM text models (no LightGBM needed)."""

    def __init__(self, models: Mapping[str, str]) -> None:
        missing = [name for name in TARGETS if name not in models]
        if missing:
            raise ValueError(f"Energy/time models missing: {', '.join(missing)}.")
        self._trees = {name: TreeEnsemble.from_lightgbm_text(models[name]) for name in TARGETS}

    def predict(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Per-configuration values in J, s and ratios, for a feature matrix."""
        return {name: np.exp(tree.predict(features)) for name, tree in self._trees.items()}
