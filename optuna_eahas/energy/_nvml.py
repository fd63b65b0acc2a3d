from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import os
import threading
import time
from typing import Any

from optuna_eahas.energy._measurement import EnergyMeter
from optuna_eahas.energy._measurement import Measurement
from optuna_eahas.energy._measurement import MeterUnavailable

# NVML's energy counter advances in steps, not continuously: a window shorter than its update
# period may read 0 J (Zeus v0.6.1 release notes). 100 ms is the period assumed here.
COUNTER_PERIOD_S = 0.1
# Power polling needs at least a sample inside the window besides its two edges.
POLLS_PER_WINDOW = 2


class NVMLMeter(EnergyMeter):
    """GPU energy from NVML (pyNVML, the ``nvidia-ml-py`` package).

    Reads ``nvmlDeviceGetTotalEnergyConsumption``, the board's cumulative energy counter (mJ,
    Volta and newer), of the GPUs this process uses, at both edges of each window, after
    calling ``sync`` so that the kernels queued inside the window are inside the reading.
    Where the counter is not supported (older GPUs or drivers), a background thread polls
    ``nvmlDeviceGetPowerUsage`` (mW) every ``poll_interval_s`` and integrates the power over
    the samples' timestamps with the trapezoid rule. Kocher et al. (2025) found pyNVML
    readings correlating 0.99 with an external power meter but ``nvidia-smi`` sampling only
    0.64, which is why ``nvidia-smi`` is never used.

    A window shorter than the counter's update period (:data:`COUNTER_PERIOD_S`, 100 ms), or
    than two poll intervals when polling, is flagged ``too_short``. NVML is initialised by the
    constructor and shut down by :meth:`close` (or at the end of ``with NVMLMeter() as m:``).

    Args:
        devices: NVML indices or GPU UUIDs (or unique UUID prefixes) to meter. By default those
            in ``CUDA_VISIBLE_DEVICES``, else every GPU. CUDA numbers GPUs fastest first unless
            ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, NVML by PCI bus: set it, or use UUIDs, when the
            GPUs differ.
        sync: Called at both edges of every window before the counters are read, for
            example ``torch.cuda.synchronize``.
        poll_interval_s: Seconds between power samples when the counter is not supported.
        clock: Seconds from a monotonic clock (tests inject a fake one).
        on_sample: Called with ``(time, watts)`` for every power sample when polling, for
            example to log a power trace (tests use it to drive the clock).

    Raises:
        MeterUnavailable: ``nvidia-ml-py`` is missing, NVML cannot start (no driver), a
            requested GPU does not exist, or the GPUs report neither energy nor power.
    """

    def __init__(
        self,
        *,
        devices: Sequence[int | str] | None = None,
        sync: Callable[[], None] | None = None,
        poll_interval_s: float = 0.05,
        clock: Callable[[], float] = time.perf_counter,
        on_sample: Callable[[float, float], None] | None = None,
    ) -> None:
        if not poll_interval_s > 0:
            raise ValueError(f"poll_interval_s must be positive, got {poll_interval_s!r}.")
        try:
            import pynvml
        except ImportError:
            raise MeterUnavailable(
                "GPU energy metering needs NVML's Python bindings: pip install nvidia-ml-py."
            ) from None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as error:
            raise MeterUnavailable(
                f"NVML could not start ({error}): is an NVIDIA GPU present and its driver "
                "loaded (does nvidia-smi work)?"
            ) from error
        self._nvml: Any = pynvml
        self._open = True
        self._sync = sync
        self._clock = clock
        self._on_sample = on_sample
        self.poll_interval_s = float(poll_interval_s)
        try:
            self._handles, self._devices = _select(pynvml, devices)
            self._counter = self._counter_supported()
        except BaseException:
            self.close()
            raise

    @property
    def name(self) -> str:
        return f"{self.source} ({', '.join(self._devices)})"

    @property
    def estimated(self) -> bool:
        return False

    @property
    def devices(self) -> tuple[str, ...]:
        """The metered GPUs, as ``"GPU <NVML index> (<name>)"``."""
        return self._devices

    @property
    def source(self) -> str:
        """``"nvml-energy-counter"``, or ``"nvml-power-polling"`` where it is unsupported."""
        return "nvml-energy-counter" if self._counter else "nvml-power-polling"

    def close(self) -> None:
        """Shut NVML down (once; NVML counts initialisations, so other users are unaffected)."""
        if self._open:
            self._open = False
            self._nvml.nvmlShutdown()

    def _counter_supported(self) -> bool:
        unsupported = (
            self._nvml.NVML_ERROR_NOT_SUPPORTED,
            self._nvml.NVML_ERROR_FUNCTION_NOT_FOUND,
        )
        try:
            self._energy_mj()
            return True
        except self._nvml.NVMLError as error:
            if getattr(error, "value", None) not in unsupported:
                raise MeterUnavailable(f"NVML cannot read the energy counter: {error}.") from error
        try:
            self._power_w()
        except self._nvml.NVMLError as error:
            raise MeterUnavailable(
                f"These GPUs report neither an energy counter nor power through NVML ({error})."
            ) from error
        return False

    def _energy_mj(self) -> int:
        return sum(int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self._handles)

    def _power_w(self) -> float:
        return sum(float(self._nvml.nvmlDeviceGetPowerUsage(h)) for h in self._handles) / 1e3

    def _edge(self) -> None:
        if not self._open:
            raise RuntimeError("This NVMLMeter is closed.")
        if self._sync is not None:
            self._sync()

    def _start(self) -> object:
        self._edge()
        if self._counter:
            return self._clock(), self._energy_mj()
        poller = _PowerPoller(self._power_w, self._clock, self.poll_interval_s, self._on_sample)
        poller.start()
        return poller

    def _stop(self, state: object) -> Measurement:
        if isinstance(state, _PowerPoller):
            try:
                self._edge()
            finally:
                joules, seconds = state.stop()
            too_short = seconds < POLLS_PER_WINDOW * self.poll_interval_s
        else:
            self._edge()
            assert isinstance(state, tuple)
            start, energy_mj = state
            joules = (self._energy_mj() - energy_mj) / 1e3
            seconds = self._clock() - start
            too_short = seconds < COUNTER_PERIOD_S
        return Measurement(
            joules=joules,
            seconds=seconds,
            source=self.source,
            estimated=False,
            devices=self._devices,
            too_short=too_short,
        )


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _select(pynvml: Any, devices: Sequence[int | str] | None) -> tuple[list[Any], tuple[str, ...]]:
    """Handles and labels of the GPUs to meter: ``devices``, else CUDA_VISIBLE_DEVICES, else
    every GPU. Unlike CUDA, which ignores entries after an invalid one, an entry matching no
    GPU is an error, so that no GPU goes unmetered silently."""
    count = pynvml.nvmlDeviceGetCount()
    if devices is None:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is None:
            devices = range(count)
        else:
            devices = [entry.strip() for entry in visible.split(",") if entry.strip()]
            if not devices:
                raise MeterUnavailable(f"CUDA_VISIBLE_DEVICES={visible!r} makes no GPU visible.")
    uuids: list[str] = []
    indices = []
    for device in devices:
        if isinstance(device, int) or device.isdigit():
            index = int(device)
            if not 0 <= index < count:
                raise MeterUnavailable(f"There is no GPU {index}: NVML sees {count}.")
        else:
            uuids = uuids or [
                _text(pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByIndex(i)))
                for i in range(count)
            ]
            matches = [i for i, uuid in enumerate(uuids) if uuid.startswith(device)]
            if len(matches) != 1:
                raise MeterUnavailable(f"{device!r} names no single GPU (UUIDs: {uuids}).")
            index = matches[0]
        indices.append(index)
    if not indices:
        raise MeterUnavailable("NVML sees no GPU.")
    handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in indices]
    labels = tuple(
        f"GPU {i} ({_text(pynvml.nvmlDeviceGetName(h))})"
        for i, h in zip(indices, handles, strict=True)
    )
    return handles, labels


class _PowerPoller:
    """Samples power in a daemon thread and integrates it with the trapezoid rule.

    The edge samples are taken by the caller's thread, so the integral spans the window
    exactly; an error in the thread is raised by :meth:`stop`.
    """

    def __init__(
        self,
        power: Callable[[], float],
        clock: Callable[[], float],
        interval: float,
        on_sample: Callable[[float, float], None] | None,
    ) -> None:
        self._power = power
        self._clock = clock
        self._interval = interval
        self._on_sample = on_sample
        self._samples: list[tuple[float, float]] = []
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="NVMLMeter-poll", daemon=True)

    def _sample(self) -> None:
        sample = (self._clock(), self._power())
        self._samples.append(sample)
        if self._on_sample is not None:
            self._on_sample(*sample)

    def _run(self) -> None:
        try:
            while not self._done.wait(self._interval):
                self._sample()
        except BaseException as error:
            self._error = error

    def start(self) -> None:
        self._sample()
        self._thread.start()

    def stop(self) -> tuple[float, float]:
        """Joules and seconds of the window."""
        self._done.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        self._sample()
        joules = sum(
            (t1 - t0) * (p0 + p1) / 2
            for (t0, p0), (t1, p1) in zip(self._samples, self._samples[1:], strict=False)
        )
        return joules, self._samples[-1][0] - self._samples[0][0]
