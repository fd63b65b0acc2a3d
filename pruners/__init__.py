"""Energy-aware pruners and search-energy budgets (installed as ``optuna_eahas.pruners``)."""

from optuna_eahas.pruners._budget import SearchEnergyBudget
from optuna_eahas.pruners._budget_pruner import BudgetPruner

__all__ = [
    "BudgetPruner",
    "SearchEnergyBudget",
]
