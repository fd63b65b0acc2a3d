from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import fields
import datetime
import math
import platform
import reprlib
from typing import Any

import numpy as np

from optuna_eahas.records._errors import RecordError
from optuna_eahas.space import DATASETS
from optuna_eahas.space import InvalidParameterError
from optuna_eahas.space import SearchSpace

SCHEMA_VERSION = 1
SOURCES = ("simulated", "measured", "estimated", "imported")
_ESTIMATED_SOURCES = ("simulated", "estimated")
_EPOCH_FIELDS = (
    "test_accuracy",
    "train_accuracy",
    "train_loss",
    "train_energy_j",
    "train_time_s",
    "test_energy_j",
    "test_time_s",
)
_NULLABLE_FIELDS = ("train_accuracy", "train_loss")
# Written precision: well below any meter's or evaluation's resolution.
_DECIMALS = {
    "test_accuracy": 4,
    "train_accuracy": 4,
    "train_loss": 4,
    "train_energy_j": 2,
    "train_time_s": 4,
    "test_energy_j": 3,
    "test_time_s": 4,
}
_PERCENT_FIELDS = ("test_accuracy", "train_accuracy")
_COMPLEXITY_FIELDS = ("flops", "params", "acts")
_SPACES = {dataset: SearchSpace(dataset) for dataset in DATASETS}


@dataclass(frozen=True, kw_only=True)
class Provenance:
    """Where a run record comes from, so that simulated and measured energy are never mixed.

    Attributes:
        source: ``"simulated"`` (the reference simulator), ``"measured"`` (a real training run
            read from an energy meter), ``"estimated"`` (energy from a model, such as power
            times time) or ``"imported"`` (converted from another benchmark's files).
        device: The hardware, for example ``"NVIDIA H100 80GB HBM3"``.
        energy_meter: How energy was obtained, for example ``"nvml-energy-counter"``,
            ``"nvml-power-polling"``, ``"rapl"``, ``"simulator"`` or ``"estimate"``.
        energy_estimated: Whether the energies are estimates rather than meter readings: must
            be :obj:`False` for ``"measured"`` and :obj:`True` for ``"simulated"`` and
            ``"estimated"``.
        software: Versions of the software that produced the record, by package name.
        created: When the record was made, as an ISO-8601 UTC date-time such as
            ``"2024-05-01T12:00:00Z"``.
        notes: Free text, or :obj:`None`.

    Raises:
        RecordError: if a field is invalid or the rules above are broken.
    """

    source: str
    device: str
    energy_meter: str
    energy_estimated: bool
    software: dict[str, str]
    created: str
    notes: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or self.source not in SOURCES:
            raise _invalid("provenance.source", self.source, _one_of(SOURCES))
        for name in ("device", "energy_meter"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise _invalid(f"provenance.{name}", value, "a non-empty string")
        if not isinstance(self.energy_estimated, bool):
            raise _invalid("provenance.energy_estimated", self.energy_estimated, "true or false")
        implied = self.source in _ESTIMATED_SOURCES
        if self.source != "imported" and self.energy_estimated != implied:
            raise RecordError(
                f"must be {str(implied).lower()} for source {self.source!r}",
                field="provenance.energy_estimated",
            )
        if not isinstance(self.software, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in self.software.items()
        ):
            raise _invalid(
                "provenance.software", self.software, "an object of package-name: version strings"
            )
        object.__setattr__(self, "software", dict(self.software))
        if not _is_utc_datetime(self.created):
            raise _invalid(
                "provenance.created",
                self.created,
                "an ISO-8601 UTC date-time such as '2024-05-01T12:00:00Z'",
            )
        if self.notes is not None and not isinstance(self.notes, str):
            raise _invalid("provenance.notes", self.notes, "a string or null")

    @classmethod
    def create(
        cls,
        source: str,
        *,
        device: str,
        energy_meter: str,
        energy_estimated: bool | None = None,
        software: Mapping[str, str] | None = None,
        notes: str | None = None,
    ) -> Provenance:
        """A provenance stamped now, with the versions of Python, NumPy and optuna_eahas.

        Args:
            source: See :class:`Provenance`.
            device: See :class:`Provenance`.
            energy_meter: See :class:`Provenance`.
            energy_estimated: Defaults to what ``source`` implies; an ``"imported"`` record
                must say, since its source does not tell.
            software: More versions to record (for example of PyTorch or the GPU driver).
            notes: Free text.
        """
        from optuna_eahas import __version__

        if energy_estimated is None:
            if source == "imported":
                raise RecordError(
                    "must be given for source 'imported'", field="provenance.energy_estimated"
                )
            energy_estimated = source in _ESTIMATED_SOURCES
        now = datetime.datetime.now(datetime.timezone.utc)
        return cls(
            source=source,
            device=device,
            energy_meter=energy_meter,
            energy_estimated=energy_estimated,
            software={
                "python": platform.python_version(),
                "numpy": np.__version__,
                "optuna_eahas": __version__,
                **(software or {}),
            },
            created=now.isoformat(timespec="seconds").replace("+00:00", "Z"),
            notes=notes,
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Provenance:
        """Build a provenance from plain data, validating it (see :class:`Provenance`)."""
        _check_object(d, [f.name for f in fields(cls)], optional=("notes",), field="provenance")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True, eq=False)
class RunRecord:
    """One trained configuration of EA-HAS-Bench: its learning curve, energy and provenance.

    A record is validated when it is made, so every record can be written and read back.
    Per-epoch values (any sequences of numbers on input) are stored as read-only float64
    arrays of length ``epochs``, which is less than the configuration's ``max_epoch`` when
    a run was cut short. Energies are in joules and times in seconds.

    Attributes:
        schema_version: The run-record schema version; only ``1`` exists.
        dataset: ``"cifar10"`` or ``"tinyimagenet"``.
        config: The ten parameters, checked with :meth:`SearchSpace.validate` and stored in
            canonical form.
        seed: The training seed.
        data_fraction: The fraction of the training set used, in (0, 1]: reduced-fidelity
            runs train on a subset.
        epochs: How many epochs the per-epoch arrays cover, from 1 to ``config["max_epoch"]``.
        test_accuracy: Test accuracy of the EMA model after each epoch, in percent.
        train_accuracy: Training accuracy in percent, or :obj:`None` when unknown.
        train_loss: Training loss, or :obj:`None` when unknown.
        train_energy_j: Energy of each training epoch.
        train_time_s: Duration of each training epoch.
        test_energy_j: Energy of the test pass after each epoch (the paper's inference
            energy).
        test_time_s: Duration of the test pass after each epoch.
        complexity: ``flops``, ``params`` and ``acts`` of the configuration's RegNet; they
            must equal :meth:`SearchSpace.complexity`'s, which catches records whose
            configuration was altered.
        provenance: Where the record comes from.

    Raises:
        RecordError: naming the first invalid field.
    """

    schema_version: int = SCHEMA_VERSION
    dataset: str
    config: dict[str, Any]
    seed: int
    data_fraction: float = 1.0
    epochs: int
    test_accuracy: np.ndarray
    train_accuracy: np.ndarray | None = None
    train_loss: np.ndarray | None = None
    train_energy_j: np.ndarray
    train_time_s: np.ndarray
    test_energy_j: np.ndarray
    test_time_s: np.ndarray
    complexity: dict[str, int]
    provenance: Provenance

    def __post_init__(self) -> None:
        if not _is_int(self.schema_version) or self.schema_version != SCHEMA_VERSION:
            raise _invalid("schema_version", self.schema_version, str(SCHEMA_VERSION))
        if not isinstance(self.dataset, str) or self.dataset not in DATASETS:
            raise _invalid("dataset", self.dataset, _one_of(DATASETS))
        if not isinstance(self.config, Mapping):
            raise _invalid("config", self.config, "a JSON object of the ten parameters")
        space = _SPACES[self.dataset]
        try:
            config = space.validate(self.config)
        except InvalidParameterError as error:
            raise RecordError(f"is invalid: {error}", field=f"config.{error.parameter}") from None
        object.__setattr__(self, "config", config)
        if not _is_int(self.seed):
            raise _invalid("seed", self.seed, "an integer")
        object.__setattr__(self, "seed", int(self.seed))
        if not _is_number(self.data_fraction) or not 0 < self.data_fraction <= 1:
            raise _invalid("data_fraction", self.data_fraction, "a number in (0, 1]")
        object.__setattr__(self, "data_fraction", float(self.data_fraction))
        max_epoch = config["max_epoch"]
        if not _is_int(self.epochs) or not 1 <= self.epochs <= max_epoch:
            raise _invalid("epochs", self.epochs, f"an integer from 1 to max_epoch ({max_epoch})")
        object.__setattr__(self, "epochs", int(self.epochs))
        for name in _EPOCH_FIELDS:
            value = getattr(self, name)
            if value is not None or name not in _NULLABLE_FIELDS:
                object.__setattr__(self, name, _epoch_values(name, value, self.epochs))
        _check_object(self.complexity, _COMPLEXITY_FIELDS, optional=(), field="complexity")
        for name in _COMPLEXITY_FIELDS:
            if not _is_int(self.complexity[name]):
                raise _invalid(f"complexity.{name}", self.complexity[name], "an integer")
        object.__setattr__(
            self, "complexity", {n: int(self.complexity[n]) for n in _COMPLEXITY_FIELDS}
        )
        if not isinstance(self.provenance, Provenance):
            raise _invalid("provenance", self.provenance, "a Provenance")

    @classmethod
    def from_dict(
        cls, d: Mapping[str, Any], *, index: int | None = None, check_complexity: bool = True
    ) -> RunRecord:
        """Build a record from plain data, such as one parsed JSON line, validating everything.

        Args:
            d: The record's fields, as :meth:`to_dict` writes them. ``data_fraction`` may be
                left out (it defaults to 1); every other field must be present.
            index: The 1-based record number to name in errors.
            check_complexity: Whether to compare ``complexity`` with the configuration's
                RegNet here; readers of many records check them in batches instead (see
                :func:`check_complexity`).

        Raises:
            RecordError: naming the record (when ``index`` is given) and the field.
        """
        try:
            _check_object(
                d, [f.name for f in fields(cls)], optional=("data_fraction",), field=None
            )
            record = cls(**{**d, "provenance": Provenance.from_dict(d["provenance"])})
            if check_complexity:
                check_complexity_of([record])
            return record
        except RecordError as error:
            raise error.located(index=index) from None

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready plain data, per-epoch values rounded (see ``_DECIMALS``)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(
            config=dict(self.config),
            complexity=dict(self.complexity),
            provenance=self.provenance.to_dict(),
        )
        for name in _EPOCH_FIELDS:
            if data[name] is not None:
                data[name] = np.round(data[name], _DECIMALS[name]).tolist()
        return data

    @property
    def complete(self) -> bool:
        """Whether the run covers all of its configuration's ``max_epoch`` epochs."""
        return self.epochs == self.config["max_epoch"]

    @property
    def total_train_energy_j(self) -> float:
        return float(self.train_energy_j.sum())

    @property
    def total_train_time_s(self) -> float:
        return float(self.train_time_s.sum())

    @property
    def final_test_accuracy(self) -> float:
        return float(self.test_accuracy[-1])


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _one_of(choices: Sequence[str]) -> str:
    return "one of " + ", ".join(repr(choice) for choice in choices)


def _invalid(field: str, value: Any, expected: str) -> RecordError:
    return RecordError(f"is {reprlib.repr(value)}; expected {expected}", field=field)


def _check_object(
    data: Any, names: Sequence[str], *, optional: Sequence[str], field: str | None
) -> None:
    """Check that ``data`` is a mapping with only the ``names`` and all but ``optional`` ones."""
    if not isinstance(data, Mapping):
        if field is None:
            raise RecordError(f"a run record must be a JSON object, not {reprlib.repr(data)}")
        raise _invalid(field, data, "a JSON object")
    prefix = "" if field is None else f"{field}."
    for key in data:
        if key not in names:
            raise RecordError(
                f"is unknown; allowed fields are {', '.join(names)}", field=f"{prefix}{key}"
            )
    for name in names:
        if name not in data and name not in optional:
            raise RecordError("is missing", field=f"{prefix}{name}")


def _epoch_values(name: str, value: Any, epochs: int) -> np.ndarray:
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise _invalid(name, value, "a list of numbers")
    try:
        array = np.asarray(value)
    except (OverflowError, ValueError):
        raise _invalid(name, value, "a list of finite numbers") from None
    has_bool = not isinstance(value, np.ndarray) and any(isinstance(v, bool) for v in value)
    if array.ndim != 1 or (array.dtype.kind not in "iuf" and len(array)) or has_bool:
        raise _invalid(name, value, "a list of numbers")
    if len(array) != epochs:
        raise RecordError(f"has {len(array)} values but 'epochs' is {epochs}", field=name)
    try:
        array = array.astype(np.float64)
    except OverflowError:
        raise _invalid(name, value, "a list of finite numbers") from None
    high = 100.0 if name in _PERCENT_FIELDS else math.inf
    bad = np.flatnonzero(~(np.isfinite(array) & (array >= 0) & (array <= high)))
    if len(bad):
        expected = "a percentage from 0 to 100" if high == 100 else "a finite number >= 0"
        raise RecordError(
            f"has value {float(array[bad[0]])!r} at index {bad[0]}; expected {expected}",
            field=name,
        )
    array.flags.writeable = False
    return array


def _is_utc_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        # Python 3.10's fromisoformat does not accept the "Z" suffix.
        parsed = datetime.datetime.fromisoformat(
            value[:-1] + "+00:00" if value.endswith("Z") else value
        )
    except ValueError:
        return False
    return parsed.utcoffset() == datetime.timedelta(0)


def check_complexity_of(records: Sequence[RunRecord]) -> None:
    """Check that each record's complexity is its configuration's RegNet's, in one batch.

    Raises:
        RecordError: for the first mismatch, with ``index`` the 1-based position in
            ``records``.
    """
    for dataset, space in _SPACES.items():
        positions = [i for i, r in enumerate(records) if r.dataset == dataset]
        if not positions:
            continue
        cx = space.batch_complexity(space.columns([records[i].config for i in positions]))
        for name in _COMPLEXITY_FIELDS:
            stored = np.array([records[i].complexity[name] for i in positions])
            wrong = np.flatnonzero(stored != getattr(cx, name))
            if len(wrong):
                j = wrong[0]
                raise RecordError(
                    f"is {stored[j]} but the configuration's RegNet has {getattr(cx, name)[j]}",
                    field=f"complexity.{name}",
                    index=positions[j] + 1,
                )
