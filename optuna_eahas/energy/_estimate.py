from __future__ import annotations

from collections.abc import Callable
import math
import time

from optuna_eahas.energy._measurement import EnergyMeter
from optuna_eahas.energy._measurement import Measurement


class EstimatedMeter(EnergyMeter):
    """Energy estimated as elapsed time x a constant power: never a measurement.

    Use it only where no meter is readable. ``watts`` should be the device's average power
    under this workload, measured once (an external plug meter, or ``nvidia-smi
    --query-gpu=power.draw`` / ``turbostat`` averaged over a representative run), or failing
    that its TDP from the vendor's datasheet, which overestimates. Every measurement is marked
    ``estimated`` with source ``"estimate"``, so that records and trial attributes say so.

    Args:
        watts: The assumed constant power, in watts.
        device: What the power belongs to, for :attr:`Measurement.devices`.
        clock: Seconds from a monotonic clock (tests inject a fake one).
    """

    def __init__(
        self,
        *,
        watts: float,
        device: str = "cpu",
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not (watts > 0 and math.isfinite(watts)):
            raise ValueError(f"watts must be a positive finite number, got {watts!r}.")
        self.watts = float(watts)
        self.device = device
        self._clock = clock

    @property
    def name(self) -> str:
        return f"estimate ({self.watts:g} W x time, {self.device})"

    @property
    def estimated(self) -> bool:
        return True

    def _start(self) -> float:
        return float(self._clock())

    def _stop(self, state: object) -> Measurement:
        assert isinstance(state, float)
        seconds = self._clock() - state
        return Measurement(
            joules=self.watts * seconds,
            seconds=seconds,
            source="estimate",
            estimated=True,
            devices=(self.device,),
        )
