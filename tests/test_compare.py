from __future__ import annotations

import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import optuna
from optuna.trial import TrialState
import optuna_dashboard
import pytest

from optuna_eahas import energy
from optuna_eahas import search_energy
from optuna_eahas.cli import main
from optuna_eahas.cli._registry import ENERGY_AWARE_PRUNERS
from optuna_eahas.cli._registry import ENERGY_AWARE_SAMPLERS
from optuna_eahas.cli._registry import make_pruner
from optuna_eahas.cli._registry import make_sampler
from optuna_eahas.cli._registry import open_storage
from optuna_eahas.visualization import _study_attrs

KWH = 3.6e6
# A known optimum spares the ~10 s estimate in every run.
FAST = ["--optimum", "95.5", "--report-interval", "10"]
_RUN_CLI = "import sys; from optuna_eahas.cli import main; sys.exit(main(sys.argv[1:]))"


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("eahas: error: ") and err.count("\n") == 1, err
    return err


def _studies(storage: str) -> dict[str, optuna.Study]:
    opened = open_storage(storage)
    return {
        s.study_name: optuna.load_study(study_name=s.study_name, storage=opened)
        for s in optuna.get_all_study_summaries(opened)
    }


def _assert_finished_without_duplicates(study: optuna.Study, budget_j: float) -> None:
    trials = study.get_trials(deepcopy=False)
    assert [t.number for t in trials] == list(range(len(trials)))
    assert len({t.datetime_start for t in trials}) == len(trials)
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    # It stopped at the trial that reached the budget, not before and not after.
    assert search_energy(study) >= budget_j
    assert search_energy(study) - energy.consumed_energy(trials[-1]) < budget_j
    assert study.user_attrs[_study_attrs.FINISHED] is True


def test_compare_runs_the_grid_into_one_storage_and_a_rerun_redoes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = f"sqlite:///{tmp_path / 'compare.db'}"

    def argv(budget_kwh: float, seeds: list[str]) -> list[str]:
        return [
            *["compare", "--methods", "random+none", "tpe+median", "--seeds", *seeds],
            *["--budget-kwh", str(budget_kwh), "--storage", storage, "--n-jobs", "1", *FAST],
        ]

    assert main(argv(0.2, ["0"])) == 0
    out = capsys.readouterr().out
    assert "0 already finished, 2 to run" in out and "eahas report" in out
    studies = _studies(storage)
    assert sorted(studies) == ["cifar10:random+none:seed0", "cifar10:tpe+median:seed0"]
    for name, study in studies.items():
        _assert_finished_without_duplicates(study, 0.2 * KWH)
        attrs = study.user_attrs
        method, seed = name.split(":")[1:]
        assert attrs[_study_attrs.METHOD] == method and f"seed{attrs[_study_attrs.SEED]}" == seed
        assert attrs[_study_attrs.BUDGET_J] == pytest.approx(0.2 * KWH)
        assert attrs[_study_attrs.OPTIMUM_ACCURACY] == 95.5
        assert attrs[energy.BENCHMARK]["name"] == "cifar10"
        assert "constraints='ignore'" in attrs[_study_attrs.PROTOCOL]
        assert f"`{method}`" in optuna_dashboard.get_note(study)
    pruned = [
        t for t in studies["cifar10:tpe+median:seed0"].trials if t.state == TrialState.PRUNED
    ]
    assert pruned, "the median pruner stopped no trial"
    counts = {name: len(study.trials) for name, study in studies.items()}
    spent = {name: search_energy(study) for name, study in studies.items()}
    assert main(argv(0.2, ["0"])) == 0
    out = capsys.readouterr().out
    assert "2 already finished, 0 to run" in out and "Saving the figures" not in out
    assert {name: len(s.trials) for name, s in _studies(storage).items()} == counts

    # A larger budget continues the same studies; a new seed adds studies.
    assert main(argv(0.25, ["0", "1"])) == 0
    studies = _studies(storage)
    assert len(studies) == 4
    for name, study in studies.items():
        _assert_finished_without_duplicates(study, 0.25 * KWH)
        if name in counts and spent[name] < 0.25 * KWH:
            assert len(study.trials) > counts[name]  # continued
        elif name in counts:
            assert len(study.trials) == counts[name]  # its last trial had reached 0.25 kWh
    # Seeds vary the sampler: the two random seeds drew different configurations.
    first = [studies[f"cifar10:random+none:seed{seed}"].trials[0].params for seed in (0, 1)]
    assert first[0] != first[1]


def test_an_interrupted_compare_resumes_without_duplicating_trials(tmp_path: Path) -> None:
    storage = str(tmp_path / "compare.log")  # a journal file
    # Twelve studies, two at a time: after the first ones finish, others are still to run
    # (with six, an idle machine could finish them all between two polls).
    seeds = [str(seed) for seed in range(6)]
    argv = ["compare", "--methods", "random+none", "tpe+median", "--seeds", *seeds]
    argv += ["--budget-kwh", "0.4", "--storage", storage, "--n-jobs", "2", *FAST]
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN_CLI, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        finished: dict[str, int] = {}
        while not finished and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
            if Path(storage).exists():
                finished = {
                    name: len(study.trials)
                    for name, study in _studies(storage).items()
                    if study.user_attrs.get(_study_attrs.FINISHED)
                }
        assert finished, "no study finished before the deadline"
    finally:
        # Kill the whole run (the command and its worker processes) without warning.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert len(finished) < 12, "everything finished before the kill: nothing to resume"

    assert main(argv) == 0
    studies = _studies(storage)
    assert len(studies) == 12
    for name, study in studies.items():
        _assert_finished_without_duplicates(study, 0.4 * KWH)
        if name in finished:
            assert len(study.trials) == finished[name], f"{name} was run again"
        elif "random+none" in name:
            # A resumed sampler does not draw the configurations of the interrupted run again.
            configurations = [tuple(sorted(t.params.items())) for t in study.trials]
            assert len(set(configurations)) == len(configurations)


def test_a_continued_study_does_not_draw_its_configurations_again(tmp_path: Path) -> None:
    argv = ["compare", "--methods", "random+none", "--seeds", "0", "--n-jobs", "1"]
    argv += ["--storage", str(tmp_path / "compare.log"), *FAST]
    assert main([*argv, "--budget-kwh", "0.1"]) == 0
    assert main([*argv, "--budget-kwh", "0.3"]) == 0
    (study,) = _studies(str(tmp_path / "compare.log")).values()
    _assert_finished_without_duplicates(study, 0.3 * KWH)
    configurations = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(configurations)) == len(configurations)


@pytest.mark.parametrize("method", ["random+hyperband", "random+ea-hyperband"])
def test_a_hyperband_method_is_reproducible_from_its_seed(method: str, tmp_path: Path) -> None:
    # Hyperband pruners hash the study name into each trial's bracket.
    runs = []
    for run in ("first", "second"):
        storage = str(tmp_path / f"{run}.log")
        argv = ["compare", "--methods", method, "--seeds", "0", "--n-jobs", "1", *FAST]
        assert main([*argv, "--storage", storage, "--budget-kwh", "0.3"]) == 0
        (study,) = _studies(storage).values()
        runs.append([(t.state, t.params, t.intermediate_values) for t in study.trials])
    assert any(state == TrialState.PRUNED for state, _, _ in runs[0])
    assert runs[0] == runs[1]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--methods", "tpe"], "Bad method 'tpe': expected SAMPLER+PRUNER"),
        (["--methods", "tpe+nope"], "a pruner among none, median"),
        (["--methods", "grid+none"], "a sampler among random, tpe"),
        (["--budget-kwh", "0"], "--budget-kwh must be positive"),
        (["--n-jobs", "0"], "--n-jobs must be at least 1"),
        (["--report-interval", "0"], "--report-interval must be at least 1"),
        (["--optimum", "120"], "--optimum must be an accuracy"),
        (["--storage", "nosuchdb://x"], "Cannot open storage 'nosuchdb://x'"),
    ],
)
def test_compare_rejects_bad_options_in_one_line(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["compare", "--storage", str(tmp_path / "x.db"), "--optimum", "95", *args]
    assert main(argv) == 1
    assert expected in _error(capsys)


def test_compare_refuses_a_study_run_with_other_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = str(tmp_path / "compare.log")
    argv = ["compare", "--methods", "random+none", "--seeds", "0", "--budget-kwh", "0.05"]
    argv += ["--storage", storage, "--n-jobs", "1", "--optimum", "95.5"]
    assert main([*argv, "--report-interval", "10"]) == 0
    capsys.readouterr()
    assert main([*argv, "--report-interval", "5"]) == 1
    assert "ran with other settings" in _error(capsys)


def test_compare_help_teaches_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--help"])
    assert exit_info.value.code == 0
    assert "eahas compare --budget-kwh" in capsys.readouterr().out.split("examples")[1]


@pytest.mark.parametrize("name", ENERGY_AWARE_SAMPLERS)
def test_energy_aware_samplers_are_in_the_registry(name: str) -> None:
    assert isinstance(make_sampler(name, seed=0), optuna.samplers.BaseSampler)


@pytest.mark.parametrize("name", ENERGY_AWARE_PRUNERS)
def test_energy_aware_pruners_are_in_the_registry(name: str) -> None:
    assert isinstance(make_pruner(name), optuna.pruners.BasePruner)
