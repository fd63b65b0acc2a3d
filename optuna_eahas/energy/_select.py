from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import warnings

from optuna_eahas.energy._estimate import EstimatedMeter
from optuna_eahas.energy._measurement import EnergyMeter
from optuna_eahas.energy._measurement import MeterUnavailable
from optuna_eahas.energy._nvml import NVMLMeter
from optuna_eahas.energy._rapl import RAPLMeter

# The fallback's stand-in power: a mid-range GPU's average training power (Zeus's V100 CIFAR
# traces at batch 1024 draw 87-195 W; see docs/data-card-simulator.md).
DEFAULT_ESTIMATE_WATTS = 150.0


def default_meter(
    *,
    prefer: Sequence[str] = ("nvml", "rapl"),
    fallback_watts: float = DEFAULT_ESTIMATE_WATTS,
    sync: Callable[[], None] | None = None,
) -> EnergyMeter:
    """The first available meter of ``prefer``, else an :class:`EstimatedMeter`.

    ``"nvml"`` is :class:`NVMLMeter` (given ``sync``), ``"rapl"`` :class:`RAPLMeter`, which
    meters the CPU and memory only: on a GPU machine without NVML it misses the GPU. The
    fallback warns, because its energies are ``fallback_watts`` x time, and they are marked
    estimated everywhere; give a measured average power or the device's TDP.
    """
    factories: dict[str, Callable[[], EnergyMeter]] = {
        "nvml": lambda: NVMLMeter(sync=sync),
        "rapl": RAPLMeter,
    }
    unknown = [name for name in prefer if name not in factories]
    if unknown:
        raise ValueError(f"Unknown meters {unknown}; choose among {sorted(factories)}.")
    reasons = []
    for name in prefer:
        try:
            return factories[name]()
        except MeterUnavailable as reason:
            reasons.append(f"{name}: {reason}")
    meter = EstimatedMeter(watts=fallback_watts)
    warnings.warn(
        f"No energy meter is available ({'; '.join(reasons) or 'none preferred'}). Energy is "
        f"ESTIMATED as {fallback_watts:g} W x time, not measured.",
        stacklevel=2,
    )
    return meter
