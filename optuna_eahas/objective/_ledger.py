from __future__ import annotations

from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_eahas import energy

_J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class LedgerEntry:
    """One trial's place in the search-energy ledger (energy in joules)."""

    number: int
    state: TrialState
    energy_j: float
    cumulative_energy_j: float
    value: float | None
    best_value: float | None


class SearchEnergyLedger:
    """Energy spent by a study's trials in the order they started: the x-axis of every
    regret-against-search-energy plot in EA-HAS-Bench (Section 5).

    Counts every trial that recorded energy (complete, pruned, failed and running), because
    all of them drew power. ``best_value`` follows the study's direction over complete trials
    that satisfy their constraints (``trial.constraints``), as ``study.best_value`` does.
    """

    def __init__(self, study: optuna.Study) -> None:
        trials = sorted(study.get_trials(deepcopy=False), key=_start_order)
        maximize = (
            len(study.directions) == 1
            and study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
        )
        entries, cumulative, best = [], 0.0, None
        for trial in trials:
            spent = energy.consumed_energy(trial) or 0.0
            cumulative += spent
            value = (
                trial.value
                if trial.state == TrialState.COMPLETE and trial.values and len(trial.values) == 1
                else None
            )
            # As Study.best_trial in Optuna 5: an infeasible trial is never the best.
            feasible = all(c <= 0 for c in trial.constraints.values())
            if (
                value is not None
                and feasible
                and (best is None or (value > best if maximize else value < best))
            ):
                best = value
            entries.append(LedgerEntry(trial.number, trial.state, spent, cumulative, value, best))
        self.entries: list[LedgerEntry] = entries

    @property
    def total_energy_j(self) -> float:
        return self.entries[-1].cumulative_energy_j if self.entries else 0.0

    @property
    def total_energy_kwh(self) -> float:
        return self.total_energy_j / _J_PER_KWH


def _start_order(trial: FrozenTrial) -> tuple[float, int]:
    start = trial.datetime_start.timestamp() if trial.datetime_start else float("inf")
    return start, trial.number


def search_energy(study: optuna.Study) -> float:
    """Training energy, in joules, consumed by every trial of ``study`` so far.

    Sums the energy recorded under the contract of ``optuna_eahas.energy`` by complete,
    pruned, failed and running trials alike.
    """
    return sum(energy.consumed_energy(t) or 0.0 for t in study.get_trials(deepcopy=False))
