from __future__ import annotations

import optuna
from optuna.pruners import BasePruner
from optuna.trial import FrozenTrial

from optuna_eahas.pruners._budget import SearchEnergyBudget
from optuna_eahas.pruners._validation import check_single_objective


class BudgetPruner(BasePruner):
    """Prune running trials once the study's search energy reaches ``kwh``; otherwise ask
    ``wrapped_pruner``.

    The pruning half of EA-HAS-Bench's search budget (Dou et al., ICLR 2023, Sec. 5): with
    :class:`~optuna_eahas.pruners.SearchEnergyBudget` alone, trials in flight when the budget
    is reached run to completion; with this pruner each of them stops at its next report, so
    the search overshoots the budget by at most one report interval of training per worker
    (process or thread). The search energy is read from the study's storage (all trials, all
    processes; see :class:`SearchEnergyBudget`), and checked before the wrapped pruner runs.
    It includes the reporting trial's own energy, which ``eahas_objective`` (and
    :func:`optuna_eahas.energy.record` used as documented) writes before ``trial.report``.

    Use it with the callback, which stops workers from starting new trials::

        budget = SearchEnergyBudget(40.0)
        study = optuna.create_study(
            direction="maximize", pruner=BudgetPruner(MedianPruner(), kwh=40.0)
        )
        study.optimize(objective, callbacks=[budget])

    Optuna's samplers restrict themselves to a trial's Hyperband bracket only when the study's
    pruner *is* a :class:`~optuna.pruners.HyperbandPruner`; wrapped, a Hyperband pruner still
    prunes by brackets but the samplers read all trials.

    Args:
        wrapped_pruner: The pruner that decides while the budget lasts
            (:class:`~optuna.pruners.NopPruner` for budget-only pruning).
        kwh: The budget in kWh (positive).
    """

    def __init__(self, wrapped_pruner: BasePruner, *, kwh: float) -> None:
        if not isinstance(wrapped_pruner, BasePruner):
            raise TypeError(
                f"wrapped_pruner must be an optuna.pruners.BasePruner, got {wrapped_pruner!r}."
            )
        self._wrapped_pruner = wrapped_pruner
        self._budget = SearchEnergyBudget(kwh)

    @property
    def kwh(self) -> float:
        return self._budget.kwh

    @property
    def wrapped_pruner(self) -> BasePruner:
        return self._wrapped_pruner

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        check_single_objective(study, type(self).__name__)
        if self._budget.is_reached(study):
            return True
        return self._wrapped_pruner.prune(study, trial)
