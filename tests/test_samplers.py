from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
import warnings

from conftest import benchmark_dir
import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.samplers import BaseSampler
from optuna.study import StudyDirection
from optuna.trial import TrialState
import pytest

from optuna_eahas import Benchmark
from optuna_eahas import eahas_objective
from optuna_eahas import energy
from optuna_eahas.energy import AdditivePenalty
from optuna_eahas.energy import MultiplicativePenalty
from optuna_eahas.samplers import BananasSampler
from optuna_eahas.samplers import CostAwareSampler
from optuna_eahas.samplers import EnergyAwareSampler
from optuna_eahas.samplers import LocalSearchSampler
from optuna_eahas.samplers._history import mutate
from optuna_eahas.samplers._history import neighbour
from optuna_eahas.space import ARCHITECTURE_PARAMS
from optuna_eahas.space import HYPERPARAMETER_PARAMS

optuna.logging.set_verbosity(optuna.logging.WARNING)

_J_PER_KWH = 3.6e6
# A toy trade-off: the value grows with x, and so does the energy, steeply.
_TOY_SPACE = {
    "x": FloatDistribution(0.0, 1.0),
    "kind": CategoricalDistribution(["a", "b"]),
}


def _toy(trial: optuna.Trial) -> float:
    """Value x (+0.05 for kind b); energy 0.01 kWh at x = 0 up to 10 kWh at x = 1."""
    x = trial.suggest_float("x", 0.0, 1.0)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    energy.record(trial, 0.01 * _J_PER_KWH * 1000**x, epochs=1)
    return x + (0.05 if kind == "b" else 0.0)


@pytest.fixture(scope="module")
def benchmark() -> Benchmark:
    return Benchmark.load(benchmark_dir("cifar10"))


def _heavy_penalty() -> AdditivePenalty:
    # 10 points per kWh: x - 0.1 * 1000**x peaks at x = 0.05.
    return AdditivePenalty(lam=10.0)


def _samplers(penalty: energy.EnergyPenalty | None, seed: int) -> dict[str, BaseSampler]:
    return {
        "tpe": EnergyAwareSampler(
            optuna.samplers.TPESampler(seed=seed, n_startup_trials=5), penalty=penalty
        )
        if penalty
        else optuna.samplers.TPESampler(seed=seed, n_startup_trials=5),
        "ls": LocalSearchSampler(penalty=penalty, seed=seed, n_startup_trials=5, patience=10),
        "bananas": BananasSampler(penalty=penalty, seed=seed, n_startup_trials=5, batch_size=5),
    }


@pytest.mark.parametrize("name", ["tpe", "ls", "bananas"])
def test_penalty_moves_search_to_cheap_configurations(name: str) -> None:
    late_x = {}
    for label, penalty in (("plain", None), ("energy-aware", _heavy_penalty())):
        study = optuna.create_study(direction="maximize", sampler=_samplers(penalty, 0)[name])
        study.optimize(_toy, n_trials=60)
        late_x[label] = np.median([t.params["x"] for t in study.trials[-20:]])
    assert late_x["plain"] > 0.6
    assert late_x["energy-aware"] < 0.35


def test_wrapper_shows_base_sampler_penalised_values() -> None:
    penalty = MultiplicativePenalty(reference_j=1000.0)
    sampler = EnergyAwareSampler(optuna.samplers.RandomSampler(seed=0), penalty=penalty)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_toy, n_trials=10)
    assert sampler.shadow_study is not None
    copies = sampler.shadow_study.get_trials(states=(TrialState.COMPLETE,))
    assert [c.params for c in copies] == [t.params for t in study.trials]
    for copy, trial in zip(copies, study.trials, strict=True):
        expected = penalty(trial.value, trial.user_attrs[energy.ENERGY_J], StudyDirection.MAXIMIZE)
        assert copy.value == pytest.approx(expected)
        assert copy.value != pytest.approx(trial.value)


class _Recording(optuna.samplers.RandomSampler):
    """A random sampler that records which studies and trials it was called with."""

    def __init__(self) -> None:
        super().__init__(seed=0)
        self.calls: list[tuple[str, Any]] = []

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.calls.append(("before_trial", study))

    def after_trial(self, study, trial, state, values) -> None:  # type: ignore[no-untyped-def]
        self.calls.append(("after_trial", (state, values)))

    def sample_independent(self, study, trial, param_name, param_distribution):  # type: ignore[no-untyped-def]
        self.calls.append(("sample_independent", study))
        return super().sample_independent(study, trial, param_name, param_distribution)

    def reseed_rng(self) -> None:
        self.calls.append(("reseed_rng", None))


def test_wrapper_delegates_every_hook_to_the_base_sampler() -> None:
    base = _Recording()
    sampler = EnergyAwareSampler(base, penalty=AdditivePenalty(lam=1.0))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_toy, n_trials=3)
    sampler.reseed_rng()
    names = [name for name, _ in base.calls]
    assert names.count("before_trial") == 3
    assert names.count("sample_independent") == 6
    assert names[-1] == "reseed_rng"
    # The base sampler only ever sees the shadow study, and is told penalised values.
    studies = {
        id(arg) for name, arg in base.calls if name in ("before_trial", "sample_independent")
    }
    assert studies == {id(sampler.shadow_study)}
    told = [arg for name, arg in base.calls if name == "after_trial"]
    for (state, values), trial in zip(told, study.trials, strict=True):
        kwh = trial.user_attrs[energy.ENERGY_J] / _J_PER_KWH
        assert state == TrialState.COMPLETE
        assert values == [pytest.approx(trial.value - kwh)]


def test_wrapper_copies_pruned_trials_penalised_and_skips_failed_ones() -> None:
    penalty = AdditivePenalty(lam=1.0)
    sampler = EnergyAwareSampler(optuna.samplers.TPESampler(seed=0), penalty=penalty)
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        energy.record(trial, 0.5 * _J_PER_KWH, epochs=1)
        if trial.number % 3 == 1:
            trial.report(x, step=1)
            raise optuna.TrialPruned()
        if trial.number % 3 == 2:
            raise RuntimeError("crashed")
        return x

    study.optimize(objective, n_trials=9, catch=(RuntimeError,))
    copies = sampler.shadow_study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    originals = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(copies) == len(originals) == 6
    for copy, trial in zip(copies, originals, strict=True):
        assert copy.state == trial.state
        assert copy.value == pytest.approx(trial.value - 0.5)
        for step, value in trial.intermediate_values.items():
            assert copy.intermediate_values[step] == pytest.approx(value - 0.5)


def test_trials_without_energy_warn_once_and_keep_their_value() -> None:
    sampler = EnergyAwareSampler(optuna.samplers.RandomSampler(seed=0))
    study = optuna.create_study(sampler=sampler)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    messages = [str(w.message) for w in caught if "recorded no energy" in str(w.message)]
    assert len(messages) == 1
    copies = sampler.shadow_study.get_trials(states=(TrialState.COMPLETE,))
    assert [c.value for c in copies] == [t.value for t in study.trials]


def test_ls_and_bananas_warn_once_without_energy() -> None:
    for sampler in (
        LocalSearchSampler(penalty=MultiplicativePenalty(), seed=0, n_startup_trials=2),
        BananasSampler(penalty=MultiplicativePenalty(), seed=0, n_startup_trials=2, batch_size=2),
    ):
        study = optuna.create_study(sampler=sampler)
        with pytest.warns(UserWarning, match="recorded no energy") as caught:
            study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=6)
        assert sum("recorded no energy" in str(w.message) for w in caught) == 1


def _eahas_samplers(seed: int, budget_j: float) -> dict[str, Callable[[], BaseSampler]]:
    return {
        "ea-tpe": lambda: EnergyAwareSampler(optuna.samplers.TPESampler(seed=seed)),
        "ea-ls": lambda: LocalSearchSampler(
            penalty=MultiplicativePenalty(), seed=seed, n_startup_trials=4, patience=4
        ),
        "ea-bananas": lambda: BananasSampler(
            penalty=MultiplicativePenalty(),
            seed=seed,
            n_startup_trials=4,
            batch_size=4,
            n_candidates=40,
        ),
        "cost-aware": lambda: CostAwareSampler(
            seed=seed,
            energy_budget_j=budget_j,
            n_startup_trials=4,
            batch_size=4,
            n_candidates=40,
        ),
    }


@pytest.mark.parametrize("name", ["ea-tpe", "ea-ls", "ea-bananas", "cost-aware"])
def test_samplers_are_deterministic_for_a_seed(benchmark: Benchmark, name: str) -> None:
    objective = eahas_objective(benchmark=benchmark, constraints="ignore", report_interval=200)
    runs = []
    for _ in range(2):
        sampler = _eahas_samplers(7, 5 * _J_PER_KWH)[name]()
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(objective, n_trials=16)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]
    other = optuna.create_study(
        direction="maximize", sampler=_eahas_samplers(8, 5 * _J_PER_KWH)[name]()
    )
    other.optimize(objective, n_trials=16)
    assert [t.params for t in other.trials] != runs[0]


class _PruneEveryFifthTrial(optuna.pruners.BasePruner):
    """Prunes trials 1, 6, 11, ... at their first report: pruned trials in every history,
    independent of how threads interleave."""

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.number % 5 == 1


@pytest.mark.parametrize("name", ["ea-tpe", "ea-ls", "ea-bananas", "cost-aware"])
@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_samplers_work_with_storages_threads_and_pruned_or_failed_trials(
    benchmark: Benchmark, name: str, storage: str, tmp_path: Path
) -> None:
    # SQLite commits are slow here: fewer reports and trials there (but a report before the
    # last epoch of every configuration, where a trial can be pruned).
    n_trials, interval = (24, 10) if storage == "memory" else (10, 25)
    objective = eahas_objective(
        benchmark=benchmark, constraints="ignore", report_interval=interval
    )

    def flaky(trial: optuna.Trial) -> float:
        if trial.number % 5 == 3:
            raise RuntimeError("crashed")
        return objective(trial)

    study = optuna.create_study(
        direction="maximize",
        storage=None if storage == "memory" else f"sqlite:///{tmp_path / 'study.db'}",
        sampler=_eahas_samplers(0, 5 * _J_PER_KWH)[name](),
        pruner=_PruneEveryFifthTrial(),
    )
    study.optimize(flaky, n_trials=n_trials, n_jobs=2, catch=(RuntimeError,))
    states = [t.state for t in study.trials]
    assert len(states) == n_trials
    assert states.count(TrialState.FAIL) >= 2
    assert states.count(TrialState.PRUNED) >= 2
    assert states.count(TrialState.COMPLETE) >= 3
    for trial in study.get_trials(states=(TrialState.COMPLETE,)):
        benchmark.space.validate(trial.params)


def test_neighbour_resamples_the_architecture_or_the_hyperparameters(
    benchmark: Benchmark,
) -> None:
    rng = np.random.default_rng(0)
    distributions = benchmark.search_space
    start = benchmark.sample(1, seed=0)[0]
    moved_groups = set()
    for _ in range(200):
        moved = neighbour(rng, start, distributions)
        benchmark.space.validate(moved)
        changed = {name for name in start if moved[name] != start[name]}
        kept = set(start) - changed
        # One group is kept whole; the other resampled (a redraw may repeat a value).
        assert set(ARCHITECTURE_PARAMS) <= kept or set(HYPERPARAMETER_PARAMS) <= kept
        assert changed
        moved_groups.add("architecture" if changed & set(ARCHITECTURE_PARAMS) else "hyper")
    assert moved_groups == {"architecture", "hyper"}


def test_neighbour_outside_eahas_changes_one_parameter() -> None:
    rng = np.random.default_rng(0)
    distributions = {
        "a": IntDistribution(0, 100),
        "b": FloatDistribution(1e-3, 1.0, log=True),
        "c": CategoricalDistribution(["x", "y", "z"]),
    }
    start = {"a": 50, "b": 0.1, "c": "y"}
    changed_names = set()
    for _ in range(100):
        moved = neighbour(rng, start, distributions)
        changed = [name for name in start if moved[name] != start[name]]
        assert len(changed) == 1
        changed_names.update(changed)
        assert all(
            distributions[n]._contains(distributions[n].to_internal_repr(moved[n])) for n in moved
        )
    assert changed_names == {"a", "b", "c"}


def test_mutation_changes_about_one_parameter_in_d(benchmark: Benchmark) -> None:
    rng = np.random.default_rng(1)
    start = benchmark.sample(1, seed=1)[0]
    counts = []
    for _ in range(500):
        mutated = mutate(rng, start, benchmark.search_space)
        benchmark.space.validate(mutated)
        counts.append(sum(mutated[k] != start[k] for k in start))
    assert min(counts) >= 1
    assert 1.2 < np.mean(counts) < 2.6  # 1 forced + ~9/10 expected, minus repeated draws


def _add(study: optuna.Study, params: dict[str, Any], value: float, joules: float) -> None:
    study.add_trial(
        optuna.trial.create_trial(
            params=params,
            distributions={k: d for k, d in _EAHAS_LIKE.items()},
            value=value,
            user_attrs={energy.ENERGY_J: joules, energy.EPOCHS: 1},
        )
    )


_EAHAS_LIKE = {
    "depth": IntDistribution(6, 15),
    "w0": IntDistribution(48, 128, step=8),
    "learning_rate": CategoricalDistribution([0.01, 0.1, 1.0]),
    "optimizer": CategoricalDistribution(["sgd", "adam"]),
}


@pytest.mark.parametrize("penalised", [False, True])
def test_ls_walks_from_the_best_penalised_trial(penalised: bool) -> None:
    penalty = AdditivePenalty(lam=1.0) if penalised else None
    sampler = LocalSearchSampler(penalty=penalty, seed=0, n_startup_trials=3)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    accurate = {"depth": 15, "w0": 128, "learning_rate": 0.1, "optimizer": "sgd"}
    frugal = {"depth": 6, "w0": 48, "learning_rate": 0.01, "optimizer": "adam"}
    _add(study, accurate, 95.0, 5 * _J_PER_KWH)  # penalised: 90
    _add(study, frugal, 93.0, 0.1 * _J_PER_KWH)  # penalised: 92.9
    _add(study, {**frugal, "depth": 8}, 50.0, 0.1 * _J_PER_KWH)
    incumbent = frugal if penalised else accurate
    for _ in range(20):
        trial = study.ask(_EAHAS_LIKE)
        params = trial.params
        study.tell(trial, state=TrialState.FAIL)  # keep the history as it is
        same_arch = all(params[k] == incumbent[k] for k in ("depth", "w0"))
        same_hyper = all(params[k] == incumbent[k] for k in ("learning_rate", "optimizer"))
        assert same_arch != same_hyper


def test_ls_restarts_after_patience_failures() -> None:
    sampler = LocalSearchSampler(seed=0, n_startup_trials=1, patience=2)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    best = {"depth": 15, "w0": 128, "learning_rate": 0.1, "optimizer": "sgd"}
    _add(study, best, 95.0, 1.0)
    _add(study, {**best, "depth": 6, "w0": 48}, 90.0, 1.0)
    walks = []
    for _ in range(30):
        trial = study.ask(_EAHAS_LIKE)
        walks.append(trial.params)
        study.tell(trial, state=TrialState.FAIL)
    assert all(p["depth"] == 15 and p["w0"] == 128 or p["optimizer"] == "sgd" for p in walks)
    _add(study, {**best, "learning_rate": 0.01}, 80.0, 1.0)  # second failure: restart
    restarted = [study.ask(_EAHAS_LIKE) for _ in range(30)]
    assert any(
        (t.params["depth"], t.params["w0"]) != (15, 128)
        and (t.params["learning_rate"], t.params["optimizer"]) != (0.1, "sgd")
        for t in restarted
    )


def test_history_keeps_the_trials_over_the_search_space_of_each_study() -> None:
    # LS and BANANAS share the history filter; LS's walk shows its incumbent plainly.
    sampler = LocalSearchSampler(seed=0, n_startup_trials=1, search_space=_EAHAS_LIKE)
    other_depths = {**_EAHAS_LIKE, "depth": IntDistribution(10, 12)}
    best = {"depth": 11, "w0": 48, "learning_rate": 1.0, "optimizer": "adam"}
    runner_up = {"depth": 15, "w0": 128, "learning_rate": 0.1, "optimizer": "sgd"}

    def incumbent_after(first_space: dict[str, Any]) -> dict[str, Any]:
        """Trial 0 is the best one, over ``first_space``; what do the next trials walk from?"""
        study = optuna.create_study(direction="maximize", sampler=sampler)
        for params, value, space in ((best, 99.0, first_space), (runner_up, 95.0, _EAHAS_LIKE)):
            study.add_trial(
                optuna.trial.create_trial(
                    params=params,
                    distributions=space,
                    value=value,
                    user_attrs={energy.ENERGY_J: 1.0, energy.EPOCHS: 1},
                )
            )
        asked = []
        for _ in range(20):
            trial = study.ask(_EAHAS_LIKE)
            asked.append(trial.params)
            study.tell(trial, state=TrialState.FAIL)  # keep the history as it is
        for incumbent in (best, runner_up):
            if all(sum(p[k] == incumbent[k] for k in incumbent) >= 2 for p in asked):
                return incumbent
        raise AssertionError(f"no single incumbent: {asked}")

    # The same sampler on two studies: trial 0 is left out of the first (its depth was drawn
    # from another distribution), and used in the second.
    assert incumbent_after(other_depths) == runner_up
    assert incumbent_after(_EAHAS_LIKE) == best


def test_cost_exponent_cools_as_the_budget_is_spent() -> None:
    sampler = CostAwareSampler(seed=0, energy_budget_j=10 * _J_PER_KWH)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    assert sampler.cost_exponent(study) == 1.0
    for _ in range(4):
        trial = study.ask()
        energy.record(trial, 2 * _J_PER_KWH)
        study.tell(trial, 1.0)
    assert sampler.cost_exponent(study) == pytest.approx(0.2)
    assert CostAwareSampler(seed=0).cost_exponent(study) == 1.0


def test_cost_aware_prefers_cheap_configurations_when_values_tie() -> None:
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_categorical("kind", ["a", "b"])
        energy.record(trial, _J_PER_KWH * 1000**x)
        return 1.0

    xs = {}
    for label, sampler in (
        ("cost-aware", CostAwareSampler(seed=0, n_startup_trials=5, batch_size=5)),
        ("random", optuna.samplers.RandomSampler(seed=0)),
    ):
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(objective, n_trials=40)
        xs[label] = np.mean([t.params["x"] for t in study.trials[10:]])
    assert xs["cost-aware"] < 0.3 < xs["random"]


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: EnergyAwareSampler("tpe"), "base_sampler"),  # type: ignore[arg-type]
        (lambda: LocalSearchSampler(penalty="multiplicative"), "penalty"),  # type: ignore[arg-type]
        (lambda: LocalSearchSampler(patience=0), "patience"),
        (lambda: BananasSampler(n_startup_trials=0), "n_startup_trials"),
        (lambda: BananasSampler(n_candidates=5, batch_size=10), "batch_size"),
        (lambda: BananasSampler(n_models=1), "n_models"),
        (lambda: CostAwareSampler(energy_budget_j=-1.0), "energy_budget_j"),
    ],
)
def test_bad_options_raise_clear_errors(make: Callable[[], BaseSampler], match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        make()


@pytest.mark.parametrize(
    "sampler",
    [
        EnergyAwareSampler(optuna.samplers.TPESampler()),
        LocalSearchSampler(),
        BananasSampler(),
        CostAwareSampler(),
    ],
)
def test_multi_objective_studies_are_refused(sampler: BaseSampler) -> None:
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    with pytest.raises(ValueError, match="single-objective"):
        study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=1)


def test_log_expected_improvement_is_exact_then_asymptotic_and_never_flat() -> None:
    from scipy import stats

    from optuna_eahas.samplers._cost_aware import _log_h

    z = np.linspace(-5.5, 3.0, 50)
    exact = np.log(z * stats.norm.cdf(z) + stats.norm.pdf(z))
    np.testing.assert_allclose(_log_h(z), exact, rtol=1e-9)
    far = _log_h(np.linspace(-60.0, -6.5, 50))
    # Far below the incumbent EI underflows to 0 in floating point; its log keeps ranking.
    assert np.all(np.isfinite(far))
    assert np.all(np.diff(far) > 0)
    assert abs(_log_h(np.array([-6.0001]))[0] - _log_h(np.array([-5.9999]))[0]) < 0.1
