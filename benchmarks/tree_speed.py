"""Prediction speed of TreeEnsemble (NumPy) against LightGBM's own Booster.predict.

Trains a LightGBM regressor (by default 500 trees of 31 leaves on 30 features), loads its
text with ``TreeEnsemble.from_lightgbm_text`` and prints

* microseconds per single-row prediction: ``Booster.predict(x[None])``,
  ``TreeEnsemble.predict_one(x)``, ``TreeEnsemble.predict(x[None])`` and, for comparison,
  the batch walk run on a one-row chunk (what a single row would cost without the
  single-row path);
* rows per second for batches of 100,000 rows.

Timings are the best of several rounds in which the contenders take turns (the minimum
is the least disturbed by other load on the machine).  LightGBM is timed with its
default threads (OpenMP, all cores) and with one thread; TreeEnsemble uses one thread.

    python benchmarks/tree_speed.py [--trees 500] [--leaves 31] [--features 30]
"""

from __future__ import annotations

import argparse
import os
import time

import lightgbm as lgb
import numpy as np

from optuna_eahas.surrogate import TreeEnsemble
from optuna_eahas.surrogate._trees import _ChunkWalker


def _interleaved_best(fns: dict, rounds: int) -> dict:
    """Best time per entry of ``fns`` (name -> callable), the entries taking turns, so
    that changes in the machine's load affect them alike."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trees", type=int, default=500)
    parser.add_argument("--leaves", type=int, default=31)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--single-rows", type=int, default=100, help="rows timed one by one")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    X = rng.normal(size=(args.train_rows, args.features))
    y = (
        3.0 * np.sin(X[:, 0])
        + X[:, 1] * X[:, 2]
        + np.abs(X[:, 3])
        + 0.5 * X[:, 4 : min(10, args.features)].sum(axis=1)
        + 0.1 * rng.normal(size=args.train_rows)
    )
    params = {
        "objective": "regression",
        "num_leaves": args.leaves,
        "learning_rate": 0.05,
        "verbose": -1,
        "seed": args.seed,
    }
    start = time.perf_counter()
    booster = lgb.train(params, lgb.Dataset(X, y), num_boost_round=args.trees)
    print(
        f"trained {booster.num_trees()} trees, {args.leaves} leaves, {args.features} features "
        f"in {time.perf_counter() - start:.1f} s"
    )
    text = booster.model_to_string()
    load = _interleaved_best({"load": lambda: TreeEnsemble.from_lightgbm_text(text)}, 5)["load"]
    ensemble = TreeEnsemble.from_lightgbm_text(text)
    print(f"{ensemble!r}, {len(ensemble._key_feature)} distinct split keys")
    print(f"load (parse text + flatten):       {load * 1e3:10.1f} ms")

    X_batch = rng.normal(size=(args.batch, args.features))
    expected = booster.predict(X_batch)
    got = ensemble.predict(X_batch)
    print(
        f"batch agrees with LightGBM: max |diff| = {np.max(np.abs(got - expected)):.3g}, "
        f"bit-identical: {bool(np.array_equal(got, expected))}"
    )

    rows = X_batch[: args.single_rows]
    walker = _ChunkWalker(ensemble, 1)
    out = np.zeros(1)
    single = {
        "lightgbm Booster.predict(x[None])": lambda x: booster.predict(x[None]),
        "  (num_threads=1)": lambda x: booster.predict(x[None], num_threads=1),
        "TreeEnsemble.predict_one(x)": ensemble.predict_one,
        "TreeEnsemble.predict(x[None])": lambda x: ensemble.predict(x[None]),
        "  (batch walk on one row)": lambda x: walker.run(x[None], out, special=False),
    }
    best = _interleaved_best(
        {name: lambda fn=fn: [fn(x) for x in rows] for name, fn in single.items()},
        rounds=args.repeats * 4,
    )
    print(f"\nsingle row, best of {args.repeats * 4} rounds of {len(rows)} rows:")
    for name, seconds in best.items():
        print(f"  {name:36s} {seconds / len(rows) * 1e6:10.1f} us")

    batch = {
        "lightgbm Booster.predict(X)": lambda: booster.predict(X_batch),
        "  (num_threads=1)": lambda: booster.predict(X_batch, num_threads=1),
        "TreeEnsemble.predict(X)": lambda: ensemble.predict(X_batch),
    }
    best = _interleaved_best(batch, rounds=args.repeats)
    print(f"\nbatch of {args.batch:,} rows, best of {args.repeats}:")
    for name, seconds in best.items():
        print(f"  {name:36s} {args.batch / seconds:10,.0f} rows/s  ({seconds:.2f} s)")
    print(f"\n(cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
