"""optuna-eahas: energy-aware hyperparameter and architecture search for Optuna.

Implements EA-HAS-Bench (Dou, Jiang, Zhao, Li, ICLR 2023).
"""

from optuna_eahas.space import SearchSpace

__version__ = "0.1.0"

__all__ = ["SearchSpace", "__version__"]
