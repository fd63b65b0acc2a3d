from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal import JournalStorage
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_eahas import Benchmark
from optuna_eahas import SearchEnergyLedger
from optuna_eahas import eahas_objective
from optuna_eahas import energy
from optuna_eahas import search_energy
from optuna_eahas.objective import EahasObjective
from optuna_eahas.space import ARCHITECTURE_PARAMS
from optuna_eahas.space import CONSTRAINT_NAMES
from optuna_eahas.space import HYPERPARAMETER_PARAMS
from optuna_eahas.space import InvalidParameterError

optuna.logging.set_verbosity(optuna.logging.WARNING)

_J_PER_KWH = 3.6e6
# The categorical dimensions fixed, so that CMA-ES and the GP search numbers only.
_NUMERIC_ONLY = {
    "depth": 10,
    "group_width": 8,
    "learning_rate": 0.1,
    "max_epoch": 50,
    "lr_policy": "cos",
    "optimizer": "sgd",
    "cutout": 0,
}


@pytest.fixture(scope="module")
def bench() -> Benchmark:
    return Benchmark.load("cifar10")


@pytest.fixture(scope="module")
def tiny() -> Benchmark:
    return Benchmark.load("tinyimagenet")


@pytest.fixture(scope="module")
def architecture(bench: Benchmark) -> dict[str, Any]:
    config = bench.sample(1, seed=3, constrained=True)[0]
    return {name: config[name] for name in ARCHITECTURE_PARAMS}


def _study(sampler: optuna.samplers.BaseSampler, **kwargs: Any) -> optuna.Study:
    """A maximising study that prunes nothing unless given a pruner (Optuna's default would be
    the median pruner)."""
    kwargs.setdefault("pruner", optuna.pruners.NopPruner())
    return optuna.create_study(direction="maximize", sampler=sampler, **kwargs)


def _config(trial: FrozenTrial) -> dict[str, Any]:
    return {**trial.user_attrs.get("eahas:fixed_params", {}), **trial.params}


def _violation(trial: FrozenTrial) -> float:
    return sum(max(value, 0.0) for value in trial.constraints.values())


def _spy_relative(sampler: optuna.samplers.BaseSampler) -> list[bool]:
    """Record, trial by trial, whether the sampler's own algorithm (``sample_relative``)
    suggested parameters, rather than its fallback independent sampler."""
    calls: list[bool] = []
    sample_relative = sampler.sample_relative

    def spy(study: optuna.Study, trial: FrozenTrial, search_space: dict) -> dict[str, Any]:
        params = sample_relative(study, trial, search_space)
        calls.append(bool(params))
        return params

    sampler.sample_relative = spy  # type: ignore[method-assign]
    return calls


def _assert_answers(bench: Benchmark, trial: FrozenTrial) -> None:
    """A complete trial's value and energy are the benchmark's answer for its configuration."""
    result = bench.query(_config(trial))
    assert trial.state == TrialState.COMPLETE
    assert trial.values[0] == pytest.approx(result.final_accuracy)
    assert trial.user_attrs[energy.ENERGY_J] == pytest.approx(result.total_train_energy_j)
    assert trial.user_attrs[energy.EPOCHS] == _config(trial)["max_epoch"]


@pytest.mark.parametrize(
    ("make_sampler", "n_trials", "n_relative"),
    [
        (lambda: optuna.samplers.RandomSampler(seed=0), 6, 0),
        (lambda: optuna.samplers.TPESampler(seed=0, n_startup_trials=3), 8, 5),
        (lambda: optuna.samplers.QMCSampler(seed=0), 6, 5),
    ],
    ids=["random", "tpe", "qmc"],
)
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_samplers_drive_the_objective(
    bench: Benchmark,
    make_sampler: Callable[[], optuna.samplers.BaseSampler],
    n_trials: int,
    n_relative: int,
) -> None:
    sampler = make_sampler()
    relative = _spy_relative(sampler)
    study = _study(sampler)
    study.optimize(eahas_objective(benchmark=bench, report_interval=50), n_trials=n_trials)
    assert len(study.trials) == n_trials
    assert sum(relative) == n_relative
    for trial in study.trials:
        assert set(trial.params) == set(bench.search_space)
        _assert_answers(bench, trial)


@pytest.mark.parametrize(
    ("requires", "make_sampler", "n_trials", "n_relative"),
    [
        (("cmaes",), lambda: optuna.samplers.CmaEsSampler(seed=0), 8, 7),
        (("torch", "scipy"), lambda: optuna.samplers.GPSampler(seed=0, n_startup_trials=4), 8, 4),
    ],
    ids=["cmaes", "gp"],
)
def test_numeric_samplers_drive_a_partial_space(
    bench: Benchmark,
    requires: tuple[str, ...],
    make_sampler: Callable[[], optuna.samplers.BaseSampler],
    n_trials: int,
    n_relative: int,
) -> None:
    for module in requires:
        pytest.importorskip(module)
    sampler = make_sampler()
    relative = _spy_relative(sampler)
    study = _study(sampler)
    objective = eahas_objective(
        benchmark=bench, search_space=_NUMERIC_ONLY, constraints="ignore", report_interval=50
    )
    study.optimize(objective, n_trials=n_trials)
    assert sum(relative) == n_relative
    for trial in study.trials:
        assert set(trial.params) == {"w0", "wa", "wm"}
        assert trial.user_attrs["eahas:fixed_params"] == _NUMERIC_ONLY
        _assert_answers(bench, trial)


def test_nsgaii_multi_objective_returns_accuracy_and_kwh(bench: Benchmark) -> None:
    sampler = optuna.samplers.NSGAIISampler(seed=0, population_size=4)
    relative = _spy_relative(sampler)
    objective = eahas_objective(benchmark=bench, multi_objective=True)
    assert objective.directions == ["maximize", "minimize"]
    study = optuna.create_study(
        directions=objective.directions,
        sampler=sampler,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0),
    )
    study.optimize(objective, n_trials=10)
    # The first generation is random; the later ones are NSGA-II's offspring.
    assert sum(relative) == 6
    for trial in study.trials:
        result = bench.query(_config(trial))
        assert trial.state == TrialState.COMPLETE
        accuracy, kwh = trial.values
        assert accuracy == pytest.approx(result.final_accuracy)
        assert kwh == pytest.approx(result.total_train_energy_j / _J_PER_KWH)
        assert trial.user_attrs[energy.ENERGY_J] == pytest.approx(result.total_train_energy_j)
        assert trial.intermediate_values == {}
        assert trial.constraints == pytest.approx(result.constraints)
    assert study.directions == [
        optuna.study.StudyDirection.MAXIMIZE,
        optuna.study.StudyDirection.MINIMIZE,
    ]
    assert SearchEnergyLedger(study).total_energy_kwh == pytest.approx(
        sum(t.values[1] for t in study.trials)
    )


@pytest.mark.parametrize(
    "make_pruner",
    [
        lambda: optuna.pruners.MedianPruner(n_startup_trials=3),
        lambda: optuna.pruners.HyperbandPruner(),
    ],
    ids=["median", "hyperband"],
)
def test_pruning_saves_energy_and_the_ledger_counts_reported_epochs(
    bench: Benchmark, make_pruner: Callable[[], optuna.pruners.BasePruner]
) -> None:
    objective = eahas_objective(benchmark=bench, constraints="ignore", report_interval=5)
    plain = _study(optuna.samplers.RandomSampler(seed=1))
    plain.optimize(objective, n_trials=25)
    # Hyperband assigns brackets by a hash of study name and trial number: a fixed name keeps
    # the brackets (and this test) deterministic.
    pruned = _study(
        optuna.samplers.RandomSampler(seed=1), pruner=make_pruner(), study_name="pruned"
    )
    pruned.optimize(objective, n_trials=25)

    assert sum(t.state == TrialState.PRUNED for t in pruned.trials) >= 10
    # Pruning stops most runs early: a quarter (median) to a third (Hyperband) of the energy
    # is spent here; over other study names Hyperband spends 0.23-0.55.
    assert search_energy(pruned) < 0.5 * search_energy(plain)

    expected = 0.0
    for full_trial, trial in zip(plain.trials, pruned.trials, strict=True):
        # The same sampler and seed draw the same configurations with or without a pruner.
        assert trial.params == full_trial.params
        epochs = trial.user_attrs[energy.EPOCHS]
        per_epoch = bench.query(_config(trial)).train_energy_j
        paid = float(per_epoch[:epochs].sum())
        assert trial.user_attrs[energy.ENERGY_J] == pytest.approx(paid)
        assert epochs == max(trial.intermediate_values)
        if trial.state == TrialState.PRUNED:
            assert epochs < len(per_epoch)
            assert paid < full_trial.user_attrs[energy.ENERGY_J]
        else:
            assert paid == pytest.approx(full_trial.user_attrs[energy.ENERGY_J])
        expected += paid

    ledger = SearchEnergyLedger(pruned)
    assert search_energy(pruned) == pytest.approx(expected)
    assert ledger.total_energy_j == pytest.approx(expected)
    assert ledger.total_energy_kwh == pytest.approx(expected / _J_PER_KWH)
    assert [e.number for e in ledger.entries] == list(range(25))
    assert np.cumsum([e.energy_j for e in ledger.entries]) == pytest.approx(
        [e.cumulative_energy_j for e in ledger.entries]
    )
    complete = [t.value for t in pruned.trials if t.state == TrialState.COMPLETE]
    assert [e.value for e in ledger.entries if e.value is not None] == complete
    assert [e.state for e in ledger.entries] == [t.state for t in pruned.trials]
    assert ledger.entries[-1].best_value == pruned.best_value


def test_constraints_are_recorded_mirrored_and_honoured_by_tpe(bench: Benchmark) -> None:
    def run(sampler: optuna.samplers.BaseSampler) -> optuna.Study:
        study = _study(sampler)
        study.optimize(eahas_objective(benchmark=bench, report_interval=200), n_trials=60)
        return study

    tpe = run(optuna.samplers.TPESampler(seed=0))
    random = run(optuna.samplers.RandomSampler(seed=0))
    for trial in tpe.trials + random.trials:
        values = bench.space.constraint_values(_config(trial))
        assert set(trial.constraints) == set(CONSTRAINT_NAMES)
        assert trial.constraints == pytest.approx(values)
        for name, value in values.items():
            assert trial.user_attrs[energy.CONSTRAINT_PREFIX + name] == pytest.approx(value)
        assert trial.user_attrs[energy.FEASIBLE] == all(v <= 0 for v in values.values())

    # TPE ranks infeasible trials by their violation: once past its startup trials it samples
    # far closer to the feasible region than random search (median 0.09 against 0.43 here).
    tpe_violation = np.median([_violation(t) for t in tpe.trials[30:]])
    random_violation = np.median([_violation(t) for t in random.trials[30:]])
    assert tpe_violation < 0.5 * random_violation

    # The best trial is feasible, and the ledger agrees with Optuna on it although a better
    # infeasible one exists.
    assert tpe.best_trial.user_attrs[energy.FEASIBLE]
    assert max(t.value for t in tpe.trials) > tpe.best_value
    assert SearchEnergyLedger(tpe).entries[-1].best_value == tpe.best_value


def test_skip_prunes_infeasible_at_zero_energy(bench: Benchmark) -> None:
    study = _study(optuna.samplers.RandomSampler(seed=2))
    study.optimize(eahas_objective(benchmark=bench, constraints="skip"), n_trials=10)
    for trial in study.trials:
        feasible = trial.user_attrs[energy.FEASIBLE]
        assert trial.constraints == pytest.approx(bench.space.constraint_values(_config(trial)))
        if feasible:
            assert energy.SKIPPED_INFEASIBLE not in trial.user_attrs
            _assert_answers(bench, trial)
            continue
        assert trial.state == TrialState.PRUNED
        assert trial.user_attrs[energy.SKIPPED_INFEASIBLE] is True
        assert trial.user_attrs[energy.ENERGY_J] == 0.0
        assert trial.user_attrs[energy.EPOCHS] == 0
        assert trial.intermediate_values == {}
    assert sum(t.user_attrs[energy.FEASIBLE] for t in study.trials) < 10
    assert search_energy(study) == pytest.approx(
        sum(t.user_attrs[energy.ENERGY_J] for t in study.trials if t.user_attrs[energy.FEASIBLE])
    )


def test_ignore_and_tinyimagenet_set_no_constraints(bench: Benchmark, tiny: Benchmark) -> None:
    for benchmark, constraints in [(bench, "ignore"), (tiny, "record"), (tiny, "skip")]:
        study = _study(optuna.samplers.RandomSampler(seed=2))
        objective = eahas_objective(
            benchmark=benchmark, constraints=constraints, report_interval=200
        )
        study.optimize(objective, n_trials=3)
        for trial in study.trials:
            assert trial.constraints == {}
            assert not any(k.startswith(energy.CONSTRAINT_PREFIX) for k in trial.user_attrs)
            assert energy.FEASIBLE not in trial.user_attrs
            _assert_answers(benchmark, trial)
        assert study.best_trial.value == max(t.value for t in study.trials)


def test_seeds_reproduce_trials_exactly(bench: Benchmark) -> None:
    def run(objective_seed: int | None, noise: bool) -> list[tuple]:
        study = _study(optuna.samplers.TPESampler(seed=4, n_startup_trials=2))
        objective = eahas_objective(
            benchmark=bench, seed=objective_seed, noise=noise, constraints="ignore"
        )
        study.optimize(objective, n_trials=5)
        return [
            (t.params, t.value, t.intermediate_values, t.user_attrs[energy.ENERGY_J])
            for t in study.trials
        ]

    noisy = run(7, noise=True)
    assert noisy == run(7, noise=True)
    # The first trials are the sampler's (the same configurations); the run's noise differs.
    other = run(8, noise=True)
    assert noisy[0][0] == other[0][0]
    assert noisy[0][1] != other[0][1] and noisy[0][3] != other[0][3]
    # Without a seed every noisy run is a fresh one.
    unseeded = run(None, noise=True)
    assert unseeded[0][0] == noisy[0][0]
    assert unseeded[0][1] != run(None, noise=True)[0][1]

    mean = run(None, noise=False)
    assert mean == run(3, noise=False)
    assert mean[0][1] == pytest.approx(bench.query(mean[0][0]).final_accuracy)
    assert noisy[0][1] != pytest.approx(mean[0][1], abs=1e-9)


@pytest.mark.parametrize("noise", [True, False])
def test_each_trial_is_its_own_run(bench: Benchmark, noise: bool) -> None:
    # The same configuration twice: two independent noisy runs, or the mean curve twice.
    config = bench.sample(1, seed=0)[0]
    study = _study(optuna.samplers.RandomSampler(seed=0))
    study.enqueue_trial(config)
    study.enqueue_trial(config)
    objective = eahas_objective(benchmark=bench, seed=1, noise=noise, constraints="ignore")
    study.optimize(objective, n_trials=2)
    first, second = study.trials
    assert first.params == second.params == config
    energies = first.user_attrs[energy.ENERGY_J], second.user_attrs[energy.ENERGY_J]
    if noise:
        assert first.value != second.value and energies[0] != energies[1]
    else:
        assert first.value == second.value and energies[0] == energies[1]
        assert first.value == pytest.approx(bench.query(config).final_accuracy)


def test_a_fixed_architecture_searches_the_hyperparameters(
    bench: Benchmark, architecture: dict[str, Any]
) -> None:
    study = _study(optuna.samplers.RandomSampler(seed=5))
    objective = eahas_objective(
        benchmark=bench,
        search_space={**architecture, "learning_rate": CategoricalDistribution([0.1, 0.3])},
        report_interval=50,
    )
    study.optimize(objective, n_trials=8)
    assert {t.params["learning_rate"] for t in study.trials} == {0.1, 0.3}
    for trial in study.trials:
        assert set(trial.params) == set(HYPERPARAMETER_PARAMS)
        assert trial.user_attrs["eahas:fixed_params"] == architecture
        assert trial.user_attrs[energy.FEASIBLE]
        _assert_answers(bench, trial)


def test_a_narrowed_numeric_distribution_is_respected(bench: Benchmark) -> None:
    study = _study(optuna.samplers.RandomSampler(seed=5))
    search_space = {
        "wa": FloatDistribution(8.0, 12.0, step=0.1),
        "w0": IntDistribution(64, 96, step=16),
        "cutout": IntDistribution(0, 16, step=16),
    }
    objective = eahas_objective(benchmark=bench, search_space=search_space, report_interval=200)
    study.optimize(objective, n_trials=8)
    for trial in study.trials:
        assert 8.0 <= trial.params["wa"] <= 12.0
        assert trial.params["w0"] in (64, 80, 96)
        assert trial.params["cutout"] in (0, 16)
        _assert_answers(bench, trial)


@pytest.mark.parametrize(
    ("search_space", "match"),
    [
        ({"learning_rate": CategoricalDistribution([0.1, 0.2])}, "'learning_rate'.*0.001, 0.003"),
        ({"learning_rate": FloatDistribution(0.001, 1.0)}, "'learning_rate'.*off the space"),
        ({"wa": FloatDistribution(4.0, 8.0, step=0.1)}, "'wa'.*8.0, 32.0"),
        ({"wm": FloatDistribution(2.5, 3.0)}, "'wm'.*off the space"),
        ({"w0": IntDistribution(48, 128)}, "'w0'.*step 8"),
        ({"group_width": IntDistribution(1, 32)}, "'group_width'.*1, 2, 4, 8"),
        ({"depth": 40}, "'depth'.*6 to 15"),
        ({"optimizer": "rmsprop"}, "'optimizer'.*'sgd'"),
        ({"width": 3}, "Unknown parameter 'width'"),
    ],
)
def test_values_and_distributions_outside_the_space_are_rejected(
    bench: Benchmark, search_space: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidParameterError, match=match) as info:
        eahas_objective(benchmark=bench, search_space=search_space)
    assert info.value.parameter == next(iter(search_space))


def test_storages_give_the_same_results(bench: Benchmark, tmp_path: Path) -> None:
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
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
        )
        study.optimize(objective, n_trials=6)
        outcomes.append(
            [
                (t.state, t.params, t.value, t.intermediate_values, t.user_attrs)
                for t in study.trials
            ]
        )
    assert any(state == TrialState.PRUNED for state, *_ in outcomes[0])
    assert outcomes[0] == outcomes[1] == outcomes[2]


def test_skip_prunes_infeasible_at_zero_energy_in_multi_objective_studies(
    bench: Benchmark,
) -> None:
    objective = eahas_objective(benchmark=bench, constraints="skip", multi_objective=True)
    study = optuna.create_study(
        directions=objective.directions, sampler=optuna.samplers.RandomSampler(seed=2)
    )
    # Random configurations are rarely feasible (about 2 %): start from a feasible one.
    study.enqueue_trial(bench.sample(1, seed=0, constrained=True)[0])
    study.optimize(objective, n_trials=6)
    states = {t.state for t in study.trials}
    assert states == {TrialState.COMPLETE, TrialState.PRUNED}
    for trial in study.trials:
        feasible = trial.user_attrs[energy.FEASIBLE]
        assert (trial.state == TrialState.COMPLETE) == feasible
        if not feasible:
            assert trial.values is None
            assert trial.user_attrs[energy.ENERGY_J] == 0.0
            assert trial.user_attrs[energy.SKIPPED_INFEASIBLE] is True


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"report_interval": 0}, "report_interval must be at least 1"),
        ({"constraints": "drop"}, "constraints must be 'record', 'skip' or 'ignore'"),
        ({"mode": "simulate"}, "mode must be 'surrogate' or 'train'"),
        ({"mode": "train"}, "mode='train' takes training options and no benchmark"),
    ],
)
def test_bad_objective_options_are_rejected(
    bench: Benchmark, kwargs: dict[str, Any], match: str
) -> None:
    options: dict[str, Any] = {
        "seed": None,
        "noise": False,
        "report_interval": 1,
        "constraints": "record",
        "multi_objective": False,
        "search_space": None,
    }
    with pytest.raises(ValueError, match=match):
        EahasObjective(bench, **{**options, **kwargs})


def test_threads_record_every_trial_energy(bench: Benchmark) -> None:
    study = _study(optuna.samplers.RandomSampler(seed=7))
    objective = eahas_objective(benchmark=bench, report_interval=50, constraints="ignore")
    study.optimize(objective, n_trials=8, n_jobs=2)
    assert len(study.trials) == 8
    for trial in study.trials:
        _assert_answers(bench, trial)
    assert search_energy(study) == pytest.approx(
        sum(bench.query(_config(t)).total_train_energy_j for t in study.trials)
    )


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
    assert attrs[energy.BENCHMARK] == bench.identity
    assert attrs[energy.BENCHMARK]["simulated"] is True
    assert attrs[energy.BENCHMARK]["dataset"] == "cifar10"
    assert energy.SKIPPED_INFEASIBLE not in attrs
    assert "eahas:fixed_params" not in attrs
    steps = list(range(25, config["max_epoch"] + 1, 25))
    assert sorted(trial.intermediate_values) == steps
    assert [trial.intermediate_values[s] for s in steps] == pytest.approx(
        [result.test_accuracy[s - 1] for s in steps]
    )
    assert trial.value == pytest.approx(result.final_accuracy)


def test_record_helper_validates_and_writes_the_contract() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        energy.record(trial, 10.0 * (1 + x), seconds=2.0, epochs=1)
        with pytest.raises(ValueError, match="non-negative"):
            energy.record(trial, float("nan"))
        with pytest.raises(ValueError, match="non-negative"):
            energy.record(trial, -1.0)
        return x

    study = _study(optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=3)
    assert search_energy(study) == pytest.approx(
        sum(10 * (1 + t.params["x"]) for t in study.trials)
    )
    for trial in study.trials:
        assert trial.user_attrs[energy.ENERGY_SOURCE] == "user"
        assert trial.user_attrs[energy.ENERGY_ESTIMATED] is False
        assert trial.user_attrs[energy.TIME_S] == 2.0
        assert trial.user_attrs[energy.EPOCHS] == 1


class _PruneEverything(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        return True


def test_a_trial_is_never_pruned_at_its_last_epoch(bench: Benchmark) -> None:
    # Reporting every 200 epochs leaves one report, at the last epoch: the run is paid for
    # by then, so the objective does not ask the pruner and the trial completes.
    objective = eahas_objective(benchmark=bench, constraints="ignore", report_interval=200)
    study = _study(optuna.samplers.RandomSampler(seed=0), pruner=_PruneEverything())
    study.optimize(objective, n_trials=3)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    for trial in study.trials:
        assert list(trial.intermediate_values) == [_config(trial)["max_epoch"]]

    # With earlier reports the same pruner stops every trial at its first one.
    objective = eahas_objective(benchmark=bench, constraints="ignore", report_interval=1)
    study = _study(optuna.samplers.RandomSampler(seed=0), pruner=_PruneEverything())
    study.optimize(objective, n_trials=3)
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 3
    assert [t.user_attrs[energy.EPOCHS] for t in study.trials] == [1, 1, 1]
