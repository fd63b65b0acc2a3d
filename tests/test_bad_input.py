"""Every bad input gets one clear error naming what is wrong and what is allowed (hypothesis).

Covered: benchmark queries and objective parameters (unknown and missing names, values out of
range or off the grid, wrong types, NaN and infinities), run records (truncated lines, wrong
lengths, wrong types, NaN, unknown and missing fields), benchmark artifacts (missing,
truncated and tampered files), storage URLs and ``eahas`` command-line options, and ``eahas
fit`` failing without writing anything. The number of generated examples each property ran
is printed at the end of the module (``pytest -s``) for ``docs/reliability.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
import contextlib
import copy
import gzip
import io
import json
import math
from pathlib import Path
import pickle
import shutil
from typing import Any

from conftest import benchmark_dir
from hypothesis import HealthCheck
from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import pytest

from optuna_eahas import eahas_objective
from optuna_eahas.benchmark import Benchmark
from optuna_eahas.cli import main
from optuna_eahas.records import RecordError
from optuna_eahas.records import RunRecord
from optuna_eahas.records import read_records
from optuna_eahas.records import write_records
from optuna_eahas.space import PARAM_NAMES
from optuna_eahas.space import InvalidParameterError
from optuna_eahas.space import SearchSpace
from optuna_eahas.surrogate import ArtifactError

_SPACE = SearchSpace("cifar10")
_VALID_CONFIG = _SPACE.sample(1, seed=0)[0]
_CATEGORICAL = {"lr_policy", "optimizer"}
# Examples each property ran, printed when the module finishes.
EXAMPLES: Counter[str] = Counter()


def _examples(n: int) -> settings:
    return settings(
        max_examples=n, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )


@pytest.fixture(scope="module", autouse=True)
def _report_example_counts() -> Iterator[None]:
    yield
    total = sum(EXAMPLES.values())
    lines = [f"  {name}: {count}" for name, count in sorted(EXAMPLES.items())]
    print("\nhypothesis examples run by tests/test_bad_input.py:", total, *lines, sep="\n")


@pytest.fixture(scope="module")
def benchmark() -> Benchmark:
    return Benchmark.load("cifar10")


# -- benchmark queries and objective parameters ------------------------------------------


def _numeric_bounds(name: str) -> tuple[float, float]:
    distribution = _SPACE.distributions[name]
    if hasattr(distribution, "choices"):
        choices = [float(c) for c in distribution.choices]
        return min(choices), max(choices)
    return float(distribution.low), float(distribution.high)


@st.composite
def _bad_value(draw: st.DrawFn, name: str) -> Any:
    """A value of the wrong type, non-finite, out of range or not one of the choices."""
    wrong_type = st.one_of(
        st.none(),
        st.booleans(),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
    )
    if name in _CATEGORICAL:
        choices = _SPACE.distributions[name].choices
        text = st.text(max_size=12).filter(lambda s: s not in choices)
        return draw(st.one_of(text, st.floats(allow_nan=True), wrong_type))
    low, high = _numeric_bounds(name)
    span = max(high - low, 1.0)
    out_of_range = st.one_of(
        st.floats(min_value=high + 0.01 * span, allow_infinity=True, allow_nan=False),
        st.floats(max_value=low - 0.01 * span, allow_infinity=True, allow_nan=False),
        st.integers(max_value=int(math.floor(low)) - 1),
        st.integers(min_value=int(math.ceil(high)) + 1),
    )
    return draw(st.one_of(out_of_range, st.just(math.nan), st.text(max_size=6), wrong_type))


@st.composite
def _bad_config(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A configuration with one fault, and the parameter the error must name."""
    config = dict(_VALID_CONFIG)
    fault = draw(st.sampled_from(["value", "unknown", "missing"]))
    name = draw(st.sampled_from(PARAM_NAMES))
    if fault == "value":
        config[name] = draw(_bad_value(name))
        return config, name
    if fault == "missing":
        del config[name]
        return config, name
    unknown = draw(st.text(min_size=1, max_size=12).filter(lambda s: s not in PARAM_NAMES))
    config[unknown] = config.pop(name) if draw(st.booleans()) else 1
    return config, unknown


@_examples(150)
@given(case=_bad_config())
def test_bad_query_names_the_parameter(benchmark: Benchmark, case: tuple[dict, str]) -> None:
    EXAMPLES["benchmark queries"] += 1
    config, name = case
    with pytest.raises(InvalidParameterError) as info:
        benchmark.query(config)
    assert info.value.parameter == name
    _assert_names_what_is_allowed(str(info.value), name)


def _assert_names_what_is_allowed(message: str, name: str) -> None:
    assert repr(name) in message
    if name in PARAM_NAMES:
        assert _SPACE.allowed(name) in message
    else:
        assert f"the parameters are {', '.join(PARAM_NAMES)}" in message


@_examples(150)
@given(data=st.data())
def test_bad_objective_override_names_the_parameter(
    benchmark: Benchmark, data: st.DataObject
) -> None:
    EXAMPLES["objective search_space overrides"] += 1
    name = data.draw(st.sampled_from(PARAM_NAMES))
    value = data.draw(_bad_value(name))
    with pytest.raises(InvalidParameterError) as info:
        eahas_objective(benchmark=benchmark, search_space={name: value})
    assert info.value.parameter == name
    _assert_names_what_is_allowed(str(info.value), name)


def test_objective_rejects_unknown_override(benchmark: Benchmark) -> None:
    with pytest.raises(InvalidParameterError, match="'dropout'.*the parameters are depth"):
        eahas_objective(benchmark=benchmark, search_space={"dropout": 0.1})


# -- run records ----------------------------------------------------------------------------

_RECORD_PATH_SUFFIX = "records.jsonl"


def _valid_record() -> dict[str, Any]:
    epochs = 4
    complexity = _SPACE.complexity(_VALID_CONFIG)
    return {
        "schema_version": 1,
        "dataset": "cifar10",
        "config": dict(_VALID_CONFIG),
        "seed": 0,
        "data_fraction": 1.0,
        "epochs": epochs,
        "test_accuracy": [40.0, 60.0, 70.0, 75.0],
        "train_accuracy": [35.0, 55.0, 68.0, 80.0],
        "train_loss": [2.0, 1.2, 0.9, 0.7],
        "train_energy_j": [5000.0] * epochs,
        "train_time_s": [30.0] * epochs,
        "test_energy_j": [400.0] * epochs,
        "test_time_s": [2.0] * epochs,
        "complexity": {
            "flops": complexity.flops,
            "params": complexity.params,
            "acts": complexity.acts,
        },
        "provenance": {
            "source": "simulated",
            "device": "reference simulator",
            "energy_meter": "simulator",
            "energy_estimated": True,
            "software": {"python": "3.11"},
            "created": "2024-05-01T12:00:00Z",
            "notes": None,
        },
    }


_VALID_RECORD = _valid_record()
RunRecord.from_dict(_VALID_RECORD)  # the starting point is valid
_PER_EPOCH = [
    "test_accuracy",
    "train_accuracy",
    "train_loss",
    "train_energy_j",
    "train_time_s",
    "test_energy_j",
    "test_time_s",
]
_SCALAR_FIELDS = ["schema_version", "dataset", "seed", "data_fraction", "epochs"]
_NESTED = {
    "complexity": ["flops", "params", "acts"],
    "provenance": ["source", "device", "energy_meter", "energy_estimated", "created"],
}


@st.composite
def _bad_record(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A record with one fault, and the (dotted) field the error must name."""
    record = copy.deepcopy(_VALID_RECORD)
    fault = draw(
        st.sampled_from(["length", "nan", "type", "unknown", "missing", "nested", "config"])
    )
    if fault == "length":
        field = draw(st.sampled_from(_PER_EPOCH))
        length = draw(st.integers(0, 12).filter(lambda n: n != record["epochs"]))
        record[field] = [1.0] * length
        return record, field
    if fault == "nan":
        field = draw(st.sampled_from(_PER_EPOCH))
        index = draw(st.integers(0, record["epochs"] - 1))
        record[field][index] = draw(st.sampled_from([math.nan, math.inf, -math.inf, -1.0]))
        return record, field
    if fault == "type":
        field = draw(st.sampled_from(_PER_EPOCH + _SCALAR_FIELDS))
        record[field] = draw(
            st.one_of(st.text(max_size=5), st.dictionaries(st.text(max_size=2), st.none()))
        )
        return record, field
    if fault == "unknown":
        field = draw(st.text(min_size=1, max_size=10).filter(lambda s: s not in record))
        record[field] = draw(st.integers())
        return record, field
    if fault == "missing":
        field = draw(st.sampled_from(sorted(set(record) - {"data_fraction"})))
        del record[field]
        return record, field
    if fault == "nested":
        parent = draw(st.sampled_from(sorted(_NESTED)))
        key = draw(st.sampled_from(_NESTED[parent]))
        if draw(st.booleans()):
            del record[parent][key]
        else:
            record[parent][key] = draw(st.one_of(st.none(), st.lists(st.integers(), max_size=2)))
        return record, f"{parent}.{key}"
    name = draw(st.sampled_from(PARAM_NAMES))
    record["config"][name] = draw(_bad_value(name))
    return record, f"config.{name}"


@_examples(150)
@given(case=_bad_record(), line_number=st.integers(1, 3))
def test_bad_record_names_file_line_and_field(
    tmp_path: Path, case: tuple[dict[str, Any], str], line_number: int
) -> None:
    EXAMPLES["run records (bad field)"] += 1
    record, field = case
    path = tmp_path / _RECORD_PATH_SUFFIX
    lines = [json.dumps(_VALID_RECORD)] * 3
    lines[line_number - 1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordError) as info:
        read_records(path)
    error = info.value
    assert (error.path, error.index, error.field) == (str(path), line_number, field)
    assert f"record {line_number}: field {field!r}" in str(error)


@_examples(60)
@given(cut=st.integers(1, len(json.dumps(_VALID_RECORD)) - 1))
def test_truncated_last_line_is_reported_as_truncated(tmp_path: Path, cut: int) -> None:
    EXAMPLES["run records (truncated)"] += 1
    path = tmp_path / _RECORD_PATH_SUFFIX
    line = json.dumps(_VALID_RECORD)
    path.write_text(line + "\n" + line[:cut])
    with pytest.raises(RecordError, match=r"records.jsonl, record 2: .*truncated") as info:
        read_records(path)
    assert info.value.index == 2


def test_appending_after_a_truncated_line_is_refused(tmp_path: Path) -> None:
    path = tmp_path / _RECORD_PATH_SUFFIX
    line = json.dumps(_VALID_RECORD)
    path.write_text(line + "\n" + line[:50])
    before = path.read_bytes()
    with pytest.raises(RecordError, match="last line is incomplete"):
        write_records(path, [RunRecord.from_dict(_VALID_RECORD)], append=True)
    assert path.read_bytes() == before


# -- artifacts ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def artifact_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("artifact") / "cifar10"
    shutil.copytree(benchmark_dir("cifar10"), directory)
    return directory


_ARTIFACT_FILES = sorted(p.name for p in benchmark_dir("cifar10").iterdir() if p.is_file())


@contextlib.contextmanager
def _damaged(path: Path, data: bytes | None) -> Iterator[None]:
    """``path`` replaced by ``data`` (removed for None) inside the block, restored after."""
    original = path.read_bytes()
    try:
        if data is None:
            path.unlink()
        else:
            path.write_bytes(data)
        yield
    finally:
        path.write_bytes(original)


@st.composite
def _damage(draw: st.DrawFn, original: bytes) -> bytes | None:
    fault = draw(st.sampled_from(["missing", "truncated", "flipped", "appended"]))
    if fault == "missing":
        return None
    if fault == "truncated":
        return original[: draw(st.integers(0, len(original) - 1))]
    if fault == "appended":
        return original + draw(st.binary(min_size=1, max_size=16))
    index = draw(st.integers(0, len(original) - 1))
    flip = draw(st.integers(1, 255))
    return original[:index] + bytes([original[index] ^ flip]) + original[index + 1 :]


@_examples(50)
@given(data=st.data())
def test_damaged_artifact_file_is_named(artifact_copy: Path, data: st.DataObject) -> None:
    EXAMPLES["artifacts"] += 1
    name = data.draw(st.sampled_from(_ARTIFACT_FILES))
    path = artifact_copy / name
    damage = data.draw(_damage(path.read_bytes()))
    if name == "manifest.json" and damage is not None:
        # A changed manifest may still be valid JSON that lists another file's hash wrongly:
        # the error then names that file. Only unparsable manifests are checked here.
        try:
            json.loads(damage)
            assume(False)
        except ValueError:
            pass
    with _damaged(path, damage):
        with pytest.raises(ArtifactError) as info:
            Benchmark.load(artifact_copy)
    assert info.value.file == name
    assert f"file {name!r}" in str(info.value)
    Benchmark.load(artifact_copy)  # restored


class _Payload:
    """Creates a marker file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


def test_pickle_payloads_in_an_artifact_are_never_unpickled(
    artifact_copy: Path, tmp_path: Path
) -> None:
    """An unlisted pickle is never opened; one put in place of a listed file is refused."""
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker))
    extra = artifact_copy / "surrogate.pkl"
    extra.write_bytes(payload)
    try:
        Benchmark.load(artifact_copy)
        for name in _ARTIFACT_FILES:
            with _damaged(artifact_copy / name, payload):
                with pytest.raises(ArtifactError) as info:
                    Benchmark.load(artifact_copy)
                assert info.value.file == name
    finally:
        extra.unlink()
    assert not marker.exists()
    pickle.loads(payload)  # the payload is live: unpickling it creates the marker
    assert marker.exists()


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_pickle_payload_in_a_record_file_is_never_unpickled(tmp_path: Path, suffix: str) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker))
    path = tmp_path / f"records{suffix}"
    path.write_bytes(gzip.compress(payload) if suffix.endswith(".gz") else payload)
    with pytest.raises(RecordError, match=r"record 1: invalid JSON"):
        read_records(path)
    assert not marker.exists()


# -- the command line -----------------------------------------------------------------------


def _eahas(*argv: str) -> tuple[int, str]:
    """Run ``eahas`` in this process: its exit status and what it wrote to stderr."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(list(argv))
        except SystemExit as exit:  # argparse rejects the option before the command runs
            status = exit.code
    return status, stderr.getvalue()


def _assert_one_line_error(status: int, stderr: str, *words: str) -> None:
    assert status == 1, stderr
    assert stderr.startswith("eahas: error: ") and stderr.count("\n") == 1, stderr
    for word in words:
        assert word in stderr


_DIALECTS = {"sqlite", "postgresql", "postgres", "mysql", "mariadb", "oracle", "mssql"}
_scheme = st.from_regex(r"\A[a-z][a-z0-9+]{0,10}\Z").filter(
    lambda s: s.split("+")[0] not in _DIALECTS
)


@_examples(40)
@given(
    url=st.one_of(
        st.text(max_size=30).filter(lambda s: "://" not in s),
        st.builds(lambda s, rest: f"{s}://{rest}", _scheme, st.text(max_size=20)),
        st.just("sqlite:////no/such/folder/study.db"),
        st.just("postgresql+psycopg2://nobody:secret@127.0.0.1:1/none"),
        st.just("mysql://nobody@127.0.0.1:1/none"),
    )
)
def test_bad_storage_url_is_one_clear_error(url: str) -> None:
    EXAMPLES["storage URLs"] += 1
    assume(url.strip())
    status, stderr = _eahas("run", "--n-trials", "1", f"--storage={url}")
    _assert_one_line_error(status, stderr, "--storage", "postgresql://")
    if "secret" in url:
        assert "secret" not in stderr  # the password is not echoed


def test_collect_checks_its_storage_before_training(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    output = tmp_path / "records.jsonl"
    argv = ["collect", "--data-dir", str(tmp_path), "-o", str(output)]
    status, stderr = _eahas(*argv, "--storage", "nosuchdb://host/db")
    _assert_one_line_error(status, stderr, "Cannot open storage 'nosuchdb://host/db'")
    assert not output.exists()


_POSITIVE_INT_OPTIONS = ["--n-trials", "--total-trials", "--report-interval", "--n-jobs"]


@_examples(40)
@given(
    option=st.sampled_from([*_POSITIVE_INT_OPTIONS, "--heartbeat-interval"]),
    value=st.integers(max_value=0),
)
def test_non_positive_counts_are_refused(option: str, value: int) -> None:
    EXAMPLES["CLI options (non-positive)"] += 1
    status, stderr = _eahas("run", "--storage", "sqlite:///:memory:", f"{option}={value}")
    _assert_one_line_error(status, stderr, option, str(value))


@_examples(30)
@given(
    value=st.one_of(
        st.floats(max_value=0.0),
        st.sampled_from([math.nan, math.inf]),
    )
)
def test_bad_budget_is_refused(value: float) -> None:
    EXAMPLES["CLI options (budget)"] += 1
    status, stderr = _eahas("run", "--storage", "sqlite:///:memory:", f"--budget-kwh={value}")
    _assert_one_line_error(status, stderr, "--budget-kwh", "positive")


@_examples(60)
@given(
    option=st.sampled_from(["--n-trials", "--seed", "--heartbeat-interval", "--budget-kwh"]),
    value=st.text(min_size=1, max_size=8),
)
def test_unparsable_option_value_names_the_option(option: str, value: str) -> None:
    EXAMPLES["CLI options (unparsable)"] += 1
    try:
        float(value)
        assume(False)
    except ValueError:
        pass
    status, stderr = _eahas("run", f"{option}={value}")
    assert status == 2  # argparse: usage line, then the error naming the option
    assert f"argument {option}: invalid" in stderr


def test_grace_period_needs_a_heartbeat() -> None:
    status, stderr = _eahas("run", "--storage", "sqlite:///:memory:", "--grace-period", "5")
    _assert_one_line_error(status, stderr, "--grace-period needs --heartbeat-interval")
    status, stderr = _eahas(
        "run",
        "--storage",
        "sqlite:///:memory:",
        "--heartbeat-interval",
        "10",
        "--grace-period",
        "5",
    )
    _assert_one_line_error(status, stderr, "--grace-period", "at least")


@_examples(40)
@given(case=_bad_config())
def test_bad_query_parameter_on_the_command_line(case: tuple[dict, str]) -> None:
    EXAMPLES["CLI eahas query --json"] += 1
    config, name = case
    try:
        text = json.dumps(config, allow_nan=True)
    except (TypeError, ValueError):
        assume(False)
    status, stderr = _eahas("query", f"--json={text}")
    _assert_one_line_error(status, stderr, repr(name))


# -- eahas fit writes nothing when it fails -------------------------------------------------


def _records_file(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_failed_fit_writes_no_artifact(tmp_path: Path) -> None:
    good = _records_file(tmp_path / "good.jsonl", [json.dumps(_VALID_RECORD)] * 3)
    bad_record = {**_VALID_RECORD, "epochs": 3}
    bad = _records_file(tmp_path / "bad.jsonl", [json.dumps(bad_record)])
    output = tmp_path / "artifact"
    # A bad record in the second file: found before anything is fitted or written.
    status, stderr = _eahas("fit", str(good), str(bad), "-o", str(output))
    _assert_one_line_error(status, stderr, "bad.jsonl, record 1", "'test_accuracy'")
    # Too few (incomplete) records: refused by the fit, before writing.
    status, stderr = _eahas("fit", str(good), "-o", str(output))
    _assert_one_line_error(status, stderr, "incomplete")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "good.jsonl"]


def test_failed_fit_keeps_the_old_artifact(tmp_path: Path) -> None:
    output = tmp_path / "artifact"
    shutil.copytree(benchmark_dir("cifar10"), output)
    before = {p.name: p.read_bytes() for p in output.iterdir()}
    truncated = tmp_path / "truncated.jsonl"
    truncated.write_text(json.dumps(_VALID_RECORD)[:100])
    status, stderr = _eahas("fit", str(truncated), "-o", str(output), "--overwrite")
    _assert_one_line_error(status, stderr, "truncated.jsonl, record 1", "truncated")
    assert {p.name: p.read_bytes() for p in output.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact", "truncated.jsonl"]
