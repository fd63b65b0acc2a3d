from __future__ import annotations

import abc
from collections.abc import Iterator
from collections.abc import Mapping
import itertools
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_eahas.energy import EnergyPenalty
from optuna_eahas.samplers._base import HistorySampler
from optuna_eahas.samplers._ensemble import encode
from optuna_eahas.samplers._history import mutate
from optuna_eahas.samplers._history import sample_params
from optuna_eahas.samplers._history import trial_rng


class ModelBasedSampler(HistorySampler):
    """Base of the samplers that fit a predictor to the history and pick candidates with it.

    Every ``batch_size`` finished trials it refits on the complete trials, draws
    ``n_candidates`` candidates (proposals from :meth:`_proposals`, by default mutations of the
    ``n_parents`` best configurations, plus uniform draws when ``random_fraction`` > 0), ranks
    them with :meth:`_rank` and queues the best ``batch_size`` for the next trials, as BANANAS
    selects k candidates per iteration.
    """

    def __init__(
        self,
        *,
        penalty: EnergyPenalty | None,
        seed: int | None,
        search_space: Mapping[str, BaseDistribution] | None,
        n_startup_trials: int,
        n_candidates: int,
        n_parents: int,
        batch_size: int,
        random_fraction: float,
    ) -> None:
        super().__init__(
            penalty=penalty,
            seed=seed,
            search_space=search_space,
            n_startup_trials=n_startup_trials,
        )
        for name, value in (
            ("n_candidates", n_candidates),
            ("n_parents", n_parents),
            ("batch_size", batch_size),
        ):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}.")
        if batch_size > n_candidates:
            raise ValueError(
                f"batch_size ({batch_size}) must not exceed n_candidates ({n_candidates})."
            )
        self._n_candidates = n_candidates
        self._n_parents = n_parents
        self._batch_size = batch_size
        self._random_fraction = random_fraction
        self._queue: list[dict[str, Any]] = []
        self._fitted_on = -1
        self._queue_key: tuple[str, tuple[str, ...]] | None = None

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        with self._lock:
            history = self._matching(
                study,
                study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)),
                search_space,
            )
            gains = [self._scorer.gain(t, study.direction) for t in history]
            scored = [(t, g) for t, g in zip(history, gains, strict=True) if g is not None]
            if len(scored) < self._n_startup_trials:
                return sample_params(trial_rng(self._seed, trial.number), search_space)
            key = (study.study_name, tuple(search_space))
            if (
                not self._queue
                or key != self._queue_key
                or len(scored) >= self._fitted_on + self._batch_size
            ):
                self._queue = self._refill(study, scored, search_space)
                self._fitted_on, self._queue_key = len(scored), key
            return self._queue.pop(0)

    def _refill(
        self,
        study: Study,
        scored: list[tuple[FrozenTrial, float]],
        search_space: dict[str, BaseDistribution],
    ) -> list[dict[str, Any]]:
        rng = trial_rng(self._seed, len(scored))
        configs = [{name: t.params[name] for name in search_space} for t, _ in scored]
        gains = np.array([g for _, g in scored])
        candidates = self._candidates(rng, configs, gains, search_space)
        order = self._rank(
            rng,
            study,
            [t for t, _ in scored],
            encode(configs, search_space),
            gains,
            encode(candidates, search_space),
        )
        return [candidates[int(i)] for i in order[: self._batch_size]]

    def _candidates(
        self,
        rng: np.random.Generator,
        configs: list[dict[str, Any]],
        gains: np.ndarray,
        search_space: dict[str, BaseDistribution],
    ) -> list[dict[str, Any]]:
        """Uniform draws, then proposals, none evaluated before."""
        seen = {_key(config) for config in configs}
        n_random = int(round(self._random_fraction * self._n_candidates))
        proposals = self._proposals(rng, configs, gains, search_space)
        candidates: list[dict[str, Any]] = []
        for _ in range(4 * self._n_candidates):
            if len(candidates) == self._n_candidates:
                break
            if len(candidates) < n_random:
                candidate = sample_params(rng, search_space)
            else:
                candidate = next(proposals)
            if _key(candidate) not in seen:
                seen.add(_key(candidate))
                candidates.append(candidate)
        while len(candidates) < self._batch_size:
            # A tiny, nearly exhausted space: repeat configurations rather than stall.
            candidates.append(sample_params(rng, search_space))
        return candidates

    def _proposals(
        self,
        rng: np.random.Generator,
        configs: list[dict[str, Any]],
        gains: np.ndarray,
        search_space: dict[str, BaseDistribution],
    ) -> Iterator[dict[str, Any]]:
        """Endless mutations of the ``n_parents`` best configurations, in turn (BANANAS)."""
        parents = [configs[int(i)] for i in np.argsort(-gains, kind="stable")[: self._n_parents]]
        for attempt in itertools.count():
            yield mutate(rng, parents[attempt % len(parents)], search_space)

    @abc.abstractmethod
    def _rank(
        self,
        rng: np.random.Generator,
        study: Study,
        trials: list[FrozenTrial],
        features: np.ndarray,
        gains: np.ndarray,
        candidate_features: np.ndarray,
    ) -> np.ndarray:
        """Candidate indices, most promising first."""


def _key(config: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(config.items()))
