from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.study import Study
from optuna.trial import FrozenTrial

from optuna_eahas.energy import EnergyPenalty
from optuna_eahas.samplers._base import HistorySampler
from optuna_eahas.samplers._history import FINISHED_WITH_VALUE
from optuna_eahas.samplers._history import neighbour
from optuna_eahas.samplers._history import sample_params
from optuna_eahas.samplers._history import trial_rng


@dataclass
class _Walk:
    """Where the local search stands after replaying the finished trials in number order."""

    n_startup_left: int
    incumbent: FrozenTrial | None = None
    incumbent_gain: float = float("-inf")
    stale: int = 0
    replayed: list[int] = field(default_factory=list)


class LocalSearchSampler(HistorySampler):
    """Local search (LS) and energy-aware local search (EA-LS) of EA-HAS-Bench.

    EA-HAS-Bench (Dou et al., ICLR 2023, Sec. 5) runs local search (White et al., "Local
    Search is State of the Art for Neural Architecture Search Benchmarks", 2020) over its
    joint space: from the best of ``n_startup_trials`` random configurations, it evaluates
    neighbours, which resample the five architecture dimensions while keeping the
    hyperparameters or the five hyperparameters while keeping the architecture, and moves to
    the first neighbour that beats the incumbent. After ``patience`` neighbours in a row fail
    to, the walk is at a local optimum and restarts from new random configurations. EA-LS
    accepts moves on the energy-penalised score (``penalty``); with ``penalty=None`` it is
    plain LS, so both run the same code.

    Outside EA-HAS-Bench's parameter names every parameter counts as a hyperparameter and a
    neighbour resamples one parameter. The walk is replayed from the study's finished trials
    (complete and pruned, by trial number), so it survives restarts and RDB storages; with
    ``n_jobs > 1`` concurrent trials are neighbours of the same incumbent.

    Args:
        penalty: ``None`` for LS; an :class:`~optuna_eahas.energy.EnergyPenalty` (the paper:
            :class:`~optuna_eahas.energy.MultiplicativePenalty`) for EA-LS.
        seed: Seed for the random draws.
        search_space: The space to search; default: inferred from the finished trials.
        n_startup_trials: Random configurations evaluated at the start and after each restart.
        patience: Non-improving neighbours that end a walk.
    """

    def __init__(
        self,
        *,
        penalty: EnergyPenalty | None = None,
        seed: int | None = None,
        search_space: Mapping[str, BaseDistribution] | None = None,
        n_startup_trials: int = 10,
        patience: int = 20,
    ) -> None:
        super().__init__(
            penalty=penalty,
            seed=seed,
            search_space=search_space,
            n_startup_trials=n_startup_trials,
        )
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}.")
        self._patience = patience
        self._walk = _Walk(n_startup_left=n_startup_trials)
        self._walk_study: str | None = None

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        rng = trial_rng(self._seed, trial.number)
        with self._lock:
            walk = self._replay(study, search_space)
            incumbent = walk.incumbent if walk.n_startup_left <= 0 else None
        if incumbent is None:
            return sample_params(rng, search_space)
        return neighbour(rng, {k: incumbent.params[k] for k in search_space}, search_space)

    def _replay(self, study: Study, search_space: dict[str, BaseDistribution]) -> _Walk:
        """Advance the walk over trials finished since the last call (replay all if a trial
        finished out of number order)."""
        trials = self._matching(
            study, study.get_trials(deepcopy=False, states=FINISHED_WITH_VALUE), search_space
        )
        walk = self._walk
        done = len(walk.replayed)
        if (
            self._walk_study != study.study_name
            or len(trials) < done
            or (done and trials[done - 1].number != walk.replayed[-1])
        ):
            walk = self._walk = _Walk(n_startup_left=self._n_startup_trials)
            self._walk_study = study.study_name
            done = 0
        for trial in trials[done:]:
            walk.replayed.append(trial.number)
            gain = self._scorer.gain(trial, study.direction)
            if gain is None:
                continue
            starting = walk.n_startup_left > 0
            walk.n_startup_left -= 1
            if gain > walk.incumbent_gain:
                walk.incumbent, walk.incumbent_gain, walk.stale = trial, gain, 0
            elif not starting:
                walk.stale += 1
                if walk.stale >= self._patience:
                    walk.incumbent, walk.incumbent_gain, walk.stale = None, float("-inf"), 0
                    walk.n_startup_left = self._n_startup_trials
        return walk
