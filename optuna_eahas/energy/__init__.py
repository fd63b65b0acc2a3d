"""The per-trial energy contract, energy meters, and the penalty forms shared by energy-aware
samplers and pruners."""

from optuna_eahas.energy._contract import ACTS
from optuna_eahas.energy._contract import BENCHMARK
from optuna_eahas.energy._contract import CONSTRAINT_PREFIX
from optuna_eahas.energy._contract import ENERGY_ESTIMATED
from optuna_eahas.energy._contract import ENERGY_J
from optuna_eahas.energy._contract import ENERGY_SOURCE
from optuna_eahas.energy._contract import EPOCHS
from optuna_eahas.energy._contract import FEASIBLE
from optuna_eahas.energy._contract import FLOPS
from optuna_eahas.energy._contract import INFERENCE_ENERGY_J
from optuna_eahas.energy._contract import INFERENCE_TIME_S
from optuna_eahas.energy._contract import PARAMS
from optuna_eahas.energy._contract import SKIPPED_INFEASIBLE
from optuna_eahas.energy._contract import TIME_S
from optuna_eahas.energy._contract import consumed_energy
from optuna_eahas.energy._contract import record
from optuna_eahas.energy._estimate import EstimatedMeter
from optuna_eahas.energy._measurement import EnergyMeter
from optuna_eahas.energy._measurement import Measurement
from optuna_eahas.energy._measurement import MeterUnavailable
from optuna_eahas.energy._nvml import NVMLMeter
from optuna_eahas.energy._penalty import AdditivePenalty
from optuna_eahas.energy._penalty import EnergyPenalty
from optuna_eahas.energy._penalty import MultiplicativePenalty
from optuna_eahas.energy._rapl import RAPLMeter
from optuna_eahas.energy._select import default_meter

__all__ = [
    "ACTS",
    "AdditivePenalty",
    "BENCHMARK",
    "CONSTRAINT_PREFIX",
    "ENERGY_ESTIMATED",
    "EnergyMeter",
    "EnergyPenalty",
    "EstimatedMeter",
    "ENERGY_J",
    "ENERGY_SOURCE",
    "EPOCHS",
    "FEASIBLE",
    "FLOPS",
    "INFERENCE_ENERGY_J",
    "INFERENCE_TIME_S",
    "Measurement",
    "MeterUnavailable",
    "MultiplicativePenalty",
    "NVMLMeter",
    "PARAMS",
    "RAPLMeter",
    "SKIPPED_INFEASIBLE",
    "TIME_S",
    "consumed_energy",
    "default_meter",
    "record",
]
