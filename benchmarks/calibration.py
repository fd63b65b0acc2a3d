"""Print the reference simulator's calibration table: published fact, target, simulated value.

Usage: python benchmarks/calibration.py [--n 4000] [--seed 0] [--markdown]

The table is copied into docs/data-card-simulator.md.
"""

from __future__ import annotations

import argparse
import time

from optuna_eahas.simulate._calibration import calibration_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    for dataset in ("cifar10", "tinyimagenet"):
        start = time.perf_counter()
        checks = calibration_report(dataset, n=args.n, seed=args.seed)
        elapsed = time.perf_counter() - start
        print(f"\n{dataset}: {args.n} configurations, seed {args.seed} ({elapsed:.1f} s)\n")
        if args.markdown:
            print("| fact | target | simulated | holds | source |")
            print("|---|---|---|---|---|")
            for c in checks:
                holds = "yes" if c.passed else "NO"
                print(f"| {c.name} | {c.target} | {c.value:.4g} | {holds} | {c.source} |")
        else:
            for c in checks:
                print(c.row())
        print(f"\n{sum(c.passed for c in checks)} of {len(checks)} targets hold")


if __name__ == "__main__":
    main()
