"""Energy-aware pruners and search-energy budgets (installed as ``optuna_eahas.pruners``)."""

from optuna_eahas.pruners._budget import SearchEnergyBudget
from optuna_eahas.pruners._budget_pruner import BudgetPruner
from optuna_eahas.pruners._hyperband import EnergyAwareHyperbandPruner
from optuna_eahas.pruners._median import EnergyAwareMedianPruner
from optuna_eahas.pruners._percentile import EnergyAwarePercentilePruner
from optuna_eahas.pruners._successive_halving import EnergyAwareSuccessiveHalvingPruner

__all__ = [
    "BudgetPruner",
    "EnergyAwareHyperbandPruner",
    "EnergyAwareMedianPruner",
    "EnergyAwarePercentilePruner",
    "EnergyAwareSuccessiveHalvingPruner",
    "SearchEnergyBudget",
]
