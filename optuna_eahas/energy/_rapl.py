from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
import os
from pathlib import Path
import time

from optuna_eahas.energy._measurement import EnergyMeter
from optuna_eahas.energy._measurement import Measurement
from optuna_eahas.energy._measurement import MeterUnavailable

# RAPL's energy status counters are updated about every millisecond (Intel SDM vol. 3B, RAPL
# interfaces).
COUNTER_PERIOD_S = 0.001


@dataclass(frozen=True)
class _Zone:
    label: str
    energy_uj: Path
    max_energy_range_uj: int


class RAPLMeter(EnergyMeter):
    """CPU package and DRAM energy from RAPL counters, through Linux's powercap sysfs.

    Sums ``energy_uj`` (µJ, cumulative) over the powercap zones ``intel-rapl:*`` and their
    subzones whose ``name`` is one of ``domains`` (``"package"`` matches ``package-0``,
    ``package-1``, ...). Intel and AMD Zen CPUs expose these zones; DRAM only on servers, and
    a missing domain is simply not summed (see :attr:`Measurement.devices`). Choose domains
    that do not overlap: ``core`` and ``uncore`` are parts of ``package``. RAPL meters the
    CPU sockets and memory only, not GPUs.

    A counter wraps to 0 after ``max_energy_range_uj``; a window's negative difference is
    taken as one wrap (+ ``max_energy_range_uj``, exact within one counter unit, 15 to 61 µJ).
    Only one wrap per window and domain can be detected, so a window must last less than
    ``max_energy_range_uj`` / power: about 262 kJ / 200 W, 20 minutes, for a server package.
    Measure per epoch rather than per trial. Windows shorter than the counter's update period
    (:data:`COUNTER_PERIOD_S`, 1 ms) are flagged ``too_short``.

    Args:
        root: The powercap sysfs directory.
        domains: Names of the RAPL domains to sum.
        clock: Seconds from a monotonic clock (tests inject a fake one).

    Raises:
        MeterUnavailable: No matching zone exists, or its counters cannot be read (since
            Linux 5.10 ``energy_uj`` is readable by root only).
    """

    def __init__(
        self,
        *,
        root: str | os.PathLike[str] = "/sys/class/powercap",
        domains: Sequence[str] = ("package", "dram"),
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        root = Path(root)
        self._clock = clock
        try:
            paths = _zone_dirs(root)
            if not paths:
                raise MeterUnavailable(
                    f"No RAPL zone under {root}: RAPL needs Linux's intel_rapl powercap driver "
                    "on an Intel or AMD Zen CPU (not in most VMs and containers)."
                )
            self._zones = [zone for path in paths if (zone := _zone(path, domains)) is not None]
            if not self._zones:
                raise MeterUnavailable(
                    f"No RAPL domain named {', '.join(domains)} under {root}, only "
                    f"{', '.join((path / 'name').read_text().strip() for path in paths)}."
                )
            self._read()
        except PermissionError as error:
            raise MeterUnavailable(
                f"Cannot read the RAPL counters ({error}); since Linux 5.10 they are readable "
                f"by root only: run as root, or sudo chmod a+r {root}/intel-rapl:*/energy_uj."
            ) from error
        except OSError as error:
            raise MeterUnavailable(
                f"Cannot read the RAPL counters under {root} ({error})."
            ) from error

    @property
    def name(self) -> str:
        return f"rapl ({', '.join(self.devices)})"

    @property
    def estimated(self) -> bool:
        return False

    @property
    def devices(self) -> tuple[str, ...]:
        """The summed domains, as ``"<name> (<zone>)"``, e.g. ``"dram (intel-rapl:0:2)"``."""
        return tuple(zone.label for zone in self._zones)

    def _read(self) -> list[int]:
        return [int(zone.energy_uj.read_text()) for zone in self._zones]

    def _start(self) -> object:
        return self._clock(), self._read()

    def _stop(self, state: object) -> Measurement:
        end = self._read()
        assert isinstance(state, tuple)
        start, begin = state
        seconds = self._clock() - start
        microjoules = 0
        for zone, before, after in zip(self._zones, begin, end, strict=True):
            delta = after - before
            microjoules += delta if delta >= 0 else delta + zone.max_energy_range_uj
        return Measurement(
            joules=microjoules / 1e6,
            seconds=seconds,
            source="rapl",
            estimated=False,
            devices=self.devices,
            too_short=seconds < COUNTER_PERIOD_S,
        )


def _zone_dirs(root: Path) -> list[Path]:
    """Powercap zones and subzones, each once: sysfs lists them both flat under the class
    directory and nested under their parent."""
    paths: dict[str, Path] = {}
    for path in sorted(root.glob("intel-rapl:*")) + sorted(root.glob("intel-rapl:*/intel-rapl:*")):
        paths.setdefault(path.name, path)
    return [paths[name] for name in sorted(paths)]


def _zone(path: Path, domains: Sequence[str]) -> _Zone | None:
    name = (path / "name").read_text().strip()
    if not any(name == domain or name.startswith(f"{domain}-") for domain in domains):
        return None
    return _Zone(
        label=f"{name} ({path.name})",
        energy_uj=path / "energy_uj",
        max_energy_range_uj=int((path / "max_energy_range_uj").read_text()),
    )
