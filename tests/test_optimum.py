import numpy as np
import pytest

from optuna_eahas.benchmark import Benchmark
from optuna_eahas.benchmark import estimate_optimum
from tests.conftest import benchmark_dir


@pytest.fixture(scope="module")
def bench() -> Benchmark:
    return Benchmark.load(benchmark_dir("cifar10"))


def test_optimum_beats_every_random_configuration_and_is_reproducible(bench: Benchmark) -> None:
    optimum = estimate_optimum(bench, n_samples=500, n_starts=2, seed=3)
    again = estimate_optimum(bench, n_samples=500, n_starts=2, seed=3)
    assert optimum == again
    assert bench.query(optimum.params).final_accuracy == pytest.approx(optimum.accuracy)
    random_best = max(r.final_accuracy for r in bench.query_many(bench.sample(500, seed=3)))
    # Coordinate ascent from the best random draws improves on them.
    assert optimum.accuracy > random_best
    assert optimum.evaluated > 500


def test_regret_is_the_gap_to_the_optimum_clipped_at_zero(bench: Benchmark) -> None:
    optimum = estimate_optimum(bench, n_samples=200, n_starts=1, seed=0)
    assert optimum.regret(optimum.accuracy - 2.5) == pytest.approx(2.5)
    assert optimum.regret(optimum.accuracy + 1.0) == 0.0


def test_constrained_optimum_stays_feasible(bench: Benchmark) -> None:
    optimum = estimate_optimum(bench, n_samples=300, n_starts=1, seed=0, constrained=True)
    assert bench.space.is_feasible(optimum.params)


def test_bad_sizes_are_rejected(bench: Benchmark) -> None:
    with pytest.raises(ValueError, match="n_samples"):
        estimate_optimum(bench, n_samples=0)
    assert np.isfinite(estimate_optimum(bench, n_samples=1, n_starts=1).accuracy)
