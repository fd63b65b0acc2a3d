"""Workers killed with SIGKILL in the middle of their work lose nothing and repeat nothing.

Optuna's heartbeat (``eahas run --heartbeat-interval``) marks the dead worker's trial failed
once its heartbeat is older than the grace period; the energy that trial recorded at its last
report (``eahas_objective`` records energy before every report) still counts in the search
energy; its configuration is queued once more; and rerunning the command finishes the target
(``--total-trials``, complete or pruned trials).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest
from workers.storages import STORAGES
from workers.storages import eahas_run
from workers.storages import fresh_database
from workers.storages import fresh_study
from workers.storages import start_workers
from workers.storages import storage_url
from workers.storages import wait_all

from optuna_eahas import energy
from optuna_eahas import search_energy
from optuna_eahas.benchmark import Benchmark
from optuna_eahas.records import RecordError
from optuna_eahas.records import read_records
from optuna_eahas.records import write_records
from optuna_eahas.visualization import _study_attrs

TOTAL_TRIALS = 10
KILL_AFTER_COMPLETE = 3
REPORT_INTERVAL = 25
REPORT_PAUSE_S = 0.3
HEARTBEAT_S = 1
GRACE_S = 2
SLOW_RUN = Path(__file__).parent / "workers" / "slow_run.py"


def _options(url: str, name: str) -> list[str]:
    return [
        "--storage",
        url,
        "--study-name",
        name,
        "--dataset",
        "cifar10",
        "--sampler",
        "random",
        "--pruner",
        "none",
        "--constraints",
        "ignore",
        "--report-interval",
        str(REPORT_INTERVAL),
        "--total-trials",
        str(TOTAL_TRIALS),
        "--heartbeat-interval",
        str(HEARTBEAT_S),
        "--grace-period",
        str(GRACE_S),
    ]


def _wait_for_trial_between_reports(study: optuna.Study, timeout: float) -> FrozenTrial:
    """A running trial that has reported (and recorded energy) and has reports to go."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        for trial in trials:
            epochs = trial.user_attrs.get(energy.EPOCHS, 0)
            if (
                len(complete) >= KILL_AFTER_COMPLETE
                and trial.state == TrialState.RUNNING
                and 0 < epochs < trial.params["max_epoch"]
            ):
                return trial
        time.sleep(0.05)
    raise AssertionError("no trial reached the middle of its run in time")


def _energy_of_first_epochs(benchmark: Benchmark, params: dict, epochs: int) -> float:
    return math.fsum(benchmark.query(params).train_energy_j[:epochs].tolist())


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize("kind", STORAGES)
def test_worker_killed_mid_trial_loses_and_repeats_nothing(kind: str, tmp_path: Path) -> None:
    benchmark = Benchmark.load("cifar10")
    with storage_url(kind) as url, fresh_study(url, "crash") as name:
        study = optuna.load_study(study_name=name, storage=url)
        slow = [sys.executable, str(SLOW_RUN), str(REPORT_PAUSE_S), *_options(url, name)]
        (worker,) = start_workers([slow], tmp_path)
        try:
            seen = _wait_for_trial_between_reports(study, timeout=120)
            os.kill(worker.pid, signal.SIGKILL)
        finally:
            worker.kill()
            worker.wait()
        # Killed in the pause before a report: the energy of the reported epochs is stored.
        killed = study._storage.get_trial(seen._trial_id)
        assert killed.state == TrialState.RUNNING
        epochs = killed.user_attrs[energy.EPOCHS]
        assert epochs % REPORT_INTERVAL == 0 and 0 < epochs < killed.params["max_epoch"]
        killed_j = killed.user_attrs[energy.ENERGY_J]
        assert killed_j == pytest.approx(
            _energy_of_first_epochs(benchmark, killed.params, epochs), rel=1e-12
        )
        n_complete_before = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        assert n_complete_before >= KILL_AFTER_COMPLETE
        # The dead trial's energy counts already, before anyone notices the crash.
        assert search_energy(study) == pytest.approx(
            math.fsum(t.user_attrs.get(energy.ENERGY_J, 0.0) for t in study.get_trials()),
            rel=1e-12,
        )

        time.sleep(GRACE_S + HEARTBEAT_S)  # the heartbeat is stale now
        restarted = start_workers([eahas_run(*_options(url, name))], tmp_path)
        wait_all(restarted, tmp_path, timeout=300)

        trials = study.get_trials(deepcopy=False)
        states = [t.state for t in trials]
        assert states.count(TrialState.FAIL) == 1
        assert states.count(TrialState.COMPLETE) == TOTAL_TRIALS
        assert len(trials) == TOTAL_TRIALS + 1
        assert sorted(t.number for t in trials) == list(range(len(trials)))
        failed = study._storage.get_trial(seen._trial_id)
        assert failed.state == TrialState.FAIL
        # The failed trial keeps the energy of its reported epochs, and it is counted.
        assert failed.user_attrs[energy.ENERGY_J] == killed_j
        assert failed.user_attrs[energy.EPOCHS] == epochs
        total_j = math.fsum(t.user_attrs[energy.ENERGY_J] for t in trials)
        assert search_energy(study) == pytest.approx(total_j, rel=1e-12)
        assert killed_j > 0
        # Its configuration ran once more, in full; no other configuration ran twice.
        (retry,) = [
            t
            for t in trials
            if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == failed.number
        ]
        assert retry.state == TrialState.COMPLETE
        assert retry.params == failed.params
        assert retry.user_attrs[energy.EPOCHS] == retry.params["max_epoch"]
        assert retry.user_attrs[energy.ENERGY_J] == pytest.approx(
            _energy_of_first_epochs(benchmark, retry.params, retry.params["max_epoch"]),
            rel=1e-12,
        )
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        assert len({tuple(sorted(t.params.items())) for t in complete}) == TOTAL_TRIALS


APPEND_RECORDS = Path(__file__).parent / "workers" / "append_records.py"
N_WRITERS = 4
RECORDS_PER_WRITER = 150


def _append_command(path: Path, writer: int, count: int) -> list[str]:
    return [sys.executable, str(APPEND_RECORDS), str(path), str(writer), str(count)]


def test_concurrent_record_writers_never_interleave(tmp_path: Path) -> None:
    """Collectors sharing an output file append whole records, one after another."""
    path = tmp_path / "records.jsonl"
    writers = start_workers(
        [_append_command(path, writer, RECORDS_PER_WRITER) for writer in range(N_WRITERS)],
        tmp_path,
    )
    wait_all(writers, tmp_path, timeout=300)
    seeds = [record.seed for record in read_records(path)]  # raises on any broken line
    assert sorted(seeds) == sorted(list(range(N_WRITERS)) * RECORDS_PER_WRITER)


def test_killed_record_writer_leaves_whole_records_or_a_detected_half_line(
    tmp_path: Path,
) -> None:
    """SIGKILL during an append: every line before the last is a whole record; a half last
    line (Linux may end a killed write early) is reported, and appending refuses it."""
    path = tmp_path / "records.jsonl"
    (victim,) = start_workers([_append_command(path, 0, 100_000)], tmp_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (path.exists() and path.stat().st_size > 50_000):
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()

    data = path.read_bytes()
    n_whole = data.count(b"\n")
    assert n_whole > 0
    if data.endswith(b"\n"):
        assert len(read_records(path)) == n_whole
        return
    with pytest.raises(RecordError, match="truncated") as info:
        read_records(path)
    assert info.value.index == n_whole + 1  # the half line, after all the whole ones
    head = tmp_path / "head.jsonl"
    head.write_bytes(data[: data.rindex(b"\n") + 1])
    assert len(read_records(head)) == n_whole
    with pytest.raises(RecordError, match="last line is incomplete"):
        write_records(path, read_records(head)[:1], append=True)
    assert path.read_bytes() == data


COMPARE_BUDGET_KWH = 0.4


@pytest.mark.parametrize("kind", STORAGES)
def test_killed_compare_grid_resumes_with_every_joule_counted_once(
    kind: str, tmp_path: Path
) -> None:
    """``eahas compare`` (2 methods x 3 seeds, 2 processes) killed with SIGKILL, then rerun:
    every study reaches the budget with trial numbers 0..n-1, each trial's energy equals the
    benchmark's over its reported epochs, and studies finished before the kill are untouched.
    """
    benchmark = Benchmark.load("cifar10")
    argv = ["compare", "--methods", "random+none", "tpe+median", "--seeds", "0", "1", "2"]
    argv += ["--budget-kwh", str(COMPARE_BUDGET_KWH), "--n-jobs", "2"]
    argv += ["--optimum", "95.5", "--report-interval", "10"]
    with fresh_database(kind) as url:
        command = [sys.executable, "-m", "optuna_eahas", *argv, "--storage", url]
        with open(tmp_path / "compare.log", "wb") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            finished = _wait_for_a_finished_study(url, process, timeout=300)
        finally:
            os.killpg(process.pid, signal.SIGKILL)  # the command and its worker processes
            process.wait()
        assert len(finished) < 6, "everything finished before the kill: nothing to resume"

        rerun = start_workers([command], tmp_path)
        wait_all(rerun, tmp_path, timeout=600)
        studies = {
            name: optuna.load_study(study_name=name, storage=url)
            for name in optuna.get_all_study_names(url)
        }
        assert len(studies) == 6
        for name, study in studies.items():
            trials = study.get_trials(deepcopy=False)
            assert [t.number for t in trials] == list(range(len(trials)))
            assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
            for trial in trials:
                epochs = trial.user_attrs[energy.EPOCHS]
                assert trial.user_attrs[energy.ENERGY_J] == pytest.approx(
                    _energy_of_first_epochs(benchmark, trial.params, epochs), rel=1e-12
                )
            spent_j = search_energy(study)
            assert spent_j == pytest.approx(
                math.fsum(t.user_attrs[energy.ENERGY_J] for t in trials), rel=1e-12
            )
            budget_j = COMPARE_BUDGET_KWH * 3.6e6
            assert spent_j >= budget_j > spent_j - trials[-1].user_attrs[energy.ENERGY_J]
            if name in finished:
                assert len(trials) == finished[name], f"{name} was run again"


def _wait_for_a_finished_study(
    url: str, process: subprocess.Popen, timeout: float
) -> dict[str, int]:
    """Trial counts of the studies ``eahas compare`` finished, once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.5)
        finished = {}
        for name in optuna.get_all_study_names(url):
            study = optuna.load_study(study_name=name, storage=url)
            if study.user_attrs.get(_study_attrs.FINISHED):
                finished[name] = len(study.get_trials(deepcopy=False))
        if finished:
            return finished
    raise AssertionError("no study finished before the deadline")
