from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial

from optuna_eahas.pruners._tally import _SearchEnergyTally

_J_PER_KWH = 3.6e6
_logger = optuna.logging.get_logger(__name__)


class SearchEnergyBudget:
    """Study callback that stops the search once its training energy reaches ``kwh``.

    EA-HAS-Bench's protocol (Dou et al., ICLR 2023, Sec. 5) ends a search when the summed
    training energy of its trials exceeds a budget (40 kWh on CIFAR-10, 250 kWh on
    TinyImageNet). The search energy is the sum of ``eahas:energy_j``
    (:data:`optuna_eahas.energy.ENERGY_J`) over all trials in the study's storage: complete,
    pruned, failed and running, from every process sharing the storage.

    Semantics: after each trial finishes, the worker that ran it reads the search energy and,
    when it is at or above the budget, calls ``study.stop()``, which ends that worker's loop
    (all its threads) once their current trials finish. No worker starts a trial after seeing
    the budget reached, so the search ends with at most one trial in flight per worker (process
    or thread) past the budget. Each of those runs to completion unless the study's pruner is a
    :class:`~optuna_eahas.pruners.BudgetPruner`, which prunes it at its next report. Energy
    recorded after a trial's last report (none with ``eahas_objective``) is counted when it is
    recorded.

    Works for single- and multi-objective studies. Reading the energy costs one pass over the
    trials from the oldest unfinished one on (finished trials are cached), so it stays cheap in
    studies of many thousands of trials.

    Args:
        kwh: The budget in kWh (positive).
    """

    def __init__(self, kwh: float) -> None:
        if not (isinstance(kwh, (int, float)) and math.isfinite(kwh) and kwh > 0):
            raise ValueError(f"kwh must be a positive number of kWh, got {kwh!r}.")
        self.kwh = float(kwh)
        self._tally = _SearchEnergyTally()

    def __repr__(self) -> str:
        return f"SearchEnergyBudget({self.kwh!r})"

    @property
    def budget_j(self) -> float:
        """The budget in joules."""
        return self.kwh * _J_PER_KWH

    def consumed_j(self, study: optuna.Study) -> float:
        """The study's search energy so far, in joules (read from its storage)."""
        return self._tally.total_j(study)

    def is_reached(self, study: optuna.Study) -> bool:
        """True once the study's search energy is at or above the budget."""
        return self.consumed_j(study) >= self.budget_j

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        consumed_j = self.consumed_j(study)
        if consumed_j >= self.budget_j:
            _logger.info(
                f"Search energy {consumed_j / _J_PER_KWH:.4g} kWh reached the budget of "
                f"{self.kwh:.4g} kWh after trial {trial.number}; stopping the study."
            )
            study.stop()
