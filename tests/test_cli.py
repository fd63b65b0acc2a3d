from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from conftest import benchmark_dir
import numpy as np
import optuna
import pytest

from optuna_eahas import Benchmark
from optuna_eahas.cli import main
from optuna_eahas.cli._registry import PRUNERS
from optuna_eahas.cli._registry import SAMPLERS
from optuna_eahas.cli._registry import make_pruner
from optuna_eahas.cli._registry import make_sampler


@pytest.fixture(scope="module")
def bench_dir() -> Path:
    return benchmark_dir("cifar10")


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("eahas: error: ") and err.count("\n") == 1, err
    return err


def test_query_prints_the_benchmark_answer_as_json(
    bench_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = Benchmark.load(bench_dir)
    config = bench.sample(1, seed=0)[0]
    assert main(["query", "--benchmark", str(bench_dir), "--json", json.dumps(config)]) == 0
    answer = json.loads(capsys.readouterr().out)
    expected = bench.query(config)
    assert answer["params"] == expected.params
    np.testing.assert_allclose(answer["curve"], expected.test_accuracy)
    np.testing.assert_allclose(answer["energy"]["train_j"], expected.train_energy_j)
    assert answer["energy"]["total_train_kwh"] == pytest.approx(
        expected.total_train_energy_j / 3.6e6
    )
    assert answer["energy"]["inference_j"] == pytest.approx(expected.test_energy_j)
    assert answer["time_s"]["total_train"] == pytest.approx(expected.total_train_time_s)
    assert answer["complexity"]["flops"] == expected.complexity.flops
    assert answer["constraints"] == pytest.approx(expected.constraints)
    assert answer["feasible"] == expected.feasible
    assert answer["benchmark"] == bench.identity


def test_query_params_override_json(bench_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = Benchmark.load(bench_dir).sample(1, seed=1)[0]
    argv = ["query", "--benchmark", str(bench_dir), "--json", json.dumps(config)]
    assert main([*argv, "--param", "lr_policy=lin", "--param", "max_epoch=50"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["params"]["lr_policy"] == "lin"
    assert len(answer["curve"]) == 50


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (["--param", "learning_rate=0.2"], "'learning_rate': expected one of 0.001"),
        (["--param", "lr_policy=step"], "'lr_policy': expected one of 'cos'"),
        (["--param", "widht=3"], "Unknown parameter 'widht'"),
        (["--param", "depth"], "--param expects NAME=VALUE"),
        (["--json", "[1, 2]"], "--json must be a JSON object"),
    ],
)
def test_query_rejects_a_bad_parameter_in_one_line(
    bench_dir: Path, capsys: pytest.CaptureFixture[str], override: list[str], expected: str
) -> None:
    config = Benchmark.load(bench_dir).sample(1, seed=0)[0]
    argv = ["query", "--benchmark", str(bench_dir), "--json", json.dumps(config), *override]
    assert main(argv) == 1
    assert expected in _error(capsys)


def test_missing_benchmark_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--benchmark", str(tmp_path / "nope"), "--storage", "sqlite://"]) == 1
    assert "No benchmark" in _error(capsys)


def test_bad_storage_url(bench_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--benchmark", str(bench_dir), "--storage", "eahas.db"]) == 1
    assert "Cannot open storage 'eahas.db'" in _error(capsys)


def test_dataset_must_match_benchmark(bench_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["query", "--dataset", "tinyimagenet", "--benchmark", str(bench_dir)]
    argv += ["--param", "depth=10"]
    assert main(argv) == 1
    assert "disagrees" in _error(capsys)


def test_run_continues_the_study(
    bench_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    argv = ["run", "--benchmark", str(bench_dir), "--storage", storage, "--seed", "0"]
    argv += ["--report-interval", "10"]
    assert main([*argv, "--n-trials", "15"]) == 0
    first = capsys.readouterr().out
    assert "15 run now, 15 in the study" in first
    assert "search energy:" in first and "kWh" in first
    assert "(simulated benchmark" in first
    assert "best accuracy:" in first or "none feasible" in first

    assert main([*argv, "--n-trials", "5"]) == 0
    assert "5 run now, 20 in the study" in capsys.readouterr().out
    (summary,) = optuna.get_all_study_summaries(storage)
    assert summary.n_trials == 20


def test_run_stops_at_the_energy_budget(
    bench_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = f"sqlite:///{tmp_path / 'budget.db'}"
    argv = ["run", "--benchmark", str(bench_dir), "--storage", storage, "--seed", "0"]
    argv += ["--report-interval", "50", "--pruner", "none", "--budget-kwh", "0.001"]
    assert main([*argv, "--n-trials", "10"]) == 0
    out = capsys.readouterr().out
    assert "1 run now" in out and "budget:" in out


def test_run_reports_when_no_trial_is_feasible(
    bench_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = Benchmark.load(bench_dir)
    infeasible = next(c for c in bench.sample(50, seed=0) if not bench.space.is_feasible(c))
    storage = f"sqlite:///{tmp_path / 'infeasible.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    study.enqueue_trial(infeasible)
    argv = ["run", "--benchmark", str(bench_dir), "--storage", storage, "--study-name", "s"]
    assert main([*argv, "--n-trials", "1", "--pruner", "none", "--report-interval", "50"]) == 0
    assert "none feasible: all 1 complete trials" in capsys.readouterr().out


def test_info_describes_a_simulated_benchmark(
    bench_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["info", str(bench_dir)]) == 0
    out = capsys.readouterr().out
    assert "simulated:    yes" in out
    assert "Data card" in out and "Kendall tau" in out


@pytest.mark.parametrize("command", ["run", "query", "info"])
def test_help_teaches_with_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"eahas {command}" in capsys.readouterr().out.split("example")[1]


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_is_built_or_explains_what_is_missing(name: str) -> None:
    needs = {"gp": "torch", "cmaes": "cmaes"}.get(name)
    if needs is not None and importlib.util.find_spec(needs) is None:
        with pytest.raises(ValueError, match=f"pip install {needs}"):
            make_sampler(name, seed=0)
    else:
        assert isinstance(make_sampler(name, seed=0), optuna.samplers.BaseSampler)


@pytest.mark.parametrize("name", PRUNERS)
def test_every_pruner_is_built(name: str) -> None:
    assert isinstance(make_pruner(name), optuna.pruners.BasePruner)
