"""Training EA-HAS-Bench configurations with PyTorch (needs the ``torch`` extra)."""

from optuna_eahas.train._regnet import RegNet

__all__ = ["RegNet"]
