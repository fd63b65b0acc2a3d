from __future__ import annotations

from collections.abc import Callable
import math
import threading
from typing import Literal

import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_eahas import energy
from optuna_eahas.pruners._tally import _numbered_in_order
from optuna_eahas.pruners._validation import check_single_objective
from optuna_eahas.pruners._validation import recorded_energy

_RUNG_KEY_PREFIX = "eahas:energy_rung:"


class EnergyAwareSuccessiveHalvingPruner(BasePruner):
    """Asynchronous successive halving whose resource is training energy, not steps.

    Rung ``k`` sits at ``min_energy_j * reduction_factor ** (min_early_stopping_rate + k)``
    joules. When a trial's recorded energy (:data:`optuna_eahas.energy.ENERGY_J`) first reaches
    a rung, its latest intermediate value is compared with the values other trials had on
    reaching the same rung; it continues only if it is in the top ``1 / reduction_factor`` of
    them. A configuration whose epochs are cheap therefore trains more epochs before each
    judgement than an expensive one: every trial is judged per joule spent.

    The algorithm and its bookkeeping follow Optuna's
    :class:`~optuna.pruners.SuccessiveHalvingPruner` (ASHA, Li et al., "A System for Massively
    Parallel Hyperparameter Tuning", MLSys 2020): a trial's value at each rung it passed is
    kept in its system attributes, so decisions work across processes sharing a storage.
    Hyperband and successive halving allow any resource (Li et al., JMLR 2018, Sec. 2.1); energy
    is the resource EA-HAS-Bench's searches are budgeted in (Dou et al., ICLR 2023, Sec. 5).

    The objective must record its cumulative energy before each ``trial.report``:
    ``eahas_objective`` does, and so does :func:`optuna_eahas.energy.record` called first.

    Args:
        min_energy_j: The first rung, in joules. ``"auto"`` sets it, once the first trial
            completes, to 1/100 of the largest energy of the completed trials (as Optuna's
            ``min_resource="auto"`` does with steps); nothing is pruned before.
        reduction_factor: Keeps the top ``1 / reduction_factor`` at each rung (at least 2).
        min_early_stopping_rate: Skips the first this many rungs.
        bootstrap_count: Trials that must reach a rung before any is pruned there.
    """

    def __init__(
        self,
        *,
        min_energy_j: float | Literal["auto"] = "auto",
        reduction_factor: int = 4,
        min_early_stopping_rate: int = 0,
        bootstrap_count: int = 0,
    ) -> None:
        if min_energy_j != "auto" and not (
            isinstance(min_energy_j, (int, float))
            and math.isfinite(min_energy_j)
            and min_energy_j > 0
        ):
            raise ValueError(
                f"min_energy_j must be a positive number of joules or 'auto', got "
                f"{min_energy_j!r}."
            )
        if reduction_factor < 2:
            raise ValueError(f"reduction_factor must be at least 2, got {reduction_factor}.")
        if min_early_stopping_rate < 0:
            raise ValueError(
                f"min_early_stopping_rate must be non-negative, got {min_early_stopping_rate}."
            )
        if bootstrap_count < 0:
            raise ValueError(f"bootstrap_count must be non-negative, got {bootstrap_count}.")
        self._min_energy_j = None if min_energy_j == "auto" else float(min_energy_j)
        self._reduction_factor = reduction_factor
        self._min_early_stopping_rate = min_early_stopping_rate
        self._bootstrap_count = bootstrap_count
        self._rung_values = _RungValues(self._rung_key(0).rsplit(":", 1)[0] + ":")

    def rung_energy_j(self, rung: int) -> float | None:
        """The energy, in joules, at which ``rung`` judges; None until ``"auto"`` is set."""
        if self._min_energy_j is None:
            return None
        exponent = self._min_early_stopping_rate + rung
        return self._min_energy_j * self._reduction_factor**exponent

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        check_single_objective(study, type(self).__name__)
        step = trial.last_step
        if step is None:
            return False
        joules = recorded_energy(trial, type(self).__name__)
        value = trial.intermediate_values[step]
        rung = _current_rung(trial, self._rung_key)
        trials: list[FrozenTrial] | None = None
        while True:
            if self._min_energy_j is None:
                trials = study.get_trials(deepcopy=False)
                self._min_energy_j = _estimate_min_energy_j(trials)
                if self._min_energy_j is None:
                    return False
            rung_energy_j = self.rung_energy_j(rung)
            assert rung_energy_j is not None
            if joules < rung_energy_j:
                return False
            if math.isnan(value):
                return True
            if trials is None:
                trials = study.get_trials(deepcopy=False)
            key = self._rung_key(rung)
            study._storage.set_trial_system_attr(trial._trial_id, key, value)
            competing = self._rung_values.competing(study, trials, key, trial.number)
            competing.append(value)
            if len(competing) <= self._bootstrap_count:
                return True
            if not _is_promotable(value, competing, self._reduction_factor, study.direction):
                return True
            rung += 1

    def _rung_key(self, rung: int) -> str:
        # The early-stopping rate in the key keeps the brackets of a Hyperband pruner apart.
        return f"{_RUNG_KEY_PREFIX}{self._min_early_stopping_rate}:{rung}"


def _current_rung(trial: FrozenTrial, rung_key: Callable[[int], str]) -> int:
    """The first rung the trial has not passed yet."""
    rung = 0
    while rung_key(rung) in trial.system_attrs:
        rung += 1
    return rung


def _estimate_min_energy_j(trials: list[FrozenTrial]) -> float | None:
    energies = [energy.consumed_energy(t) for t in trials if t.state == TrialState.COMPLETE]
    largest_j = max((joules for joules in energies if joules), default=None)
    return None if largest_j is None else largest_j / 100


def _is_promotable(
    value: float, competing: list[float], reduction_factor: int, direction: StudyDirection
) -> bool:
    """True if ``value`` is in the top ``1 / reduction_factor`` of ``competing`` (which holds
    it); the first ``reduction_factor - 1`` trials at a rung pass only if they are the best,
    since Optuna cannot pause a trial and resume it later (as Optuna's pruner does)."""
    promotable_index = max(len(competing) // reduction_factor - 1, 0)
    competing = sorted(competing)
    if direction == StudyDirection.MAXIMIZE:
        return value >= competing[-(promotable_index + 1)]
    return value <= competing[promotable_index]


class _RungValues:
    """The values other trials recorded at a rung, read from the storage incrementally.

    A finished trial's rung values no longer change, so they are read once; each call reads
    only the trials from the oldest unfinished one on (as the budget's energy tally does), which
    keeps a decision cheap in studies of many thousands of trials.
    """

    def __init__(self, key_prefix: str) -> None:
        self._key_prefix = key_prefix
        self._lock = threading.Lock()
        self._study_key: tuple[int, int] | None = None
        self._n_settled = 0  # trials 0 .. _n_settled - 1 are finished and read
        self._settled: dict[str, list[float]] = {}

    def competing(
        self, study: optuna.Study, trials: list[FrozenTrial], key: str, number: int
    ) -> list[float]:
        """Values at rung ``key`` of every trial but trial ``number``."""
        with self._lock:
            study_key = (id(study._storage), study._study_id)
            if study_key != self._study_key or not _numbered_in_order(trials, self._n_settled):
                self._study_key, self._n_settled, self._settled = study_key, 0, {}
            tail = trials[self._n_settled :]
            n_finished = next(
                (i for i, t in enumerate(tail) if not t.state.is_finished()), len(tail)
            )
            for t in tail[:n_finished]:
                for name, value in t.system_attrs.items():
                    if name.startswith(self._key_prefix):
                        self._settled.setdefault(name, []).append(value)
            self._n_settled += n_finished
            # The judged trial is running, so none of the settled values is its own.
            settled = list(self._settled.get(key, ()))
            running = [
                t.system_attrs[key]
                for t in tail[n_finished:]
                if key in t.system_attrs and t.number != number
            ]
            return settled + running
