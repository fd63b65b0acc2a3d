from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
import math
from typing import Any
import warnings

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import TPESampler
from optuna.storages import InMemoryStorage
from optuna.study import Study
from optuna.trial import FrozenTrial
from scipy import special
from scipy import stats

from optuna_eahas.energy import consumed_energy
from optuna_eahas.samplers._ensemble import BootstrapEnsemble
from optuna_eahas.samplers._model_based import ModelBasedSampler


class CostAwareSampler(ModelBasedSampler):
    """Picks configurations by expected improvement per predicted joule, with cost cooling.

    A configuration's training energy is known in expectation before it is trained: it
    follows from the architecture's complexity, the optimiser and the number of epochs
    (EA-HAS-Bench, Dou et al., ICLR 2023, Sec. 4). This sampler learns that mapping online
    (a LightGBM ensemble on the log of the energy the complete trials recorded) next to a
    predictor of the objective, and ranks candidates by ``EI(x) / cost(x) ** alpha``: expected
    improvement per unit cost (Snoek, Larochelle, Adams, NeurIPS 2012, "EI per second") with
    cost cooling (Lee, Eriksson, Perrone, Seeger, "Cost-aware Bayesian Optimization", 2020):
    ``alpha`` falls linearly from 1 to 0 as ``energy_budget_j`` is spent, so cheap
    configurations are favoured early and the best ones late. Without a budget ``alpha`` stays 1.

    Candidates are TPE's proposals plus uniform draws (half each): at each refit an in-memory
    copy of the complete trials is handed to Optuna's ``TPESampler``, whose successive
    suggestions (each the best of its own expected-improvement candidates, Bergstra et al.,
    NeurIPS 2011) are then re-ranked by expected improvement per predicted joule. The uniform
    draws keep cheap regions TPE would not propose within reach. The objective itself is not
    penalised. Trials without recorded energy count as equally costly (warned once).

    Args:
        seed: Seed for the random draws and the models.
        search_space: The space to search; default: inferred from the finished trials.
        energy_budget_j: The search's energy budget in joules (sum of all trials' recorded
            energy), for cost cooling; ``None`` keeps the full cost weight.
        n_startup_trials: Random configurations before the first fit.
        n_candidates: Candidates ranked per fit (half of them TPE's proposals).
        batch_size: Complete trials between fits, and candidates queued per fit.
        n_models: Ensemble size of the objective predictor.
        n_estimators: Boosting rounds per model.
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        search_space: Mapping[str, BaseDistribution] | None = None,
        energy_budget_j: float | None = None,
        n_startup_trials: int = 10,
        n_candidates: int = 40,
        batch_size: int = 10,
        n_models: int = 5,
        n_estimators: int = 50,
    ) -> None:
        super().__init__(
            penalty=None,
            seed=seed,
            search_space=search_space,
            n_startup_trials=n_startup_trials,
            n_candidates=n_candidates,
            n_parents=1,  # unused: TPE proposes
            batch_size=batch_size,
            random_fraction=0.5,
        )
        if energy_budget_j is not None and not (
            math.isfinite(energy_budget_j) and energy_budget_j > 0
        ):
            raise ValueError(
                f"energy_budget_j must be a positive number of joules or None, got "
                f"{energy_budget_j!r}."
            )
        if n_models < 2 or n_estimators < 1:
            raise ValueError(
                f"n_models must be at least 2 and n_estimators at least 1, got {n_models} and "
                f"{n_estimators}."
            )
        self._energy_budget_j = energy_budget_j
        self._n_models = n_models
        self._n_estimators = n_estimators
        self._warned_energy = False

    def cost_exponent(self, study: Study) -> float:
        """``alpha``: 1 with no budget, else the fraction of the energy budget left."""
        if self._energy_budget_j is None:
            return 1.0
        spent = sum(consumed_energy(t) or 0.0 for t in study.get_trials(deepcopy=False))
        return min(max(1.0 - spent / self._energy_budget_j, 0.0), 1.0)

    def _proposals(
        self,
        rng: np.random.Generator,
        configs: list[dict[str, Any]],
        gains: np.ndarray,
        search_space: dict[str, BaseDistribution],
    ) -> Iterator[dict[str, Any]]:
        """Endless suggestions of a seeded ``TPESampler`` over the complete trials."""
        history = optuna.create_study(
            storage=InMemoryStorage(),
            direction="maximize",
            sampler=TPESampler(seed=int(rng.integers(2**31 - 1))),
        )
        history.add_trials(
            [
                optuna.trial.create_trial(
                    value=float(gain), params=config, distributions=search_space
                )
                for config, gain in zip(configs, gains, strict=True)
            ]
        )
        while True:
            # Left running: TPE models complete trials only, so proposals do not pile up.
            yield history.ask(fixed_distributions=search_space).params

    def _rank(
        self,
        rng: np.random.Generator,
        study: Study,
        trials: list[FrozenTrial],
        features: np.ndarray,
        gains: np.ndarray,
        candidate_features: np.ndarray,
    ) -> np.ndarray:
        seed = int(rng.integers(2**31 - 1))
        mean, std = (
            BootstrapEnsemble(n_models=self._n_models, n_estimators=self._n_estimators, seed=seed)
            .fit(features, gains)
            .predict(candidate_features)
        )
        std = np.maximum(std, 1e-9)
        log_ei = np.log(std) + _log_h((mean - gains.max()) / std)
        return np.argsort(
            -(
                log_ei
                - self.cost_exponent(study)
                * self._log_cost(trials, features, candidate_features, seed)
            ),
            kind="stable",
        )

    def _log_cost(
        self,
        trials: list[FrozenTrial],
        features: np.ndarray,
        candidate_features: np.ndarray,
        seed: int,
    ) -> np.ndarray:
        """Predicted log training energy of the candidates (zeros when no trial recorded any)."""
        energies = np.array([consumed_energy(t) or np.nan for t in trials])
        known = np.isfinite(energies) & (energies > 0)
        if known.sum() < 2:
            if not self._warned_energy:
                self._warned_energy = True
                warnings.warn(
                    "CostAwareSampler: the trials recorded no energy (user attribute "
                    "'eahas:energy_j'), so all candidates count as equally costly. Record it "
                    "with optuna_eahas.energy.record(trial, joules).",
                    stacklevel=2,
                )
            return np.zeros(len(candidate_features))
        model = BootstrapEnsemble(n_models=2, n_estimators=self._n_estimators, seed=seed + 1)
        model.fit(features[known], np.log(energies[known]))
        return model.predict(candidate_features)[0]


# Below this z, h(z) = z * Phi(z) + phi(z) is computed from its asymptotic form.
_Z_TAIL = -6.0


def _log_h(z: np.ndarray) -> np.ndarray:
    """``log(z * Phi(z) + phi(z))``, the log of expected improvement over one standard
    deviation, without underflow: far below the incumbent EI still ranks candidates by how
    close they come, instead of vanishing and leaving only the cost to rank them (the
    asymptotic ``h(z) ~ phi(z) / z**2`` for ``z << 0``; Ament et al., NeurIPS 2023, LogEI)."""
    log_h = np.empty_like(z)
    tail = z < _Z_TAIL
    body = ~tail
    log_h[body] = np.log(z[body] * special.ndtr(z[body]) + stats.norm.pdf(z[body]))
    log_h[tail] = stats.norm.logpdf(z[tail]) - 2.0 * np.log(-z[tail])
    return log_h
