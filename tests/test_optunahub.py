from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import benchmark_dir
import optuna
import pytest

from optuna_eahas import Benchmark
from optuna_eahas import EAHASProblem
from optuna_eahas import energy
from optuna_eahas import search_energy
from optuna_eahas.space import InvalidParameterError


@pytest.fixture(scope="module")
def cifar10() -> Benchmark:
    return Benchmark.load(benchmark_dir("cifar10"))


def test_is_an_optunahub_problem(cifar10: Benchmark) -> None:
    optunahub = pytest.importorskip("optunahub")
    problem = EAHASProblem(benchmark=cifar10)
    assert isinstance(problem, optunahub.benchmarks.BaseProblem)
    assert list(problem.search_space) == list(cifar10.search_space)
    assert problem.directions == [optuna.study.StudyDirection.MAXIMIZE]


def test_works_without_optunahub() -> None:
    path = benchmark_dir("cifar10")
    script = textwrap.dedent(
        f"""
        import sys

        sys.modules["optunahub"] = None  # makes "import optunahub" raise ImportError
        import optuna
        from optuna_eahas import EAHASProblem

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        problem = EAHASProblem(benchmark={str(path)!r})
        assert EAHASProblem.__mro__[1:] == (object,), EAHASProblem.__mro__
        study = optuna.create_study(directions=problem.directions)
        study.optimize(problem, n_trials=3)
        print("complete", len(study.trials))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "complete 3" in result.stdout


def test_optunahub_is_imported_on_first_use() -> None:
    pytest.importorskip("optunahub")
    script = textwrap.dedent(
        """
        import sys

        import optuna_eahas

        assert "optunahub" not in sys.modules
        problem_class = optuna_eahas.EAHASProblem
        assert "optunahub" in sys.modules
        print(problem_class.__mro__[1].__name__)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "BaseProblem"


def test_evaluate_answers_the_benchmark(cifar10: Benchmark) -> None:
    problem = EAHASProblem(benchmark=cifar10)
    config = cifar10.sample(1, seed=3)[0]
    result = cifar10.query(config)
    assert problem.evaluate(config) == result.final_accuracy
    assert problem.evaluate_constraints(config) == result.constraints
    assert set(result.constraints) == {
        "flops_min",
        "flops_max",
        "params_max",
        "acts_max",
        "num_stages",
    }
    with pytest.raises(InvalidParameterError, match="learning_rate"):
        problem.evaluate({**config, "learning_rate": 0.2})


def test_multi_objective_evaluates_accuracy_and_kwh(cifar10: Benchmark) -> None:
    problem = EAHASProblem(benchmark=cifar10, multi_objective=True)
    assert problem.directions == [
        optuna.study.StudyDirection.MAXIMIZE,
        optuna.study.StudyDirection.MINIMIZE,
    ]
    config = cifar10.sample(1, seed=4)[0]
    result = cifar10.query(config)
    accuracy, kwh = problem.evaluate(config)
    assert accuracy == result.final_accuracy
    assert kwh == pytest.approx(result.total_train_energy_j / 3.6e6)


def test_tinyimagenet_has_no_constraints() -> None:
    problem = EAHASProblem(benchmark=benchmark_dir("tinyimagenet"))
    config = problem.benchmark.sample(1, seed=0)[0]
    assert problem.evaluate_constraints(config) == {}


def test_study_with_problem_as_objective(cifar10: Benchmark) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problem = EAHASProblem(benchmark=cifar10)
    study = optuna.create_study(
        directions=problem.directions, sampler=optuna.samplers.TPESampler(seed=0)
    )
    study.optimize(problem, n_trials=8)
    assert len(study.trials) == 8
    trial = study.trials[0]
    assert trial.value == problem.evaluate(trial.params)
    assert trial.constraints == problem.evaluate_constraints(trial.params)
    assert trial.user_attrs[energy.BENCHMARK] == cifar10.identity
    assert search_energy(study) == pytest.approx(
        sum(cifar10.query(t.params).total_train_energy_j for t in study.trials)
    )
