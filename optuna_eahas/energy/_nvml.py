from __future__ import annotations

from collections.abc import Callable
import os
import threading
import time
from typing import Any

from optuna_eahas.energy._measurement import EnergyMeter
from optuna_eahas.energy._measurement import Measurement
from optuna_eahas.energy._measurement import MeterUnavailable

# The board energy counter updates about every 100 ms on Volta and newer GPUs; shorter
# windows are flagged as unreliable.
COUNTER_PERIOD_S = 0.1


def _visible_devices(pynvml: Any) -> list[Any]:
    """Handles of the GPUs this process uses: CUDA_VISIBLE_DEVICES (indices or UUIDs) or all."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None or not visible.strip():
        return [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    handles = []
    for entry in (e.strip() for e in visible.split(",") if e.strip()):
        if entry.isdigit():
            handles.append(pynvml.nvmlDeviceGetHandleByIndex(int(entry)))
        else:
            handles.append(pynvml.nvmlDeviceGetHandleByUUID(entry))
    return handles


class NVMLMeter(EnergyMeter):
    """GPU energy from NVML's cumulative board energy counter (pyNVML).

    ``nvmlDeviceGetTotalEnergyConsumption`` (mJ, Volta and newer) is read for the devices this
    process uses, after calling ``sync`` (for example ``torch.cuda.synchronize``) so that queued
    kernels are inside the window. Where the counter is not supported, a background thread
    polls ``nvmlDeviceGetPowerUsage`` every ``poll_interval_s`` and integrates it (trapezoid
    rule). Kocher et al. (2025) found pyNVML readings correlating 0.99 with an external meter,
    nvidia-smi sampling only 0.64, which is why nvidia-smi is not used.
    """

    estimated = False

    def __init__(
        self,
        *,
        sync: Callable[[], None] | None = None,
        poll_interval_s: float = 0.05,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        try:
            import pynvml
        except ImportError:
            raise MeterUnavailable(
                "NVML energy needs nvidia-ml-py: pip install nvidia-ml-py"
            ) from None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as error:
            raise MeterUnavailable(
                f"NVML could not start ({error}); is an NVIDIA driver loaded?"
            ) from None
        self._nvml = pynvml
        self._handles = _visible_devices(pynvml)
        if not self._handles:
            raise MeterUnavailable("NVML sees no GPU for this process.")
        self.devices = tuple(str(pynvml.nvmlDeviceGetName(h)) for h in self._handles)
        self._sync = sync or (lambda: None)
        self._clock = clock
        self.poll_interval_s = poll_interval_s
        self._counter = self._counter_supported()
        self.source = "nvml-energy-counter" if self._counter else "nvml-power-polling"
        self.name = f"{self.source} ({', '.join(self.devices)})"

    def _counter_supported(self) -> bool:
        try:
            self._energy_mj()
        except self._nvml.NVMLError as error:
            if getattr(error, "value", None) == self._nvml.NVML_ERROR_NOT_SUPPORTED:
                return False
            raise
        return True

    def _energy_mj(self) -> float:
        return float(sum(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self._handles))

    def _power_w(self) -> float:
        return sum(self._nvml.nvmlDeviceGetPowerUsage(h) for h in self._handles) / 1000.0

    def _start(self) -> object:
        self._sync()
        if self._counter:
            return self._clock(), self._energy_mj()
        poller = _PowerPoller(self._power_w, self._clock, self.poll_interval_s)
        poller.start()
        return poller

    def _stop(self, state: object) -> Measurement:
        self._sync()
        if isinstance(state, _PowerPoller):
            joules, seconds = state.stop()
            too_short = seconds < 2 * self.poll_interval_s
        else:
            assert isinstance(state, tuple)
            start, energy_mj = state
            seconds = self._clock() - start
            joules = (self._energy_mj() - energy_mj) / 1000.0
            too_short = seconds < COUNTER_PERIOD_S
        return Measurement(joules, seconds, self.source, False, self.devices, too_short)

    def close(self) -> None:
        self._nvml.nvmlShutdown()


class _PowerPoller:
    """Integrates instantaneous power (W) over time with the trapezoid rule in a thread."""

    def __init__(self, power: Callable[[], float], clock: Callable[[], float], interval: float):
        self._power, self._clock, self._interval = power, clock, interval
        self._samples: list[tuple[float, float]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._samples.append((self._clock(), self._power()))
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(self._interval):
            self._samples.append((self._clock(), self._power()))

    def stop(self) -> tuple[float, float]:
        self._done.set()
        self._thread.join()
        self._samples.append((self._clock(), self._power()))
        joules = sum(
            (t1 - t0) * (p0 + p1) / 2
            for (t0, p0), (t1, p1) in zip(self._samples, self._samples[1:], strict=False)
        )
        return joules, self._samples[-1][0] - self._samples[0][0]
