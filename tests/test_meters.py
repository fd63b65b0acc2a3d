from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
import sys
import threading
import types

import pytest

from optuna_eahas.energy import EstimatedMeter
from optuna_eahas.energy import Measurement
from optuna_eahas.energy import MeterUnavailable
from optuna_eahas.energy import NVMLMeter
from optuna_eahas.energy import RAPLMeter
from optuna_eahas.energy import default_meter

NOT_SUPPORTED = 3
FUNCTION_NOT_FOUND = 13
NO_PERMISSION = 4


class _NVMLError(Exception):
    """pynvml.NVMLError: the error code is ``value``; subclasses per code."""

    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


class _NVMLErrorNotSupported(_NVMLError):
    pass


class FakeNVML:
    """A stand-in for pynvml: ``counters_mj`` and ``power_w`` (per device) are read live."""

    def __init__(
        self, *, counters_mj: list[int], power_w: Sequence[float] = (), counter_error: int = 0
    ) -> None:
        self.counters_mj = counters_mj
        self.power_w = list(power_w) or [0.0] * len(counters_mj)
        self.counter_error = counter_error
        self.calls: list[str] = []
        self.init_error: _NVMLError | None = None

    def install(self, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
        module = types.ModuleType("pynvml")
        module.NVMLError = _NVMLError  # type: ignore[attr-defined]
        module.NVMLError_NotSupported = _NVMLErrorNotSupported  # type: ignore[attr-defined]
        module.NVML_ERROR_NOT_SUPPORTED = NOT_SUPPORTED  # type: ignore[attr-defined]
        module.NVML_ERROR_FUNCTION_NOT_FOUND = FUNCTION_NOT_FOUND  # type: ignore[attr-defined]
        for name in (
            "nvmlInit",
            "nvmlShutdown",
            "nvmlDeviceGetCount",
            "nvmlDeviceGetHandleByIndex",
            "nvmlDeviceGetUUID",
            "nvmlDeviceGetName",
            "nvmlDeviceGetTotalEnergyConsumption",
            "nvmlDeviceGetPowerUsage",
        ):
            setattr(module, name, getattr(self, name))
        monkeypatch.setitem(sys.modules, "pynvml", module)
        return module

    def nvmlInit(self) -> None:
        self.calls.append("init")
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self) -> None:
        self.calls.append("shutdown")

    def nvmlDeviceGetCount(self) -> int:
        return len(self.counters_mj)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        return f"GPU-{handle}{handle}{handle}{handle}-fake"

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"Fake GPU"  # older pynvml returns bytes

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
        if self.counter_error == NOT_SUPPORTED:
            raise _NVMLErrorNotSupported(NOT_SUPPORTED)
        if self.counter_error:
            raise _NVMLError(self.counter_error)
        self.calls.append(f"read {handle}")
        return self.counters_mj[handle]

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        return round(self.power_w[handle] * 1000)


class FakeClock:
    def __init__(self, times: Sequence[float]) -> None:
        self.times = list(times)
        self.step = 0

    def __call__(self) -> float:
        return self.times[self.step]


@pytest.fixture(autouse=True)
def _all_gpus_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_nvml_counter_gives_exact_joules_and_syncs_at_both_edges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeNVML(counters_mj=[600_000, 400_000])  # 1,000,000 mJ in all
    fake.install(monkeypatch)
    clock = FakeClock([10.0, 12.5])
    meter = NVMLMeter(sync=lambda: fake.calls.append("sync"), clock=clock)
    fake.calls.clear()
    with meter.measure() as window:
        fake.calls.append("work")
        fake.counters_mj[:] = [1_500_000, 1_000_000]  # 2,500,000 mJ in all
        clock.step = 1
    assert fake.calls == ["sync", "read 0", "read 1", "work", "sync", "read 0", "read 1"]
    assert window.result == Measurement(
        joules=1500.0,
        seconds=2.5,
        source="nvml-energy-counter",
        estimated=False,
        devices=("GPU 0 (Fake GPU)", "GPU 1 (Fake GPU)"),
        too_short=False,
    )
    assert meter.name == "nvml-energy-counter (GPU 0 (Fake GPU), GPU 1 (Fake GPU))"
    assert not meter.estimated


def test_nvml_windows_nest_and_repeat(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNVML(counters_mj=[0])
    fake.install(monkeypatch)
    meter = NVMLMeter()
    with meter.measure() as outer:
        fake.counters_mj[0] += 1_000
        with meter.measure() as inner:
            fake.counters_mj[0] += 2_000
        fake.counters_mj[0] += 4_000
    with meter.measure() as after:
        fake.counters_mj[0] += 8_000
    assert (outer.result.joules, inner.result.joules, after.result.joules) == (7.0, 2.0, 8.0)
    assert inner.result.too_short  # microseconds, below the counter's update period


def test_nvml_result_is_set_when_the_block_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNVML(counters_mj=[0])
    fake.install(monkeypatch)
    meter = NVMLMeter()
    with pytest.raises(KeyboardInterrupt):
        with meter.measure() as window:
            fake.counters_mj[0] = 5_000
            raise KeyboardInterrupt
    assert window.result.joules == 5.0


def test_window_result_before_the_end_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeNVML(counters_mj=[0]).install(monkeypatch)
    with NVMLMeter().measure() as window:
        with pytest.raises(RuntimeError, match="still open"):
            _ = window.result


@pytest.mark.parametrize(
    ("visible", "devices", "expected_j"),
    [
        ("2", None, 3.0),
        ("3,GPU-1111", None, 4.0 + 1.0),
        ("GPU-22", None, 3.0),  # a unique UUID prefix, as CUDA accepts
        ("0,1", [3], 4.0),  # devices= overrides the environment
    ],
)
def test_nvml_meters_the_visible_gpus(
    monkeypatch: pytest.MonkeyPatch, visible: str, devices: list[int] | None, expected_j: float
) -> None:
    fake = FakeNVML(counters_mj=[0, 0, 0, 0])
    fake.install(monkeypatch)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    meter = NVMLMeter(devices=devices)
    with meter.measure() as window:
        fake.counters_mj[:] = [10_000, 1_000, 3_000, 4_000]
    assert window.result.joules == expected_j


@pytest.mark.parametrize(
    ("visible", "message"),
    [("", "no GPU visible"), ("7", "no GPU 7"), ("GPU-9", "names no single GPU")],
)
def test_nvml_rejects_selections_matching_no_gpu(
    monkeypatch: pytest.MonkeyPatch, visible: str, message: str
) -> None:
    fake = FakeNVML(counters_mj=[0, 0])
    fake.install(monkeypatch)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    with pytest.raises(MeterUnavailable, match=message):
        NVMLMeter()
    assert fake.calls == ["init", "shutdown"]


@pytest.mark.parametrize("code", [NOT_SUPPORTED, FUNCTION_NOT_FOUND])
def test_nvml_falls_back_to_power_polling_and_integrates_exactly(
    monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    # Device 0 draws 100, 200, 150, 50 W and device 1 a constant 50 W at t = 0, 0.5, 1.5, 3 s:
    # the trapezoid rule gives 0.5 * 200 + 1 * 225 + 1.5 * 150 = 550 J.
    watts = [[100.0, 200.0, 150.0, 50.0], [50.0, 50.0, 50.0, 50.0]]
    fake = FakeNVML(counters_mj=[0, 0], counter_error=code)
    fake.install(monkeypatch)
    clock = FakeClock([0.0, 0.5, 1.5, 3.0])
    traced = threading.Event()
    samples: list[tuple[float, float]] = []

    def advance(t: float, w: float) -> None:
        # After each sample, move the fake clock and power on; hold at the last step.
        samples.append((t, w))
        if clock.step + 1 < len(clock.times):
            clock.step += 1
            fake.power_w = [trace[clock.step] for trace in watts]
        else:
            traced.set()

    fake.power_w = [trace[0] for trace in watts]
    syncs: list[int] = []
    meter = NVMLMeter(
        sync=lambda: syncs.append(1), poll_interval_s=1e-4, clock=clock, on_sample=advance
    )
    assert meter.source == "nvml-power-polling"
    with meter.measure() as window:
        assert traced.wait(timeout=30)
    result = window.result
    assert result.source == "nvml-power-polling" and not result.estimated
    assert result.joules == pytest.approx(550.0, rel=1e-12)
    assert result.seconds == 3.0 and not result.too_short
    assert len(syncs) == 2
    assert samples[:4] == [(0.0, 150.0), (0.5, 250.0), (1.5, 200.0), (3.0, 100.0)]


def test_nvml_polling_error_reaches_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeNVML(counters_mj=[0], counter_error=NOT_SUPPORTED).install(monkeypatch)
    failed = threading.Event()

    def fail(t: float, w: float) -> None:
        if threading.current_thread() is not threading.main_thread():
            failed.set()
            raise _NVMLError(15)  # GPU is lost

    meter = NVMLMeter(poll_interval_s=1e-4, on_sample=fail)
    with pytest.raises(_NVMLError):
        with meter.measure():
            assert failed.wait(timeout=30)


def test_nvml_without_counter_or_power_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeNVML(counters_mj=[0], counter_error=NO_PERMISSION).install(monkeypatch)
    with pytest.raises(MeterUnavailable, match="energy counter"):
        NVMLMeter()


def test_nvml_closes_once_and_refuses_windows_after(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeNVML(counters_mj=[0])
    fake.install(monkeypatch)
    with NVMLMeter() as meter:
        pass
    meter.close()
    assert fake.calls.count("shutdown") == 1
    with pytest.raises(RuntimeError, match="closed"):
        with meter.measure():
            pass


def test_nvml_missing_library_or_driver_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    with pytest.raises(MeterUnavailable, match="pip install nvidia-ml-py"):
        NVMLMeter()
    fake = FakeNVML(counters_mj=[0])
    fake.init_error = _NVMLError(12)  # NVML shared library not found
    fake.install(monkeypatch)
    with pytest.raises(MeterUnavailable, match="driver"):
        NVMLMeter()


def _zone(path: Path, name: str, energy_uj: int, max_range_uj: int = 262_143_328_850) -> Path:
    path.mkdir(parents=True)
    (path / "name").write_text(f"{name}\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    (path / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
    return path / "energy_uj"


def test_rapl_sums_package_and_dram_across_a_wrap(tmp_path: Path) -> None:
    # Laid out as sysfs does: zones flat under the class directory, subzones also nested.
    package = _zone(tmp_path / "intel-rapl:0", "package-0", 262_143_000_000)
    core = _zone(tmp_path / "intel-rapl:0" / "intel-rapl:0:0", "core", 5)
    dram = _zone(tmp_path / "intel-rapl:0" / "intel-rapl:0:1", "dram", 2_000_000)
    (tmp_path / "intel-rapl:0:1").symlink_to(tmp_path / "intel-rapl:0" / "intel-rapl:0:1")
    package1 = _zone(tmp_path / "intel-rapl:1", "package-1", 0, max_range_uj=65_532_610_987)
    _zone(tmp_path / "intel-rapl-mmio:0", "package-0", 0)  # the same package again: ignored
    clock = FakeClock([0.0, 60.0])
    meter = RAPLMeter(root=tmp_path, clock=clock)
    assert meter.devices == (
        "package-0 (intel-rapl:0)",
        "dram (intel-rapl:0:1)",
        "package-1 (intel-rapl:1)",
    )
    with meter.measure() as window:
        package.write_text("1000000\n")  # wrapped: 262143328850 - 262143000000 + 1000000
        core.write_text("999999999\n")  # not a requested domain
        dram.write_text("5000000\n")  # 3 J
        package1.write_text("7000000\n")  # 7 J
        clock.step = 1
    assert window.result == Measurement(
        joules=11.32885,  # 1.32885 J (package-0, wrapped) + 3 J + 7 J
        seconds=60.0,
        source="rapl",
        estimated=False,
        devices=meter.devices,
        too_short=False,
    )
    assert not meter.estimated and meter.name.startswith("rapl (package-0")


def test_rapl_counter_wrap_gives_the_exact_delta(tmp_path: Path) -> None:
    energy = _zone(tmp_path / "intel-rapl:0", "package-0", 262_143_000_000)
    meter = RAPLMeter(root=tmp_path)
    with meter.measure() as window:
        energy.write_text("1000000")
    # (262143328850 - 262143000000) + 1000000 uJ
    assert window.result.joules == 1.32885


def test_rapl_domains_select_zones(tmp_path: Path) -> None:
    _zone(tmp_path / "intel-rapl:0", "package-0", 0)
    dram = _zone(tmp_path / "intel-rapl:0" / "intel-rapl:0:1", "dram", 0)
    meter = RAPLMeter(root=tmp_path, domains=("dram",))
    with meter.measure() as window:
        dram.write_text("2500000")
    assert window.result.joules == 2.5 and window.result.devices == ("dram (intel-rapl:0:1)",)
    with pytest.raises(MeterUnavailable, match="No RAPL domain named psys .* only package-0"):
        RAPLMeter(root=tmp_path, domains=("psys",))


def test_rapl_missing_or_unreadable_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(MeterUnavailable, match="No RAPL zone"):
        RAPLMeter(root=tmp_path / "absent")
    energy = _zone(tmp_path / "intel-rapl:0", "package-0", 0)
    real_read_text = Path.read_text

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        if self == energy:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_text(self, *args, **kwargs)  # type: ignore[arg-type]

    # Patched rather than chmod-ed: the tests may run as root, who reads any file.
    with monkeypatch.context() as patch:
        patch.setattr(Path, "read_text", read_text)
        with pytest.raises(MeterUnavailable, match="root only"):
            RAPLMeter(root=tmp_path)
    energy.unlink()
    with pytest.raises(MeterUnavailable, match="Cannot read the RAPL counters"):
        RAPLMeter(root=tmp_path)


def test_estimate_is_flagged_estimated() -> None:
    clock = FakeClock([5.0, 9.0])
    meter = EstimatedMeter(watts=200.0, device="V100", clock=clock)
    with meter.measure() as window:
        clock.step = 1
    assert window.result == Measurement(
        joules=800.0, seconds=4.0, source="estimate", estimated=True, devices=("V100",)
    )
    assert meter.estimated and meter.name == "estimate (200 W x time, V100)"
    for watts in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive finite"):
            EstimatedMeter(watts=watts)


def test_default_meter_estimates_here_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    # This machine has no GPU; pynvml may be installed, so make NVML's start fail as it does
    # without a driver, and point nowhere for RAPL.
    fake = FakeNVML(counters_mj=[0])
    fake.init_error = _NVMLError(9)  # driver not loaded
    fake.install(monkeypatch)
    monkeypatch.setattr("optuna_eahas.energy._select.RAPLMeter", lambda: RAPLMeter(root="/nil"))
    with pytest.warns(UserWarning, match=r"nvml: NVML could not start.*rapl: No RAPL zone"):
        meter = default_meter(fallback_watts=80.0)
    assert isinstance(meter, EstimatedMeter) and meter.estimated and meter.watts == 80.0
    with pytest.raises(ValueError, match="Unknown meters"):
        default_meter(prefer=("smi",))


def test_default_meter_takes_the_first_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    FakeNVML(counters_mj=[0]).install(monkeypatch)
    assert isinstance(default_meter(), NVMLMeter)
    _zone(tmp_path / "intel-rapl:0", "package-0", 0)
    monkeypatch.setattr("optuna_eahas.energy._select.RAPLMeter", lambda: RAPLMeter(root=tmp_path))
    assert isinstance(default_meter(prefer=("rapl", "nvml")), RAPLMeter)


def test_default_meter_on_this_machine_is_the_warned_estimate() -> None:
    for meter_class in (NVMLMeter, RAPLMeter):
        try:
            meter_class().close()
        except MeterUnavailable:
            continue
        pytest.skip(f"This machine has a {meter_class.__name__}.")
    with pytest.warns(UserWarning, match="ESTIMATED"):
        meter = default_meter()
    assert isinstance(meter, EstimatedMeter) and meter.estimated
