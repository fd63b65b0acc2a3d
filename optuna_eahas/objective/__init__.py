"""The Optuna objective over EA-HAS-Bench and the search-energy accounting."""

from optuna_eahas.objective._ledger import LedgerEntry
from optuna_eahas.objective._ledger import SearchEnergyLedger
from optuna_eahas.objective._ledger import search_energy
from optuna_eahas.objective._objective import EahasObjective
from optuna_eahas.objective._objective import EpochResult
from optuna_eahas.objective._objective import eahas_objective

__all__ = [
    "EahasObjective",
    "EpochResult",
    "LedgerEntry",
    "SearchEnergyLedger",
    "eahas_objective",
    "search_energy",
]
