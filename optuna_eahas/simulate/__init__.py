"""The reference simulator: calibrated, clearly labelled stand-in records until real runs exist."""

from optuna_eahas.simulate._expected import ExpectedRuns
from optuna_eahas.simulate._parameters import ACCURACY_MODELS
from optuna_eahas.simulate._parameters import ENERGY_MODELS
from optuna_eahas.simulate._parameters import AccuracyModel
from optuna_eahas.simulate._parameters import EnergyModel
from optuna_eahas.simulate._simulator import SIMULATOR_DEVICE
from optuna_eahas.simulate._simulator import ReferenceSimulator

__all__ = [
    "ACCURACY_MODELS",
    "AccuracyModel",
    "ENERGY_MODELS",
    "EnergyModel",
    "ExpectedRuns",
    "ReferenceSimulator",
    "SIMULATOR_DEVICE",
]
