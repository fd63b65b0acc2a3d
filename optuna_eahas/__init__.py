"""optuna-eahas: energy-aware hyperparameter and architecture search for Optuna.

Implements EA-HAS-Bench (Dou, Jiang, Zhao, Li, ICLR 2023).
"""

__version__ = "0.1.0"

from typing import Any  # noqa: E402

from optuna_eahas.benchmark import Benchmark  # noqa: E402
from optuna_eahas.benchmark import QueryResult  # noqa: E402
from optuna_eahas.objective import SearchEnergyLedger  # noqa: E402
from optuna_eahas.objective import eahas_objective  # noqa: E402
from optuna_eahas.objective import search_energy  # noqa: E402
from optuna_eahas.space import SearchSpace  # noqa: E402

__all__ = [
    "Benchmark",
    "EAHASProblem",
    "QueryResult",
    "SearchEnergyLedger",
    "SearchSpace",
    "__version__",
    "eahas_objective",
    "search_energy",
]


def __getattr__(name: str) -> Any:
    # EAHASProblem imports optunahub (~0.3 s) when installed: on first use only.
    if name == "EAHASProblem":
        from optuna_eahas.objective import EAHASProblem

        return EAHASProblem
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
