from __future__ import annotations

import threading

import optuna

from optuna_eahas import energy


class _SearchEnergyTally:
    """The summed ``eahas:energy_j`` of a study's trials, read from its storage incrementally.

    A finished trial's energy no longer changes, so it is read once and cached; each call reads
    only the trials from the oldest unfinished one on. The storage is the only state shared by
    the processes of a distributed study, so every worker sees the others' running trials.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._study_key: tuple[int, int] | None = None
        # Trials 0 .. _n_settled - 1 are all finished and sum to _settled_j.
        self._n_settled = 0
        self._settled_j = 0.0
        # Finished trials after the settled ones (behind a trial still running).
        self._finished_j: dict[int, float] = {}

    def total_j(self, study: optuna.Study) -> float:
        """Training energy, in joules, recorded so far by every trial of ``study``."""
        with self._lock:
            key = (id(study._storage), study._study_id)
            trials = study.get_trials(deepcopy=False)
            if key != self._study_key or not _numbered_in_order(trials, self._n_settled):
                self._reset(key)
            tail_j = 0.0
            for trial in trials[self._n_settled :]:
                joules = self._finished_j.get(trial.number)
                if joules is None:
                    joules = energy.consumed_energy(trial) or 0.0
                    if trial.state.is_finished():
                        self._finished_j[trial.number] = joules
                tail_j += joules
            total_j = self._settled_j + tail_j
            while self._n_settled in self._finished_j:
                self._settled_j += self._finished_j.pop(self._n_settled)
                self._n_settled += 1
            return total_j

    def _reset(self, key: tuple[int, int]) -> None:
        self._study_key = key
        self._n_settled = 0
        self._settled_j = 0.0
        self._finished_j = {}


def _numbered_in_order(trials: list[optuna.trial.FrozenTrial], n_settled: int) -> bool:
    """True when the settled prefix is still trials 0 .. n_settled - 1 of this list."""
    if len(trials) < n_settled:
        return False
    return n_settled == 0 or trials[n_settled - 1].number == n_settled - 1
