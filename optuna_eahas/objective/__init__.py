"""The Optuna objective over EA-HAS-Bench and the search-energy accounting."""

from typing import Any

from optuna_eahas.objective._ledger import LedgerEntry
from optuna_eahas.objective._ledger import SearchEnergyLedger
from optuna_eahas.objective._ledger import search_energy
from optuna_eahas.objective._objective import EahasObjective
from optuna_eahas.objective._objective import EpochResult
from optuna_eahas.objective._objective import eahas_objective

__all__ = [
    "EAHASProblem",
    "EahasObjective",
    "EpochResult",
    "LedgerEntry",
    "SearchEnergyLedger",
    "eahas_objective",
    "search_energy",
]


def __getattr__(name: str) -> Any:
    # EAHASProblem subclasses optunahub's BaseProblem, and importing optunahub takes ~0.3 s:
    # import it on first use only.
    if name == "EAHASProblem":
        from optuna_eahas.objective._optunahub import EAHASProblem

        return EAHASProblem
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
