from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optuna_eahas import Benchmark
from optuna_eahas import QueryResult
from optuna_eahas.space import CONSTRAINT_NAMES
from optuna_eahas.space import InvalidParameterError
from optuna_eahas.space import SearchSpace


@pytest.fixture(scope="module", params=["cifar10", "tinyimagenet"])
def bench(request: pytest.FixtureRequest) -> Benchmark:
    return Benchmark.load(request.param)


def _assert_same(a: QueryResult, b: QueryResult) -> None:
    assert a.params == b.params
    # The curves' network computes in float32, whose rounding depends on the batch.
    np.testing.assert_allclose(a.test_accuracy, b.test_accuracy, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a.train_energy_j, b.train_energy_j, rtol=1e-6)
    np.testing.assert_allclose(a.train_time_s, b.train_time_s, rtol=1e-6)
    assert a.test_energy_j == pytest.approx(b.test_energy_j)
    assert a.test_time_s == pytest.approx(b.test_time_s)
    assert a.complexity == b.complexity
    assert a.constraints == pytest.approx(b.constraints)


def test_query_shapes_units_and_totals(bench: Benchmark) -> None:
    for config in bench.sample(3, seed=0):
        result = bench.query(config)
        assert result.params == config
        for curve in (result.test_accuracy, result.train_energy_j, result.train_time_s):
            assert curve.shape == (config["max_epoch"],)
            assert np.all(np.isfinite(curve))
        assert np.all((result.test_accuracy >= 0) & (result.test_accuracy <= 100))
        assert np.all(result.train_energy_j > 0) and np.all(result.train_time_s > 0)
        assert result.test_energy_j > 0 and result.test_time_s > 0
        assert result.total_train_energy_j == pytest.approx(result.train_energy_j.sum())
        assert result.total_train_time_s == pytest.approx(result.train_time_s.sum())
        assert result.final_accuracy == result.test_accuracy[-1]
        assert result.complexity == bench.space.complexity(config)
        assert result.constraints == pytest.approx(bench.space.constraint_values(config))
        assert result.feasible == bench.space.is_feasible(config)


def test_accuracies_are_percentages(bench: Benchmark) -> None:
    # Diverging configurations (high learning rates) have mean curves that fall towards 0 %.
    results = bench.query_many(bench.sample(500, seed=0))
    accuracy = np.concatenate([result.test_accuracy for result in results])
    assert accuracy.min() >= 0.0 and accuracy.max() <= 100.0


def test_query_max_epoch_override(bench: Benchmark) -> None:
    config = {**bench.sample(1, seed=0)[0], "max_epoch": 50}
    result = bench.query(config)
    for length in (1, 37, 321):
        longer = bench.query(config, max_epoch=length)
        assert longer.test_accuracy.shape == (length,)
        assert longer.train_energy_j.shape == longer.train_time_s.shape == (length,)
        assert longer.total_train_energy_j == pytest.approx(longer.train_energy_j.sum())
    # Epochs cost the same whatever the schedule's length, so energy grows with it.
    assert bench.query(config, max_epoch=321).total_train_energy_j > result.total_train_energy_j
    _assert_same(bench.query(config, max_epoch=50), result)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="max_epoch must be an integer of at least 1"):
            bench.query(config, max_epoch=bad)  # type: ignore[arg-type]


def test_query_many_equals_single_queries(bench: Benchmark) -> None:
    # Sampled configurations mix the three max_epoch values.
    configs = bench.sample(8, seed=1)
    assert len({c["max_epoch"] for c in configs}) > 1
    batched = bench.query_many(configs)
    assert len(batched) == len(configs)
    for config, result in zip(configs, batched, strict=True):
        _assert_same(result, bench.query(config))
    for config, result in zip(configs, bench.query_many(configs, max_epoch=60), strict=True):
        _assert_same(result, bench.query(config, max_epoch=60))
    assert bench.query_many([]) == []


def test_noise_is_seeded_and_differs_from_the_mean(bench: Benchmark) -> None:
    config = bench.sample(1, seed=2)[0]
    mean = bench.query(config)
    _assert_same(mean, bench.query(config))
    noisy = bench.query(config, noise=True, seed=3)
    _assert_same(noisy, bench.query(config, noise=True, seed=3))
    other = bench.query(config, noise=True, seed=4)
    for a, b in [(noisy, mean), (noisy, other)]:
        assert not np.allclose(a.test_accuracy, b.test_accuracy)
        assert not np.allclose(a.train_energy_j, b.train_energy_j)
    assert np.all((noisy.test_accuracy >= 0) & (noisy.test_accuracy <= 100))
    assert np.all(noisy.train_energy_j > 0)
    # A run is near the mean: noise, not a different configuration.
    assert noisy.total_train_energy_j == pytest.approx(mean.total_train_energy_j, rel=0.5)

    configs = bench.sample(4, seed=5)
    first = bench.query_many(configs, noise=True, seed=6)
    for a, b in zip(first, bench.query_many(configs, noise=True, seed=6), strict=True):
        _assert_same(a, b)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"learning_rate": 0.2}, "'learning_rate'.*0.001, 0.003, 0.005"),
        ({"max_epoch": 150}, "'max_epoch'.*50, 100, 200"),
        ({"optimizer": "rmsprop"}, "'optimizer'.*'sgd', 'adam', 'adamw'"),
        ({"lr_policy": "step"}, "'lr_policy'.*'cos', 'exp', 'lin'"),
        ({"cutout": 8}, "'cutout'.*0, 16"),
        ({"group_width": 3}, "'group_width'.*1, 2, 4, 8, 16, 24, 32"),
        ({"depth": 16}, "'depth'.*6 to 15"),
        ({"depth": float("nan")}, "'depth'"),
        ({"depth": True}, "'depth'"),
        ({"w0": 50}, "'w0'.*step 8"),
        ({"wa": 40.0}, r"'wa'.*\[8.0, 32.0\]"),
        ({"wm": 2.0001}, "'wm'.*step 0.001"),
        ({"lr": 0.1}, "Unknown parameter 'lr'.*depth, w0"),
    ],
)
def test_bad_parameters_name_the_parameter_and_the_allowed_values(
    bench: Benchmark, change: dict, match: str
) -> None:
    config = {**bench.sample(1, seed=0)[0], **change}
    (name,) = change
    with pytest.raises(InvalidParameterError, match=match) as info:
        bench.query(config)
    assert info.value.parameter == name
    with pytest.raises(InvalidParameterError, match=match):
        bench.query_many([bench.sample(1, seed=1)[0], config])


def test_a_missing_parameter_is_named(bench: Benchmark) -> None:
    config = bench.sample(1, seed=0)[0]
    del config["optimizer"]
    with pytest.raises(InvalidParameterError, match="Missing parameter 'optimizer'.*'sgd'"):
        bench.query(config)


def test_identity_data_card_and_search_space(bench: Benchmark) -> None:
    identity = bench.identity
    assert set(identity) == {"name", "dataset", "version", "simulated", "records"}
    assert identity["simulated"] is True
    assert identity["dataset"] == bench.dataset == bench.space.dataset
    assert identity["name"] == bench.name
    assert "simulated" in bench.data_card.lower()
    assert bench.search_space == SearchSpace(bench.dataset).distributions
    assert list(bench.search_space) == list(SearchSpace(bench.dataset).param_names)
    assert repr(bench) == f"Benchmark({bench.name!r}, dataset={bench.dataset!r})"


def test_sample_is_deterministic_and_inside_the_space(bench: Benchmark) -> None:
    configs = bench.sample(20, seed=9)
    assert configs == bench.sample(20, seed=9)
    assert configs != bench.sample(20, seed=10)
    assert [bench.space.validate(c) for c in configs] == configs


def test_constraints_are_cifar10_only(bench: Benchmark) -> None:
    config = bench.sample(1, seed=0)[0]
    if bench.dataset == "tinyimagenet":
        assert bench.query(config).constraints == {}
        assert bench.query(config).feasible
        with pytest.raises(ValueError, match="no complexity constraints"):
            bench.sample(1, seed=0, constrained=True)
        return
    assert set(bench.query(config).constraints) == set(CONSTRAINT_NAMES)
    constrained = bench.sample(5, seed=0, constrained=True)
    assert constrained == bench.sample(5, seed=0, constrained=True)
    assert all(result.feasible for result in bench.query_many(constrained))


def test_load_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="No benchmark 'nope': give one of cifar10, tinyimagenet"):
        Benchmark.load("nope")
    with pytest.raises(ValueError, match="No benchmark .*missing"):
        Benchmark.load(tmp_path / "missing")
    with pytest.raises(ValueError, match="manifest.json"):
        Benchmark.load(tmp_path)
