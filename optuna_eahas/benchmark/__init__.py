"""The benchmark: query EA-HAS-Bench's surrogate for any configuration of the joint space."""

from optuna_eahas.benchmark._benchmark import Benchmark
from optuna_eahas.benchmark._benchmark import QueryResult
from optuna_eahas.benchmark._optimum import Optimum
from optuna_eahas.benchmark._optimum import estimate_optimum

__all__ = ["Benchmark", "Optimum", "QueryResult", "estimate_optimum"]
