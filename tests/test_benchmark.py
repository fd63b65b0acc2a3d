from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optuna_eahas import Benchmark
from optuna_eahas.space import InvalidParameterError
from optuna_eahas.space import SearchSpace


@pytest.fixture(scope="module", params=["cifar10", "tinyimagenet"])
def bench(request: pytest.FixtureRequest) -> Benchmark:
    return Benchmark.load(request.param)


def test_query_shapes_units_and_totals(bench: Benchmark) -> None:
    config = bench.sample(1, seed=0)[0]
    result = bench.query(config)
    assert len(result.test_accuracy) == config["max_epoch"]
    assert np.all(result.train_energy_j > 0) and np.all(result.train_time_s > 0)
    assert result.test_energy_j > 0 and result.test_time_s > 0
    assert result.total_train_energy_j == pytest.approx(result.train_energy_j.sum())
    assert result.total_train_time_s == pytest.approx(result.train_time_s.sum())
    assert result.final_accuracy == result.test_accuracy[-1]
    assert result.complexity == bench.space.complexity(config)
    assert result.constraints == pytest.approx(bench.space.constraint_values(config))
    longer = bench.query(config, max_epoch=321)
    assert len(longer.test_accuracy) == 321 and len(longer.train_energy_j) == 321


def test_query_many_equals_single_queries(bench: Benchmark) -> None:
    configs = bench.sample(6, seed=1)
    for single, batched in zip(
        [bench.query(c) for c in configs], bench.query_many(configs), strict=True
    ):
        assert np.allclose(single.test_accuracy, batched.test_accuracy)
        assert np.allclose(single.train_energy_j, batched.train_energy_j)
        assert single.params == batched.params


def test_noise_is_seeded_and_differs_from_the_mean(bench: Benchmark) -> None:
    config = bench.sample(1, seed=2)[0]
    mean = bench.query(config)
    first = bench.query(config, noise=True, seed=3)
    assert np.array_equal(
        first.test_accuracy, bench.query(config, noise=True, seed=3).test_accuracy
    )
    assert not np.allclose(first.test_accuracy, mean.test_accuracy)
    assert not np.allclose(
        first.test_accuracy, bench.query(config, noise=True, seed=4).test_accuracy
    )
    assert np.array_equal(mean.test_accuracy, bench.query(config).test_accuracy)


def test_bad_parameters_name_the_parameter(bench: Benchmark) -> None:
    config = bench.sample(1, seed=0)[0]
    with pytest.raises(InvalidParameterError, match="'learning_rate'.*0.001, 0.003"):
        bench.query({**config, "learning_rate": 0.2})
    with pytest.raises(InvalidParameterError, match="Unknown parameter 'lr'"):
        bench.query({**config, "lr": 0.1})
    with pytest.raises(InvalidParameterError, match="'depth'"):
        bench.query({**config, "depth": float("nan")})
    missing = dict(config)
    del missing["optimizer"]
    with pytest.raises(InvalidParameterError, match="Missing parameter 'optimizer'"):
        bench.query(missing)


def test_identity_card_sample_and_space(bench: Benchmark) -> None:
    assert bench.identity["simulated"] is True
    assert bench.identity["dataset"] == bench.dataset
    assert "simulated" in bench.data_card
    assert bench.sample(5, seed=9) == bench.sample(5, seed=9)
    assert bench.search_space == SearchSpace(bench.dataset).distributions


def test_load_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="No benchmark 'nope'.*cifar10"):
        Benchmark.load("nope")
    with pytest.raises(ValueError, match="not a directory|manifest"):
        Benchmark.load(tmp_path)
