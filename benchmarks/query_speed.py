"""Measure how fast a benchmark answers: artifact load, one configuration, and batches.

Usage: python benchmarks/query_speed.py [--benchmark cifar10|PATH] [--batch 100000]

Targets (issue tracker): load <= 300 ms; one configuration's 200-epoch curve plus energies
<= 50 us median; batched >= 100,000 configurations/s with 200-epoch curves.
"""

from __future__ import annotations

import argparse
import statistics
import time

from optuna_eahas import Benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="cifar10")
    parser.add_argument("--singles", type=int, default=300)
    parser.add_argument("--batch", type=int, default=100_000)
    args = parser.parse_args()

    loads = []
    for _ in range(5):
        start = time.perf_counter()
        bench = Benchmark.load(args.benchmark)
        loads.append(time.perf_counter() - start)
    print(f"artifact load: median {1e3 * statistics.median(loads):.1f} ms over 5 loads")

    configs = [c | {"max_epoch": 200} for c in bench.sample(args.singles, seed=0)]
    bench.query(configs[0])
    single, surrogate_only = [], []
    for config in configs:
        start = time.perf_counter()
        bench.query(config)
        single.append(time.perf_counter() - start)
        columns = bench.space.columns([config])
        start = time.perf_counter()
        bench.surrogate.predict(columns, max_epoch=200)
        surrogate_only.append(time.perf_counter() - start)
    print(
        f"one configuration, 200 epochs (Benchmark.query, validation + complexity included): "
        f"median {1e6 * statistics.median(single):.0f} us"
    )
    print(
        f"one configuration, 200 epochs (Surrogate.predict on validated columns): "
        f"median {1e6 * statistics.median(surrogate_only):.0f} us"
    )

    batch = bench.sample(args.batch, seed=1)
    columns = bench.space.columns(batch)
    start = time.perf_counter()
    bench.surrogate.predict(columns, max_epoch=200)
    elapsed = time.perf_counter() - start
    print(
        f"batch of {args.batch} configurations, 200 epochs (Surrogate.predict): "
        f"{args.batch / elapsed:,.0f} configurations/s"
    )
    start = time.perf_counter()
    bench.query_many(batch[:10_000], max_epoch=200)
    elapsed = time.perf_counter() - start
    print(
        f"query_many of 10000 (validation and result objects included): {10_000 / elapsed:,.0f}/s"
    )


if __name__ == "__main__":
    main()
