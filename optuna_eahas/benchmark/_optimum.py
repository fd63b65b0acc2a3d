from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

from optuna_eahas.benchmark._benchmark import Benchmark

# Values tried per numeric dimension in one coordinate sweep (its grid, thinned to this many).
_VALUES_PER_DIMENSION = 41


@dataclass(frozen=True)
class Optimum:
    """The best final test accuracy found on a benchmark, and the configuration reaching it."""

    accuracy: float
    params: dict[str, Any]
    evaluated: int
    """How many configurations the search answered."""

    def regret(self, accuracy: float) -> float:
        """Test regret of ``accuracy``: the optimum minus it, never below zero."""
        return max(self.accuracy - accuracy, 0.0)


def estimate_optimum(
    benchmark: Benchmark,
    *,
    n_samples: int = 50_000,
    n_starts: int = 5,
    seed: int = 0,
    constrained: bool = False,
) -> Optimum:
    """Estimate the best final test accuracy of the benchmark's (mean) surrogate.

    Test regret, the y-axis of EA-HAS-Bench's search plots (Section 5), needs the space's
    optimum; ~3x10^10 configurations cannot be enumerated, so this answers ``n_samples``
    configurations drawn as the paper's sweep draws them, then climbs from the ``n_starts``
    best by coordinate ascent over each dimension's values until no single change helps. The
    result is a lower bound on the true optimum: regrets computed from it are clipped at zero.

    Args:
        benchmark: The benchmark.
        n_samples: Random configurations answered first.
        n_starts: Best random configurations refined by coordinate ascent.
        seed: Seeds the random draw (the estimate is deterministic for a seed).
        constrained: Only configurations satisfying the paper's CIFAR-10 complexity
            constraints (CIFAR-10 only).
    """
    if n_samples < 1 or n_starts < 1:
        raise ValueError("n_samples and n_starts must be at least 1.")
    space = benchmark.space
    candidates = benchmark.sample(n_samples, seed=seed, constrained=constrained)
    accuracies = _final_accuracies(benchmark, candidates)
    evaluated = len(candidates)
    order = np.argsort(-accuracies)[:n_starts]
    best_params, best_accuracy = candidates[int(order[0])], float(accuracies[order[0]])
    choices = {name: _values(dist) for name, dist in benchmark.search_space.items()}
    for start in order:
        params, accuracy = dict(candidates[int(start)]), float(accuracies[start])
        improved = True
        while improved:
            improved = False
            for name, values in choices.items():
                neighbours = [{**params, name: v} for v in values if v != params[name]]
                if constrained:
                    neighbours = [p for p in neighbours if space.is_feasible(p)]
                if not neighbours:
                    continue
                scores = _final_accuracies(benchmark, neighbours)
                evaluated += len(neighbours)
                i = int(np.argmax(scores))
                if scores[i] > accuracy + 1e-9:
                    params, accuracy, improved = neighbours[i], float(scores[i]), True
        if accuracy > best_accuracy:
            best_params, best_accuracy = params, accuracy
    return Optimum(accuracy=best_accuracy, params=dict(best_params), evaluated=evaluated)


def _final_accuracies(benchmark: Benchmark, configs: list[dict[str, Any]]) -> np.ndarray:
    return np.array([r.final_accuracy for r in benchmark.query_many(configs)])


def _values(distribution: BaseDistribution) -> list[Any]:
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    assert isinstance(distribution, (IntDistribution, FloatDistribution))
    step = distribution.step or 1
    count = int(round((distribution.high - distribution.low) / step)) + 1
    indices = np.unique(np.linspace(0, count - 1, min(count, _VALUES_PER_DIMENSION)).round())
    grid = distribution.low + indices * step
    if isinstance(distribution, IntDistribution):
        return [int(v) for v in grid]
    decimals = max(0, -int(np.floor(np.log10(step)))) if step < 1 else 0
    return [float(round(v, decimals)) for v in grid]
