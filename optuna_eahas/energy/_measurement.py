from __future__ import annotations

import abc
from collections.abc import Iterator
import contextlib
from dataclasses import dataclass
from types import TracebackType


class MeterUnavailable(RuntimeError):
    """An energy meter cannot be used here; the message says what to install or check."""


@dataclass(frozen=True)
class Measurement:
    """Energy and time of one measurement window.

    Attributes:
        joules: Energy consumed during the window, summed over ``devices``.
        seconds: Wall time of the window.
        source: ``"nvml-energy-counter"``, ``"nvml-power-polling"``, ``"rapl"`` or
            ``"estimate"``.
        estimated: True when the joules come from a model (power x time), not a meter.
        devices: What was metered (GPUs, RAPL domains or the estimated device).
        too_short: True when the window is shorter than the meter's update period, so that
            ``joules`` is unreliable (see each meter for its period).
    """

    joules: float
    seconds: float
    source: str
    estimated: bool
    devices: tuple[str, ...] = ()
    too_short: bool = False


class MeasurementWindow:
    """What ``with meter.measure() as window:`` binds; :attr:`result` once the block ends."""

    def __init__(self) -> None:
        self._result: Measurement | None = None

    @property
    def result(self) -> Measurement:
        """The window's measurement, also set when the block raised (the energy was spent)."""
        if self._result is None:
            raise RuntimeError("The measurement window is still open; read result after it.")
        return self._result


class EnergyMeter(abc.ABC):
    """Measures the energy of blocks of work.

    ``with meter.measure() as window: ...`` then ``window.result`` is a :class:`Measurement`.
    A meter is reusable, and its windows may be sequential or nested. Meters holding a
    resource (NVML) release it on :meth:`close` or at the end of ``with meter:``.
    """

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """A readable description of the meter, for records and logs."""

    @property
    @abc.abstractmethod
    def estimated(self) -> bool:
        """True when the meter models energy instead of reading a hardware counter."""

    @contextlib.contextmanager
    def measure(self) -> Iterator[MeasurementWindow]:
        """Measure the energy of the ``with`` block."""
        window = MeasurementWindow()
        state = self._start()
        try:
            yield window
        finally:
            window._result = self._stop(state)

    def close(self) -> None:
        """Release what the meter holds; nothing by default."""
        return None

    def __enter__(self) -> EnergyMeter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @abc.abstractmethod
    def _start(self) -> object:
        """Read the meter at the start of a window; return what :meth:`_stop` needs."""

    @abc.abstractmethod
    def _stop(self, state: object) -> Measurement:
        """Read the meter at the end of a window."""
