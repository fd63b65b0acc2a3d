from __future__ import annotations

from collections.abc import Mapping
import threading
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import RandomSampler
from optuna.search_space import IntersectionSearchSpace
from optuna.study import Study
from optuna.trial import FrozenTrial

from optuna_eahas.energy import EnergyPenalty
from optuna_eahas.samplers._history import TrialScorer
from optuna_eahas.samplers._history import check_single_objective
from optuna_eahas.samplers._history import contains
from optuna_eahas.samplers._history import fresh_seed


class HistorySampler(BaseSampler):
    """Base of the samplers that propose a configuration from the scored history.

    The relative search space is ``search_space`` when given, else the intersection of the
    finished trials' spaces (as Optuna's relative samplers infer it); parameters outside it
    are drawn at random. Every draw uses a generator seeded by ``seed`` and the trial number,
    so a seeded sampler is deterministic and needs no state that processes would share.
    """

    def __init__(
        self,
        *,
        penalty: EnergyPenalty | None,
        seed: int | None,
        search_space: Mapping[str, BaseDistribution] | None,
        n_startup_trials: int,
    ) -> None:
        if penalty is not None and not isinstance(penalty, EnergyPenalty):
            raise TypeError(
                f"penalty must be an optuna_eahas.energy.EnergyPenalty or None, got {penalty!r}."
            )
        if n_startup_trials < 1:
            raise ValueError(f"n_startup_trials must be at least 1, got {n_startup_trials}.")
        self.penalty = penalty
        self._seed = seed if seed is not None else fresh_seed()
        self._search_space = dict(search_space) if search_space is not None else None
        self._n_startup_trials = n_startup_trials
        self._scorer = TrialScorer(penalty)
        self._random_sampler = RandomSampler(seed=seed)
        self._intersection = IntersectionSearchSpace(include_pruned=True)
        self._lock = threading.Lock()
        self._matched_space: tuple[str, dict[str, BaseDistribution]] | None = None
        self._matched: dict[int, bool] = {}

    def _matching(
        self,
        study: Study,
        trials: list[FrozenTrial],
        search_space: dict[str, BaseDistribution],
    ) -> list[FrozenTrial]:
        """The finished ``trials`` that hold every parameter of ``search_space`` with the same
        distribution. Finished trials never change, so each is checked once per search space
        (comparing distributions is slow; long studies would pay it per trial and sample)."""
        space = (study.study_name, search_space)
        if self._matched_space != space:
            self._matched_space, self._matched = space, {}
        matched = self._matched
        for trial in trials:
            if trial.number not in matched:
                matched[trial.number] = contains(search_space, trial)
        return [trial for trial in trials if matched[trial.number]]

    def reseed_rng(self) -> None:
        self._seed = fresh_seed()
        self._random_sampler.reseed_rng()

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        check_single_objective(study, type(self).__name__)
        if self._search_space is not None:
            return dict(self._search_space)
        with self._lock:
            return self._intersection.calculate(study)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        check_single_objective(study, type(self).__name__)
        return self._random_sampler.sample_independent(
            study, trial, param_name, param_distribution
        )
