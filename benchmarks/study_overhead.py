"""Where the time of an Optuna study over EA-HAS-Bench goes: surrogate against Optuna.

Runs a seeded TPE study with MedianPruner on in-memory storage, using ``eahas_objective``
with a report (and an energy record) every epoch, and prints the share of wall time spent
answering configurations (``Benchmark.query``, timed through a thin subclass) and the trials
per second, overall and over the last 10 % of the trials (TPE slows as the study grows).

    python benchmarks/study_overhead.py [--n-trials 1000] [--seed 0] [--benchmark cifar10]
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
import time
from typing import Any

import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_eahas import Benchmark
from optuna_eahas import QueryResult
from optuna_eahas import eahas_objective


class _TimedBenchmark(Benchmark):
    """The same benchmark, adding up the time spent in :meth:`query`."""

    def __init__(self, benchmark: Benchmark) -> None:
        super().__init__(benchmark.surrogate, name=benchmark.name)
        self.seconds = 0.0
        self.calls = 0

    def query(self, params: Mapping[str, Any], **kwargs: Any) -> QueryResult:
        start = time.perf_counter()
        try:
            return super().query(params, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--benchmark", default="cifar10", help="a dataset or artifact directory")
    args = parser.parse_args()

    benchmark = _TimedBenchmark(Benchmark.load(args.benchmark))
    objective = eahas_objective(benchmark=benchmark, seed=args.seed)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=args.seed),
        pruner=optuna.pruners.MedianPruner(),
    )
    finished: list[float] = []

    def stamp(study: optuna.Study, trial: FrozenTrial) -> None:
        finished.append(time.perf_counter())

    start = time.perf_counter()
    study.optimize(objective, n_trials=args.n_trials, callbacks=[stamp])
    wall = time.perf_counter() - start

    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    reports = sum(len(t.intermediate_values) for t in trials)
    tail = max(args.n_trials // 10, 1)
    tail_seconds = finished[-1] - (finished[-tail - 1] if tail < len(finished) else start)
    print(f"benchmark {benchmark.name} ({benchmark.dataset}), TPE seed {args.seed}, MedianPruner")
    print(
        f"trials {len(trials)}: {states.count(TrialState.COMPLETE)} complete, "
        f"{states.count(TrialState.PRUNED)} pruned; {reports} epoch reports"
    )
    print(f"wall time            {wall:.2f} s")
    print(
        f"in the surrogate     {benchmark.seconds:.2f} s ({100 * benchmark.seconds / wall:.1f} %"
        f" of wall time; {1e3 * benchmark.seconds / benchmark.calls:.2f} ms per query)"
    )
    print(f"trials per second    {len(trials) / wall:.1f} overall")
    print(f"                     {tail / tail_seconds:.1f} over the last {tail} trials")


if __name__ == "__main__":
    main()
