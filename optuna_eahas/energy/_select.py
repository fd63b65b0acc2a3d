from __future__ import annotations

from collections.abc import Callable
import warnings

from optuna_eahas.energy._estimate import EstimatedMeter
from optuna_eahas.energy._measurement import EnergyMeter
from optuna_eahas.energy._measurement import MeterUnavailable
from optuna_eahas.energy._nvml import NVMLMeter

# A documented stand-in for an unmetered device: a mid-range GPU's average training power
# (Zeus's V100 CIFAR traces at batch 1024 draw 87-195 W).
DEFAULT_ESTIMATE_WATTS = 150.0


def default_meter(
    *, sync: Callable[[], None] | None = None, fallback_watts: float = DEFAULT_ESTIMATE_WATTS
) -> EnergyMeter:
    """NVML when a GPU and the library are there, else an :class:`EstimatedMeter`.

    The fallback warns: its energies are estimates and are marked so everywhere.
    """
    try:
        return NVMLMeter(sync=sync)
    except MeterUnavailable as reason:
        warnings.warn(
            f"No energy meter available ({reason}); energy is ESTIMATED as "
            f"{fallback_watts:g} W x time.",
            stacklevel=2,
        )
        return EstimatedMeter(watts=fallback_watts)
