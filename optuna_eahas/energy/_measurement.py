from __future__ import annotations

import abc
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass


class MeterUnavailable(RuntimeError):
    """An energy meter cannot be used here; the message says what to install or check."""


@dataclass(frozen=True)
class Measurement:
    """Energy and time of one measurement window.

    ``source`` is ``"nvml-energy-counter"``, ``"nvml-power-polling"`` or ``"estimate"``;
    ``estimated`` is True when the joules come from a model rather than a meter; ``too_short``
    flags a window shorter than the meter's update period, whose value is unreliable.
    """

    joules: float
    seconds: float
    source: str
    estimated: bool
    devices: tuple[str, ...] = ()
    too_short: bool = False


class MeasurementWindow:
    """What ``with meter.measure() as window:`` binds; ``result`` is set when the block ends."""

    result: Measurement | None = None


class EnergyMeter(abc.ABC):
    """Measures the energy of a block of work: ``with meter.measure() as w: ...; w.result``."""

    name: str
    estimated: bool

    @contextlib.contextmanager
    def measure(self) -> Iterator[MeasurementWindow]:
        window = MeasurementWindow()
        state = self._start()
        yield window
        window.result = self._stop(state)

    @abc.abstractmethod
    def _start(self) -> object:
        """Read the meter at the start of a window; return what ``_stop`` needs."""

    @abc.abstractmethod
    def _stop(self, state: object) -> Measurement:
        """Read the meter at the end of a window."""
