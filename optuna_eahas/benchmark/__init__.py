"""The benchmark: query EA-HAS-Bench's surrogate for any configuration of the joint space."""

from optuna_eahas.benchmark._benchmark import Benchmark
from optuna_eahas.benchmark._benchmark import QueryResult

__all__ = ["Benchmark", "QueryResult"]
