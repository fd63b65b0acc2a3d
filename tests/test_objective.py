from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal import JournalStorage
from optuna.trial import TrialState
import pytest

from optuna_eahas import Benchmark
from optuna_eahas import SearchEnergyLedger
from optuna_eahas import eahas_objective
from optuna_eahas import energy
from optuna_eahas import search_energy
from optuna_eahas.space import ARCHITECTURE_PARAMS
from optuna_eahas.space import HYPERPARAMETER_PARAMS
from optuna_eahas.space import InvalidParameterError

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def bench() -> Benchmark:
    return Benchmark.load("cifar10")


@pytest.fixture(scope="module")
def architecture(bench: Benchmark) -> dict:
    config = bench.sample(1, seed=3, constrained=True)[0]
    return {name: config[name] for name in ARCHITECTURE_PARAMS}


def _study(sampler: optuna.samplers.BaseSampler, **kwargs: object) -> optuna.Study:
    """A maximising study; without a pruner argument nothing is pruned (Optuna's default
    would be the median pruner)."""
    kwargs.setdefault("pruner", optuna.pruners.NopPruner())
    return optuna.create_study(direction="maximize", sampler=sampler, **kwargs)  # type: ignore[arg-type]


def _config(trial: optuna.trial.FrozenTrial) -> dict:
    return {**trial.user_attrs.get("eahas:fixed_params", {}), **trial.params}


@pytest.mark.parametrize(
    "sampler",
    [
        optuna.samplers.RandomSampler(seed=0),
        optuna.samplers.TPESampler(seed=0),
        optuna.samplers.QMCSampler(seed=0),
    ],
    ids=["random", "tpe", "qmc"],
)
def test_samplers_drive_the_objective(
    bench: Benchmark, sampler: optuna.samplers.BaseSampler
) -> None:
    study = _study(sampler)
    study.optimize(eahas_objective(benchmark=bench, report_interval=20), n_trials=8)
    assert len(study.trials) == 8
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert all(t.user_attrs[energy.ENERGY_J] > 0 for t in study.trials)


def test_gp_and_cmaes_on_a_numeric_partial_space(bench: Benchmark, architecture: dict) -> None:
    fixed = {
        "depth": architecture["depth"],
        "group_width": architecture["group_width"],
        "learning_rate": 0.1,
        "max_epoch": 50,
        "lr_policy": "cos",
        "optimizer": "sgd",
        "cutout": 0,
    }
    pytest.importorskip("cmaes")
    samplers = [optuna.samplers.GPSampler(seed=0), optuna.samplers.CmaEsSampler(seed=0)]
    for sampler in samplers:
        study = _study(sampler)
        objective = eahas_objective(benchmark=bench, search_space=fixed, constraints="ignore")
        study.optimize(objective, n_trials=6)
        assert all(set(t.params) == {"w0", "wa", "wm"} for t in study.trials)
        assert all(t.state == TrialState.COMPLETE for t in study.trials)


def test_nsgaii_multi_objective_returns_accuracy_and_kwh(bench: Benchmark) -> None:
    objective = eahas_objective(benchmark=bench, multi_objective=True, constraints="ignore")
    study = optuna.create_study(
        directions=objective.directions, sampler=optuna.samplers.NSGAIISampler(seed=0)
    )
    study.optimize(objective, n_trials=6)
    for trial in study.trials:
        accuracy, kwh = trial.values
        result = bench.query(_config(trial))
        assert accuracy == pytest.approx(result.final_accuracy)
        assert kwh == pytest.approx(result.total_train_energy_j / 3.6e6)
        assert trial.intermediate_values == {}
        assert trial.user_attrs[energy.ENERGY_J] == pytest.approx(result.total_train_energy_j)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]


@pytest.mark.parametrize(
    "pruner",
    [optuna.pruners.MedianPruner(n_startup_trials=3), optuna.pruners.HyperbandPruner()],
    ids=["median", "hyperband"],
)
def test_pruning_saves_energy_and_ledger_counts_reported_epochs(
    bench: Benchmark, pruner: optuna.pruners.BasePruner
) -> None:
    objective = eahas_objective(benchmark=bench, constraints="ignore")
    plain = _study(optuna.samplers.RandomSampler(seed=1))
    plain.optimize(objective, n_trials=25)
    pruned = _study(optuna.samplers.RandomSampler(seed=1), pruner=pruner)
    pruned.optimize(objective, n_trials=25)
    assert any(t.state == TrialState.PRUNED for t in pruned.trials)
    assert search_energy(pruned) < search_energy(plain)

    expected = 0.0
    for trial in pruned.trials:
        epochs = trial.user_attrs[energy.EPOCHS]
        full = bench.query(_config(trial)).train_energy_j
        paid = float(full[:epochs].sum())
        assert trial.user_attrs[energy.ENERGY_J] == pytest.approx(paid)
        if trial.state == TrialState.PRUNED:
            assert epochs == max(trial.intermediate_values)
            assert paid < full.sum()
        expected += paid
    ledger = SearchEnergyLedger(pruned)
    assert search_energy(pruned) == pytest.approx(expected)
    assert ledger.total_energy_j == pytest.approx(expected)
    assert [e.cumulative_energy_j for e in ledger.entries] == sorted(
        e.cumulative_energy_j for e in ledger.entries
    )


def test_constraints_are_recorded_mirrored_and_honoured(bench: Benchmark) -> None:
    study = _study(optuna.samplers.TPESampler(seed=0, n_startup_trials=10))
    study.optimize(eahas_objective(benchmark=bench, report_interval=50), n_trials=40)
    for trial in study.trials:
        values = bench.space.constraint_values(_config(trial))
        assert trial.constraints == pytest.approx(values)
        for name, value in values.items():
            assert trial.user_attrs[energy.CONSTRAINT_PREFIX + name] == pytest.approx(value)
        assert trial.user_attrs[energy.FEASIBLE] == all(v <= 0 for v in values.values())
    feasible = [t for t in study.trials if t.user_attrs[energy.FEASIBLE]]
    if feasible:
        assert study.best_trial.user_attrs[energy.FEASIBLE]
    else:
        with pytest.raises(ValueError, match="feasible"):
            study.best_trial  # noqa: B018


def test_skip_prunes_infeasible_at_zero_energy_and_ignore_sets_nothing(bench: Benchmark) -> None:
    skip = _study(optuna.samplers.RandomSampler(seed=2))
    skip.optimize(eahas_objective(benchmark=bench, constraints="skip"), n_trials=10)
    skipped = [t for t in skip.trials if t.user_attrs.get(energy.SKIPPED_INFEASIBLE)]
    assert skipped, "a uniform sample of 10 is almost surely mostly infeasible"
    for trial in skipped:
        assert trial.state == TrialState.PRUNED
        assert trial.user_attrs[energy.ENERGY_J] == 0.0
        assert not trial.user_attrs[energy.FEASIBLE]

    ignore = _study(optuna.samplers.RandomSampler(seed=2))
    ignore.optimize(
        eahas_objective(benchmark=bench, constraints="ignore", report_interval=50), n_trials=3
    )
    for trial in ignore.trials:
        assert trial.constraints == {}
        assert energy.FEASIBLE not in trial.user_attrs

    tiny = _study(optuna.samplers.RandomSampler(seed=2))
    tiny.optimize(eahas_objective("tinyimagenet", report_interval=50), n_trials=2)
    assert all(t.constraints == {} for t in tiny.trials)


def test_seeds_reproduce_trials_exactly(bench: Benchmark) -> None:
    def run(objective_seed: int | None, noise: bool) -> list[tuple]:
        study = _study(optuna.samplers.TPESampler(seed=4))
        objective = eahas_objective(
            benchmark=bench, seed=objective_seed, noise=noise, constraints="ignore"
        )
        study.optimize(objective, n_trials=5)
        return [(t.value, t.user_attrs[energy.ENERGY_J]) for t in study.trials]

    assert run(7, True) == run(7, True)
    assert run(7, True) != run(8, True)
    assert run(None, False) == run(None, False)


def test_partial_spaces(bench: Benchmark, architecture: dict) -> None:
    study = _study(optuna.samplers.RandomSampler(seed=5))
    objective = eahas_objective(
        benchmark=bench,
        search_space={**architecture, "learning_rate": CategoricalDistribution([0.1, 0.3])},
        report_interval=50,
    )
    study.optimize(objective, n_trials=6)
    for trial in study.trials:
        assert set(trial.params) == set(HYPERPARAMETER_PARAMS)
        assert trial.params["learning_rate"] in (0.1, 0.3)
        assert trial.user_attrs["eahas:fixed_params"] == architecture

    with pytest.raises(InvalidParameterError, match="'learning_rate'.*0.001"):
        eahas_objective(
            benchmark=bench, search_space={"learning_rate": CategoricalDistribution([0.2])}
        )
    with pytest.raises(InvalidParameterError, match="'wa'"):
        eahas_objective(benchmark=bench, search_space={"wa": FloatDistribution(4.0, 8.0)})
    with pytest.raises(InvalidParameterError, match="'depth'"):
        eahas_objective(benchmark=bench, search_space={"depth": 40})
    with pytest.raises(InvalidParameterError, match="'width'"):
        eahas_objective(benchmark=bench, search_space={"width": 3})


def test_storages_give_the_same_results_and_threads_record_energy(
    bench: Benchmark, tmp_path: Path
) -> None:
    objective = eahas_objective(benchmark=bench, report_interval=10, constraints="ignore")
    storages: list[optuna.storages.BaseStorage | str | None] = [
        None,
        f"sqlite:///{tmp_path / 'study.db'}",
        JournalStorage(JournalFileBackend(str(tmp_path / "journal.log"))),
    ]
    outcomes = []
    for storage in storages:
        study = _study(
            optuna.samplers.RandomSampler(seed=6),
            storage=storage,
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
        )
        study.optimize(objective, n_trials=6)
        outcomes.append([(t.state, t.value, t.user_attrs[energy.ENERGY_J]) for t in study.trials])
    assert outcomes[0] == outcomes[1] == outcomes[2]

    parallel = _study(optuna.samplers.RandomSampler(seed=7))
    parallel.optimize(objective, n_trials=8, n_jobs=2)
    assert len(parallel.trials) == 8
    assert all(t.user_attrs[energy.ENERGY_J] > 0 for t in parallel.trials)


def test_user_attribute_schema(bench: Benchmark) -> None:
    study = _study(optuna.samplers.RandomSampler(seed=8))
    study.optimize(eahas_objective(benchmark=bench, report_interval=25), n_trials=1)
    (trial,) = study.trials
    config = _config(trial)
    result = bench.query(config)
    complexity = bench.space.complexity(config)
    attrs = trial.user_attrs
    assert attrs[energy.ENERGY_J] == pytest.approx(result.total_train_energy_j)
    assert attrs[energy.TIME_S] == pytest.approx(result.total_train_time_s)
    assert attrs[energy.EPOCHS] == config["max_epoch"]
    assert attrs[energy.ENERGY_ESTIMATED] is True
    assert attrs[energy.ENERGY_SOURCE] == "surrogate"
    assert attrs[energy.INFERENCE_ENERGY_J] == pytest.approx(result.test_energy_j)
    assert attrs[energy.INFERENCE_TIME_S] == pytest.approx(result.test_time_s)
    assert (attrs[energy.FLOPS], attrs[energy.PARAMS], attrs[energy.ACTS]) == (
        complexity.flops,
        complexity.params,
        complexity.acts,
    )
    assert attrs[energy.BENCHMARK]["simulated"] is True
    assert attrs[energy.BENCHMARK]["dataset"] == "cifar10"
    steps = sorted(trial.intermediate_values)
    assert steps[-1] == config["max_epoch"] and steps[0] == 25
    assert trial.intermediate_values[steps[-1]] == pytest.approx(trial.value)
    assert np.isclose(trial.value, result.final_accuracy)


def test_record_helper_validates_and_writes_contract(bench: Benchmark) -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        energy.record(trial, 10.0 * (1 + x), seconds=2.0, epochs=1)
        with pytest.raises(ValueError, match="non-negative"):
            energy.record(trial, float("nan"))
        return x

    study = _study(optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=3)
    assert search_energy(study) == pytest.approx(
        sum(10 * (1 + t.params["x"]) for t in study.trials)
    )
    assert all(t.user_attrs[energy.ENERGY_SOURCE] == "user" for t in study.trials)
