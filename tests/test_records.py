from __future__ import annotations

import copy
import dataclasses
import datetime
import gzip
import json
from pathlib import Path
import re
from typing import Any

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import numpy as np
import pytest

from optuna_eahas.records import Provenance
from optuna_eahas.records import RecordError
from optuna_eahas.records import RunRecord
from optuna_eahas.records import iter_records
from optuna_eahas.records import read_records
from optuna_eahas.records import write_records
from optuna_eahas.space import SearchSpace

_SPACE = SearchSpace("cifar10")
_CONFIG = _SPACE.sample(1, seed=0)[0]
_MAX_EPOCH = _CONFIG["max_epoch"]


def _record_dict(epochs: int = 3, **overrides: Any) -> dict[str, Any]:
    """A valid run record as plain data, with ``epochs`` epochs of made-up curves."""
    complexity = _SPACE.complexity(_CONFIG)
    ramp = np.linspace(0.0, 1.0, epochs)
    data = {
        "schema_version": 1,
        "dataset": "cifar10",
        "config": dict(_CONFIG),
        "seed": 0,
        "data_fraction": 1.0,
        "epochs": epochs,
        "test_accuracy": np.round(40.0 + 50.0 * ramp, 2).tolist(),
        "train_accuracy": np.round(35.0 + 60.0 * ramp, 2).tolist(),
        "train_loss": np.round(2.0 - 1.5 * ramp, 3).tolist(),
        "train_energy_j": [5000.0 + i for i in range(epochs)],
        "train_time_s": [30.0] * epochs,
        "test_energy_j": [400.5] * epochs,
        "test_time_s": [2.25] * epochs,
        "complexity": {
            "flops": complexity.flops,
            "params": complexity.params,
            "acts": complexity.acts,
        },
        "provenance": {
            "source": "simulated",
            "device": "reference-simulator V100-class",
            "energy_meter": "simulator",
            "energy_estimated": True,
            "software": {"python": "3.11.7", "numpy": "2.0.0"},
            "created": "2024-05-01T12:00:00Z",
            "notes": None,
        },
    }
    data.update(overrides)
    return data


def _write_lines(path: Path, lines: list[str]) -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt") as file:
        file.write("".join(lines))
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    records = [
        RunRecord.from_dict(_record_dict(epochs=_MAX_EPOCH)),
        RunRecord.from_dict(
            _record_dict(seed=7, data_fraction=0.25, train_accuracy=None, train_loss=None)
        ),
    ]
    path = tmp_path / f"records{suffix}"
    write_records(path, records)

    read = read_records(path)
    assert [r.to_dict() for r in read] == [r.to_dict() for r in records]
    assert [r.to_dict() for r in iter_records(str(path))] == [r.to_dict() for r in records]
    assert read[1].train_accuracy is None and read[1].data_fraction == 0.25
    raw = path.read_bytes()
    assert raw.startswith(b"\x1f\x8b") == (suffix == ".jsonl.gz")
    text = gzip.decompress(raw) if suffix == ".jsonl.gz" else raw
    assert text.count(b"\n") == 2 and text.endswith(b"\n")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_append(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"records{suffix}"
    write_records(path, [RunRecord.from_dict(_record_dict(seed=0))], append=True)
    write_records(path, [RunRecord.from_dict(_record_dict(seed=s)) for s in (1, 2)], append=True)
    assert [r.seed for r in read_records(path)] == [0, 1, 2]

    write_records(path, [RunRecord.from_dict(_record_dict(seed=3))])
    assert [r.seed for r in read_records(path)] == [3]


def test_append_refuses_a_file_ending_in_half_a_line(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "records.jsonl", [json.dumps(_record_dict())[:50]])
    with pytest.raises(RecordError, match="last line is incomplete"):
        write_records(path, [RunRecord.from_dict(_record_dict())], append=True)


def test_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    write_records(path, [RunRecord.from_dict(_record_dict(seed=1))])
    before = path.read_bytes()

    def records() -> Any:
        yield RunRecord.from_dict(_record_dict(seed=2))
        raise RuntimeError("simulator crashed")

    with pytest.raises(RuntimeError):
        write_records(path, records())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_suffix_must_be_jsonl(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.jsonl or \.jsonl\.gz"):
        read_records(tmp_path / "records.json")


def test_values_are_rounded_to_fixed_decimals() -> None:
    record = RunRecord.from_dict(_record_dict(test_accuracy=[12.3456789, 1 / 3, 99.99999999]))
    assert record.to_dict()["test_accuracy"] == [12.3457, 0.3333, 100.0]
    assert record.test_accuracy[1] == 1 / 3


def test_properties_and_immutability() -> None:
    partial = RunRecord.from_dict(_record_dict())
    assert not partial.complete
    assert partial.total_train_energy_j == 15003.0
    assert partial.total_train_time_s == 90.0
    assert partial.final_test_accuracy == 90.0
    assert partial.test_accuracy.dtype == np.float64
    assert RunRecord.from_dict(_record_dict(epochs=_MAX_EPOCH)).complete
    with pytest.raises(ValueError, match="read-only"):
        partial.test_accuracy[0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        partial.seed = 1  # type: ignore[misc]


def test_direct_construction_is_validated() -> None:
    fields = _record_dict()
    fields["provenance"] = Provenance.from_dict(fields["provenance"])
    fields["test_energy_j"] = np.array([1.0, float("nan"), 1.0])
    with pytest.raises(RecordError, match=r"field 'test_energy_j' has value nan at index 1"):
        RunRecord(**fields)


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _drop(path: tuple[Any, ...]) -> Any:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


_FLOPS = _SPACE.complexity(_CONFIG).flops
_MALFORMED = [
    (_drop(("seed",)), r"field 'seed' is missing"),
    (_drop(("provenance", "device")), r"field 'provenance\.device' is missing"),
    (_set(("colour",), "red"), r"field 'colour' is unknown; allowed fields are schema_version, "),
    (_set(("complexity", "widths"), [64]), r"field 'complexity\.widths' is unknown"),
    (
        _set(("test_accuracy",), [1.0, 2.0]),
        r"field 'test_accuracy' has 2 values but 'epochs' is 3",
    ),
    (
        _set(("train_energy_j", 1), float("nan")),
        r"field 'train_energy_j' has value nan at index 1",
    ),
    (_set(("test_time_s", 2), float("inf")), r"field 'test_time_s' has value inf at index 2"),
    (
        _set(("data_fraction",), float("-inf")),
        r"field 'data_fraction' is -inf; expected a number in",
    ),
    (
        _set(("train_loss", 0), -0.5),
        r"field 'train_loss' has value -0.5 at index 0; expected a finite",
    ),
    (_set(("test_accuracy", 0), 100.5), r"field 'test_accuracy' has value 100.5 .* a percentage"),
    (_set(("data_fraction",), 0), r"field 'data_fraction' is 0; expected a number in \(0, 1\]"),
    (_set(("epochs",), 0), r"field 'epochs' is 0; expected an integer from 1 to max_epoch"),
    (
        _set(("epochs",), _MAX_EPOCH + 1),
        rf"field 'epochs' is {_MAX_EPOCH + 1}; .* \({_MAX_EPOCH}\)",
    ),
    (_set(("epochs",), 3.0), r"field 'epochs' is 3\.0; expected an integer"),
    (_set(("seed",), "0"), r"field 'seed' is '0'; expected an integer"),
    (_set(("seed",), True), r"field 'seed' is True; expected an integer"),
    (
        _set(("test_accuracy",), "high"),
        r"field 'test_accuracy' is 'high'; expected a list of numbers",
    ),
    (
        _set(("test_energy_j", 1), None),
        r"field 'test_energy_j' is .*; expected a list of numbers",
    ),
    (_set(("test_time_s", 1), True), r"field 'test_time_s' is .*; expected a list of numbers"),
    (_set(("train_time_s",), None), r"field 'train_time_s' is None; expected a list of numbers"),
    (_set(("schema_version",), 2), r"field 'schema_version' is 2; expected 1"),
    (
        _set(("dataset",), "mnist"),
        r"field 'dataset' is 'mnist'; expected one of 'cifar10', 'tiny",
    ),
    (_set(("config", "dropout"), 0.1), r"field 'config\.dropout' is invalid: Unknown parameter"),
    (
        _set(("config", "optimizer"), "rmsprop"),
        r"field 'config\.optimizer' is invalid: Invalid value",
    ),
    (_drop(("config", "cutout")), r"field 'config\.cutout' is invalid: Missing parameter"),
    (_set(("config", "depth"), _CONFIG["depth"] - 1), r"field 'complexity\.flops' is \d+ but"),
    (
        _set(("complexity", "params"), 12),
        r"field 'complexity\.params' is 12 but the .* RegNet has \d+",
    ),
    (_set(("complexity", "acts"), "1"), r"field 'complexity\.acts' is '1'; expected an integer"),
    (_set(("complexity",), [_FLOPS]), r"field 'complexity' is .*; expected a JSON object"),
    (
        _set(("provenance", "source"), "guessed"),
        r"field 'provenance\.source' is 'guessed'; expected",
    ),
    (
        _set(("provenance", "energy_estimated"), "yes"),
        r"field 'provenance\.energy_estimated' is 'yes'",
    ),
    (_set(("provenance", "software"), {"numpy": 2}), r"field 'provenance\.software' is"),
    (_set(("provenance", "created"), "2024-05-01T12:00:00"), r"field 'provenance\.created' is"),
    (
        _set(("provenance", "created"), "2024-05-01T14:00+02:00"),
        r"field 'provenance\.created' is",
    ),
    (_set(("provenance", "notes"), 3), r"field 'provenance\.notes' is 3; expected a string"),
]


@pytest.mark.parametrize(("mutate", "match"), _MALFORMED)
def test_malformed_record_names_file_record_and_field(
    tmp_path: Path, mutate: Any, match: str
) -> None:
    bad = _record_dict()
    mutate(bad)
    path = _write_lines(
        tmp_path / "records.jsonl",
        [json.dumps(_record_dict()) + "\n", json.dumps(bad) + "\n"],
    )
    with pytest.raises(RecordError, match=re.escape(f"{path}, record 2: ") + match):
        read_records(path)
    with pytest.raises(RecordError, match=f"^record 5: {match}"):
        RunRecord.from_dict(bad, index=5)


def test_error_message_format(tmp_path: Path) -> None:
    lines = [json.dumps(_record_dict()) + "\n"] * 16
    lines.append(json.dumps(_record_dict(test_accuracy=[50.0] * 2)) + "\n")
    path = _write_lines(tmp_path / "records.jsonl", lines)
    with pytest.raises(RecordError) as info:
        read_records(path)
    assert str(info.value) == (
        f"{path}, record 17: field 'test_accuracy' has 2 values but 'epochs' is 3"
    )
    assert (info.value.index, info.value.field) == (17, "test_accuracy")


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (['{"seed": 1,\n', "{}\n"], r"record 1: invalid JSON \(.*\)$"),
        (["\n", "[1, 2]\n"], r"record 2: a run record must be a JSON object, not \[1, 2\]"),
        (["\n", "\n", "{}"], r"record 3: field 'schema_version' is missing"),
        (['{"schema_version": 1, "dat'], r"record 1: invalid JSON .* looks truncated"),
    ],
)
def test_malformed_lines(tmp_path: Path, lines: list[str], match: str) -> None:
    path = _write_lines(tmp_path / "records.jsonl", lines)
    with pytest.raises(RecordError, match=match):
        read_records(path)


def test_invalid_utf8(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"\xff\xfe{}\n")
    with pytest.raises(RecordError, match=r"record 1: invalid JSON \(.*utf-8"):
        read_records(path)


def test_truncated_and_fake_gzip_files(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl.gz"
    write_records(path, [RunRecord.from_dict(_record_dict())] * 3)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(RecordError, match="not a complete gzip file"):
        read_records(path)
    path.write_text(json.dumps(_record_dict()) + "\n")
    with pytest.raises(RecordError, match="not a complete gzip file"):
        read_records(path)


@pytest.mark.parametrize(
    ("source", "estimated", "valid"),
    [
        ("measured", False, True),
        ("measured", True, False),
        ("simulated", True, True),
        ("simulated", False, False),
        ("estimated", True, True),
        ("estimated", False, False),
        ("imported", True, True),
        ("imported", False, True),
    ],
)
def test_provenance_energy_rule(source: str, estimated: bool, valid: bool) -> None:
    data = _record_dict()["provenance"] | {"source": source, "energy_estimated": estimated}
    if valid:
        assert Provenance.from_dict(data).energy_estimated is estimated
    else:
        must = "false" if source == "measured" else "true"
        match = f"'provenance.energy_estimated' must be {must} for source '{source}'"
        with pytest.raises(RecordError, match=match):
            Provenance.from_dict(data)


def test_provenance_create() -> None:
    measured = Provenance.create(
        "measured",
        device="NVIDIA H100 80GB HBM3",
        energy_meter="nvml-energy-counter",
        software={"torch": "2.3.0"},
    )
    assert measured.energy_estimated is False
    assert {"python", "numpy", "optuna_eahas", "torch"} <= set(measured.software)
    created = datetime.datetime.fromisoformat(measured.created.replace("Z", "+00:00"))
    age = datetime.datetime.now(datetime.timezone.utc) - created
    assert datetime.timedelta(0) <= age < datetime.timedelta(minutes=1)
    assert Provenance.from_dict(measured.to_dict()) == measured

    simulated = Provenance.create("simulated", device="simulator", energy_meter="simulator")
    assert simulated.energy_estimated is True
    with pytest.raises(RecordError, match="must be given for source 'imported'"):
        Provenance.create("imported", device="V100", energy_meter="nvml-power-polling")


def test_complexity_mismatch_is_detected() -> None:
    data = _record_dict()
    data["complexity"]["flops"] += 1
    with pytest.raises(RecordError, match=rf"'complexity\.flops' is {_FLOPS + 1} but .* {_FLOPS}"):
        RunRecord.from_dict(data)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every value nested in ``value`` (dictionary keys and list indices)."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    return [p for key, child in items for p in [(*path, key), *_paths(child, (*path, key))]]


_VALID = _record_dict()
_ALL_PATHS = _paths(_VALID)
# Everything is required but data_fraction, the notes and the (free-form) software versions.
_REQUIRED_PATHS = [
    p
    for p in _ALL_PATHS
    if p not in {("data_fraction",), ("provenance", "notes")}
    and p[:2] != ("provenance", "software")
]


@st.composite
def _corrupted_lines(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["drop", "non-finite", "truncate"]))
    if kind == "truncate":
        line = json.dumps(_VALID)
        return line[: draw(st.integers(1, len(line) - 1))]
    data = copy.deepcopy(_VALID)
    if kind == "drop":
        _drop(draw(st.sampled_from(_REQUIRED_PATHS)))(data)
    else:
        value = draw(st.sampled_from([float("nan"), float("inf"), float("-inf")]))
        _set(draw(st.sampled_from(_ALL_PATHS)), value)(data)
    return json.dumps(data) + "\n"


@settings(max_examples=300, deadline=None)
@given(line=_corrupted_lines())
def test_corrupted_lines_always_raise_record_error(
    tmp_path_factory: pytest.TempPathFactory, line: str
) -> None:
    path = tmp_path_factory.getbasetemp() / "corrupted.jsonl"
    _write_lines(path, [json.dumps(_VALID) + "\n", line])
    with pytest.raises(RecordError, match=r"record 2: "):
        read_records(path)
