"""Fit error and speed of the Bézier fit of learning curves (EA-HAS-Bench, Section 4.2).

Fits synthetic noisy learning curves ``a - b * exp(-e / tau) + N(0, noise^2)`` with
chord-length parameterisation only and with parameter correction, and prints the RMSE (in
accuracy points) of the sampled curves against the noisy data and against the noise-free curves,
and the time per 10,000 curves.

    python benchmarks/bezier_fit.py [--curves 2000] [--noise 1.0] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from optuna_eahas.surrogate import fit_bezier
from optuna_eahas.surrogate import sample_bezier


def _curves(rng: np.random.Generator, n: int, n_epochs: int) -> np.ndarray:
    epochs = np.arange(1, n_epochs + 1)
    final = rng.uniform(60.0, 95.0, (n, 1))
    gain = rng.uniform(30.0, 80.0, (n, 1))
    tau = rng.uniform(0.03, 0.3, (n, 1)) * n_epochs
    return final - gain * np.exp(-epochs / tau)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", type=int, default=2000)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    print(f"{args.curves} curves per length, noise sd {args.noise} accuracy points")
    print(f"{'E':>4} {'corrections':>11} {'RMSE data':>10} {'RMSE clean':>11} {'s / 10k':>8}")
    for n_epochs in (50, 100, 200):
        clean = _curves(rng, args.curves, n_epochs)
        noisy = clean + rng.normal(0.0, args.noise, clean.shape)
        for n_corrections in (0, 3, 10, 20):
            start = time.perf_counter()
            control = fit_bezier(noisy, n_corrections=n_corrections)
            seconds = time.perf_counter() - start
            fitted = sample_bezier(control, n_epochs)
            data = np.sqrt(np.mean((fitted - noisy) ** 2))
            truth = np.sqrt(np.mean((fitted - clean) ** 2))
            per_10k = seconds * 10_000 / args.curves
            print(
                f"{n_epochs:>4} {n_corrections:>11} {data:>10.4f} {truth:>11.4f} {per_10k:>8.2f}"
            )


if __name__ == "__main__":
    main()
