from __future__ import annotations

import time

from optuna_eahas.energy._measurement import EnergyMeter
from optuna_eahas.energy._measurement import Measurement


class EstimatedMeter(EnergyMeter):
    """Energy estimated as elapsed time times a constant power: never a measurement.

    Use it where no meter is readable. ``watts`` should be a measured average power of the
    device under this workload, or failing that its TDP (an upper bound). Every measurement is
    marked ``estimated`` and that flag reaches every record and user attribute.
    """

    estimated = True

    def __init__(self, *, watts: float, device: str = "cpu") -> None:
        if not watts > 0:
            raise ValueError(f"watts must be positive, got {watts!r}.")
        self.watts = float(watts)
        self.device = device
        self.name = f"estimate ({self.watts:g} W x time)"

    def _start(self) -> float:
        return time.perf_counter()

    def _stop(self, state: object) -> Measurement:
        assert isinstance(state, float)
        seconds = time.perf_counter() - state
        return Measurement(
            joules=self.watts * seconds,
            seconds=seconds,
            source="estimate",
            estimated=True,
            devices=(self.device,),
        )
