"""Overhead of energy metering on a training-like loop, against the same loop unmetered.

An "epoch" is a CPU matrix-multiply loop of about ``--epoch-s`` seconds, and each meter wraps
every epoch in one measurement window, as ``train_run`` does. The conditions run interleaved,
round-robin, so that drifts in the machine's speed (turbo, other load) fall on all of them
alike. Prints each condition's median epoch time and its overhead relative to the unmetered
loop, and the cost of one empty window (the meter's own work, free of the epochs' noise) as a
share of an epoch. Target: below 1 %.

No GPU is needed: NVML runs against an in-process fake ``pynvml`` whose every call sleeps
``--nvml-call-s`` (a pessimistic stand-in for the driver call), both through the energy
counter and through the power-polling thread; RAPL reads a fake sysfs tree.

    python benchmarks/metering_overhead.py [--epochs 15] [--epoch-s 0.5] [--nvml-call-s 1e-4]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import contextlib
from pathlib import Path
import statistics
import sys
import tempfile
import time
import types

import numpy as np

from optuna_eahas.energy import EnergyMeter
from optuna_eahas.energy import EstimatedMeter
from optuna_eahas.energy import NVMLMeter
from optuna_eahas.energy import RAPLMeter


class _NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


def _fake_pynvml(*, counter: bool, call_s: float) -> types.ModuleType:
    """A one-GPU pynvml whose calls take ``call_s``; without ``counter``, only power."""
    module = types.ModuleType("pynvml")
    energy_mj = [0]

    def total_energy(handle: int) -> int:
        time.sleep(call_s)
        if not counter:
            raise _NVMLError(3)
        energy_mj[0] += 20
        return energy_mj[0]

    def power(handle: int) -> int:
        time.sleep(call_s)
        return 200_000

    module.__dict__.update(
        NVMLError=_NVMLError,
        NVML_ERROR_NOT_SUPPORTED=3,
        NVML_ERROR_FUNCTION_NOT_FOUND=13,
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda index: index,
        nvmlDeviceGetName=lambda handle: "Fake GPU",
        nvmlDeviceGetTotalEnergyConsumption=total_energy,
        nvmlDeviceGetPowerUsage=power,
    )
    return module


def _nvml_meter(*, counter: bool, call_s: float) -> NVMLMeter:
    real = sys.modules.get("pynvml")
    sys.modules["pynvml"] = _fake_pynvml(counter=counter, call_s=call_s)
    try:
        return NVMLMeter()
    finally:
        if real is None:
            del sys.modules["pynvml"]
        else:
            sys.modules["pynvml"] = real


def _rapl_meter(root: Path) -> RAPLMeter:
    for zone, name in (("intel-rapl:0", "package-0"), ("intel-rapl:0/intel-rapl:0:1", "dram")):
        path = root / zone
        path.mkdir(parents=True)
        (path / "name").write_text(name)
        (path / "energy_uj").write_text("123456789")
        (path / "max_energy_range_uj").write_text("262143328850")
    return RAPLMeter(root=root)


def _epoch_work(epoch_s: float) -> Callable[[], None]:
    """A matrix-multiply loop calibrated to last about ``epoch_s`` seconds."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 256))
    b = rng.standard_normal((256, 256))

    def multiply(n: int) -> None:
        c = a
        for _ in range(n):
            c = np.tanh(c @ b / 16)

    start = time.perf_counter()
    multiply(50)
    n = max(1, round(50 * epoch_s / (time.perf_counter() - start)))
    return lambda: multiply(n)


def _window_cost_s(meter: EnergyMeter, windows: int) -> float:
    start = time.perf_counter()
    for _ in range(windows):
        with meter.measure():
            pass
    return (time.perf_counter() - start) / windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15, help="epochs per condition")
    parser.add_argument("--epoch-s", type=float, default=0.5)
    parser.add_argument("--nvml-call-s", type=float, default=1e-4)
    parser.add_argument("--windows", type=int, default=200, help="empty windows per meter")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as sysfs:
        meters: dict[str, EnergyMeter | None] = {
            "unmetered": None,
            "estimate": EstimatedMeter(watts=150.0),
            "nvml counter (fake)": _nvml_meter(counter=True, call_s=args.nvml_call_s),
            "nvml polling 20 Hz (fake)": _nvml_meter(counter=False, call_s=args.nvml_call_s),
            "rapl (fake sysfs)": _rapl_meter(Path(sysfs)),
        }
        epoch = _epoch_work(args.epoch_s)
        times: dict[str, list[float]] = {name: [] for name in meters}
        for _ in range(args.epochs):
            for name, meter in meters.items():
                start = time.perf_counter()
                with contextlib.nullcontext() if meter is None else meter.measure():
                    epoch()
                times[name].append(time.perf_counter() - start)
        costs = {
            name: _window_cost_s(meter, args.windows)
            for name, meter in meters.items()
            if meter is not None
        }

    bare = statistics.median(times["unmetered"])
    print(
        f"{args.epochs} epochs per condition of {bare:.3f} s (median, unmetered); "
        f"fake NVML calls take {1e6 * args.nvml_call_s:g} us"
    )
    print(
        f"{'condition':28} {'epoch (median)':>15} {'overhead':>9} {'one window':>11} {'share':>8}"
    )
    for name, epoch_times in times.items():
        median = statistics.median(epoch_times)
        line = f"{name:28} {median:13.4f} s {100 * (median / bare - 1):+8.2f}%"
        if name in costs:
            line += f" {1e6 * costs[name]:8.1f} us {100 * costs[name] / bare:7.4f}%"
        print(line)


if __name__ == "__main__":
    main()
