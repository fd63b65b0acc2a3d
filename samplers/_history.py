"""Pieces shared by the energy-aware samplers: scoring finished trials, drawing and mutating
configurations over Optuna distributions, and per-trial random generators."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import math
import threading
from typing import Any
import warnings

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_eahas.energy import EnergyPenalty
from optuna_eahas.space import ARCHITECTURE_PARAMS

FINISHED_WITH_VALUE = (TrialState.COMPLETE, TrialState.PRUNED)


class TrialScorer:
    """Scores finished trials: their value, penalised by their energy when a penalty is set.

    A trial that recorded no energy (no ``eahas:energy_j`` user attribute, see
    :mod:`optuna_eahas.energy`) keeps its raw value; the first such trial raises one warning
    per scorer, so a user whose objective forgot ``energy.record`` hears about it once.
    """

    def __init__(self, penalty: EnergyPenalty | None) -> None:
        self.penalty = penalty
        self._warned = False
        self._lock = threading.Lock()

    def __call__(self, trial: FrozenTrial, value: float, direction: StudyDirection) -> float:
        """The penalised ``value`` of ``trial`` (raw without a penalty or recorded energy)."""
        if self.penalty is None:
            return value
        score = self.penalty.score(trial, value, direction)
        if score is not None:
            return score
        with self._lock:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"Trial {trial.number} recorded no energy (user attribute "
                    "'eahas:energy_j'); energy-aware samplers rank such trials by their raw "
                    "value. Record energy with optuna_eahas.energy.record(trial, joules).",
                    stacklevel=3,
                )
        return value

    def gain(self, trial: FrozenTrial, direction: StudyDirection) -> float | None:
        """The trial's score as a quantity to maximise, or None if it has no value."""
        if trial.state not in FINISHED_WITH_VALUE or trial.value is None:
            return None
        if not math.isfinite(trial.value):
            return None
        score = self(trial, trial.value, direction)
        return score if direction == StudyDirection.MAXIMIZE else -score


def check_single_objective(study: optuna.Study, sampler: str) -> None:
    """Raise a clear error for multi-objective studies (the penalties score one value)."""
    if len(study.directions) > 1:
        raise ValueError(
            f"{sampler} supports single-objective studies only (an energy penalty scores one "
            "value); for accuracy vs energy as two objectives use "
            "eahas_objective(multi_objective=True) with NSGAIISampler."
        )


def trial_rng(seed: int, *keys: int) -> np.random.Generator:
    """A generator determined by the sampler's seed and ``keys`` (e.g. the trial number), so
    that a seeded sampler draws the same values whatever order trials are sampled in."""
    return np.random.default_rng([seed, *keys])


def fresh_seed() -> int:
    """A new random seed (for ``reseed_rng``)."""
    return int(np.random.SeedSequence().generate_state(1)[0])


def sample_value(rng: np.random.Generator, distribution: BaseDistribution) -> Any:
    """One value drawn uniformly from ``distribution`` (log-uniformly for ``log=True``)."""
    if isinstance(distribution, CategoricalDistribution):
        return distribution.choices[int(rng.integers(len(distribution.choices)))]
    if isinstance(distribution, IntDistribution):
        if distribution.log:
            raw = math.exp(
                rng.uniform(math.log(distribution.low - 0.5), math.log(distribution.high + 0.5))
            )
            return int(min(max(round(raw), distribution.low), distribution.high))
        count = (distribution.high - distribution.low) // distribution.step + 1
        return int(distribution.low + distribution.step * int(rng.integers(count)))
    if isinstance(distribution, FloatDistribution):
        low, high = distribution.low, distribution.high
        if distribution.step is not None:
            count = int(round((high - low) / distribution.step)) + 1
            return float(min(low + distribution.step * int(rng.integers(count)), high))
        if distribution.log:
            return float(min(math.exp(rng.uniform(math.log(low), math.log(high))), high))
        return float(rng.uniform(low, high))
    raise TypeError(f"Unsupported distribution {distribution!r}.")


def sample_params(
    rng: np.random.Generator, distributions: Mapping[str, BaseDistribution]
) -> dict[str, Any]:
    """A configuration drawn uniformly from every distribution."""
    return {name: sample_value(rng, dist) for name, dist in distributions.items()}


def parameter_groups(names: Sequence[str]) -> list[tuple[str, ...]]:
    """EA-HAS-Bench's split of a configuration into architecture and hyperparameters.

    The architecture is ``depth``, ``w0``, ``wa``, ``wm``, ``group_width``; every other
    parameter (the five training hyperparameters, or any name outside EA-HAS-Bench) counts as
    a hyperparameter. Empty groups are dropped.
    """
    architecture = tuple(name for name in names if name in ARCHITECTURE_PARAMS)
    hyperparameters = tuple(name for name in names if name not in ARCHITECTURE_PARAMS)
    return [group for group in (architecture, hyperparameters) if group]


def neighbour(
    rng: np.random.Generator,
    params: Mapping[str, Any],
    distributions: Mapping[str, BaseDistribution],
) -> dict[str, Any]:
    """A neighbour of ``params`` in EA-HAS-Bench's local search (Dou et al., 2023, Sec. 5).

    It resamples the whole architecture while keeping the hyperparameters, or all the
    hyperparameters while keeping the architecture (each with probability 1/2). When the
    space has only one group (no architecture parameters, e.g. a user's own objective), a
    neighbour resamples one parameter instead, the classic one-coordinate neighbourhood.
    Resampled values differ from the current ones wherever the distribution allows.
    """
    groups = parameter_groups(list(distributions))
    group = groups[int(rng.integers(len(groups)))]
    if len(groups) == 1:
        group = (group[int(rng.integers(len(group)))],)
    moved = dict(params)
    for name in group:
        moved[name] = _different_value(rng, distributions[name], params.get(name))
    return moved


def mutate(
    rng: np.random.Generator,
    params: Mapping[str, Any],
    distributions: Mapping[str, BaseDistribution],
) -> dict[str, Any]:
    """BANANAS's mutation (White et al., 2021, Sec. 4): each parameter is resampled with
    probability 1/d (d parameters), at least one always."""
    names = list(distributions)
    chosen = rng.random(len(names)) < 1.0 / len(names)
    chosen[int(rng.integers(len(names)))] = True
    mutated = dict(params)
    for name, change in zip(names, chosen, strict=True):
        if change:
            mutated[name] = _different_value(rng, distributions[name], params.get(name))
    return mutated


def _different_value(
    rng: np.random.Generator, distribution: BaseDistribution, current: Any
) -> Any:
    """A fresh draw that differs from ``current`` (a few redraws; single-valued spaces repeat)."""
    value = sample_value(rng, distribution)
    for _ in range(8):
        if value != current:
            break
        value = sample_value(rng, distribution)
    return value


def contains(distributions: Mapping[str, BaseDistribution], trial: FrozenTrial) -> bool:
    """True when ``trial`` has every parameter of ``distributions`` with the same distribution."""
    return all(trial.distributions.get(name) == dist for name, dist in distributions.items())
