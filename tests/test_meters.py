from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from optuna_eahas.energy import EstimatedMeter
from optuna_eahas.energy import MeterUnavailable
from optuna_eahas.energy import NVMLMeter
from optuna_eahas.energy import default_meter


class _NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


def _fake_pynvml(*, counters: list[list[float]] | None, power_w: list[float]) -> SimpleNamespace:
    """A stand-in for pynvml: counters[device] yields successive mJ readings."""
    readings = [iter(values) for values in counters] if counters is not None else None

    def energy(handle: int) -> float:
        if readings is None:
            raise _NVMLError(3)
        return next(readings[handle])

    return SimpleNamespace(
        NVMLError=_NVMLError,
        NVML_ERROR_NOT_SUPPORTED=3,
        nvmlInit=lambda: None,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetHandleByUUID=lambda uuid: int(uuid[-1]),
        nvmlDeviceGetName=lambda h: f"Fake GPU {h}",
        nvmlDeviceGetTotalEnergyConsumption=energy,
        nvmlDeviceGetPowerUsage=lambda h: power_w[h] * 1000.0,
    )


def _clock(times: list[float]):  # type: ignore[no-untyped-def]
    values = iter(times)
    return lambda: next(values)


def test_nvml_counter_gives_exact_joules_and_syncs(monkeypatch: pytest.MonkeyPatch) -> None:
    # Device 0: probe, start, end readings; device 1 likewise (mJ).
    fake = _fake_pynvml(
        counters=[[0.0, 1_000_000.0, 2_500_000.0], [0.0, 0.0, 500_000.0]], power_w=[0, 0]
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    calls: list[str] = []
    meter = NVMLMeter(sync=lambda: calls.append("sync"), clock=_clock([10.0, 12.0]))
    with meter.measure() as window:
        calls.append("work")
    assert calls == ["sync", "work", "sync"]
    result = window.result
    assert result is not None
    assert result.joules == pytest.approx(2000.0)
    assert result.seconds == pytest.approx(2.0)
    assert result.source == "nvml-energy-counter" and not result.estimated
    assert result.devices == ("Fake GPU 0", "Fake GPU 1") and not result.too_short


def test_nvml_uses_only_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_pynvml(counters=[[0.0], [0.0, 100.0, 300.0]], power_w=[0, 0])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-uuid-1")
    meter = NVMLMeter(clock=_clock([0.0, 0.05]))
    with meter.measure() as window:
        pass
    assert window.result is not None
    assert window.result.joules == pytest.approx(0.2)
    assert window.result.devices == ("Fake GPU 1",)
    assert window.result.too_short  # 50 ms is below the counter's update period


def test_nvml_falls_back_to_power_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_pynvml(counters=None, power_w=[100.0, 50.0])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    ticks = iter(range(1000))
    meter = NVMLMeter(poll_interval_s=0.01, clock=lambda: float(next(ticks)))
    with meter.measure() as window:
        pass
    result = window.result
    assert result is not None and result.source == "nvml-power-polling"
    # Constant 150 W over however many clock ticks the window spanned.
    assert result.joules == pytest.approx(150.0 * result.seconds)
    assert result.seconds >= 1


def test_missing_library_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(MeterUnavailable, match="nvidia-ml-py"):
        NVMLMeter()
    with pytest.warns(UserWarning, match="ESTIMATED"):
        meter = default_meter(fallback_watts=80.0)
    assert isinstance(meter, EstimatedMeter) and meter.estimated


def test_estimate_is_flagged() -> None:
    meter = EstimatedMeter(watts=200.0)
    with meter.measure() as window:
        sum(range(1000))
    result = window.result
    assert result is not None
    assert result.estimated and result.source == "estimate"
    assert result.joules == pytest.approx(200.0 * result.seconds)
    with pytest.raises(ValueError, match="positive"):
        EstimatedMeter(watts=0)
