from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial

from optuna_eahas.energy import EnergyPenalty
from optuna_eahas.samplers._ensemble import BootstrapEnsemble
from optuna_eahas.samplers._model_based import ModelBasedSampler


class BananasSampler(ModelBasedSampler):
    """BANANAS and energy-aware BANANAS (EA-BANANAS) of EA-HAS-Bench.

    BANANAS (White, Neiswanger, Savani, AAAI 2021) fits an ensemble predictor to the
    evaluated configurations, mutates the best ones into candidates and picks candidates by
    independent Thompson sampling: one draw per candidate from a normal distribution with the
    ensemble's mean and spread. EA-HAS-Bench (Dou et al., ICLR 2023, Sec. 5) makes it
    energy-aware by training the predictor on accuracy penalised with per-epoch training
    energy, ``acc * (TEC / TEC_ref) ** -0.07``: pass
    :class:`~optuna_eahas.energy.MultiplicativePenalty` as ``penalty``. With
    ``penalty=None`` it is plain BANANAS, so both run the same code.

    Departures, for speed over thousands of trials: the ensemble is ``n_models`` LightGBM
    models on bootstrap resamples (not neural networks), on one-hot/scaled parameter
    features (not a path encoding), refitted every ``batch_size`` complete trials, with the
    ``batch_size`` best candidates queued for the trials in between (BANANAS's k = 10).

    Args:
        penalty: ``None`` for BANANAS; an :class:`~optuna_eahas.energy.EnergyPenalty` for
            EA-BANANAS.
        seed: Seed for the random draws and the models.
        search_space: The space to search; default: inferred from the finished trials.
        n_startup_trials: Random configurations before the first fit.
        n_candidates: Candidates ranked per fit.
        n_parents: Best configurations mutated into candidates.
        batch_size: Complete trials between fits, and candidates queued per fit.
        n_models: Ensemble size (BANANAS: 5).
        n_estimators: Boosting rounds per model.
    """

    def __init__(
        self,
        *,
        penalty: EnergyPenalty | None = None,
        seed: int | None = None,
        search_space: Mapping[str, BaseDistribution] | None = None,
        n_startup_trials: int = 10,
        n_candidates: int = 100,
        n_parents: int = 10,
        batch_size: int = 10,
        n_models: int = 5,
        n_estimators: int = 50,
    ) -> None:
        super().__init__(
            penalty=penalty,
            seed=seed,
            search_space=search_space,
            n_startup_trials=n_startup_trials,
            n_candidates=n_candidates,
            n_parents=n_parents,
            batch_size=batch_size,
            random_fraction=0.0,
        )
        if n_models < 2 or n_estimators < 1:
            raise ValueError(
                f"n_models must be at least 2 and n_estimators at least 1, got {n_models} and "
                f"{n_estimators}."
            )
        self._n_models = n_models
        self._n_estimators = n_estimators

    def _rank(
        self,
        rng: np.random.Generator,
        study: Study,
        trials: list[FrozenTrial],
        features: np.ndarray,
        gains: np.ndarray,
        candidate_features: np.ndarray,
    ) -> np.ndarray:
        ensemble = BootstrapEnsemble(
            n_models=self._n_models,
            n_estimators=self._n_estimators,
            seed=int(rng.integers(2**31 - 1)),
        ).fit(features, gains)
        mean, std = ensemble.predict(candidate_features)
        return np.argsort(-rng.normal(mean, std), kind="stable")
