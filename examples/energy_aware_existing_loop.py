"""Make an existing Optuna loop energy-aware: what changes, and what does not.

    python examples/energy_aware_existing_loop.py [--n-trials 30]

The loop below tunes a small NumPy logistic regression, as a stand-in for your own training
code; it needs no benchmark. Two changes, marked ``# energy-aware``, make it energy-aware:

1. The objective calls ``energy.record`` with the energy spent so far, before every
   ``trial.report``, so a pruned trial has paid for the epochs it ran.
2. After the study, ``search_energy(study)`` sums the energy of all trials, pruned included.

What it measures here is an estimate: wall time times an assumed power draw
(``ASSUMED_WATTS``), recorded with ``estimated=True``. Replace it with a meter reading (NVML
for a GPU, RAPL for a CPU) to record measurements. Nothing else changes: the sampler, the
pruner and the returned value are the loop's own.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import optuna

from optuna_eahas import energy
from optuna_eahas import search_energy

ASSUMED_WATTS = 65.0  # An assumption (a desktop CPU's package power), not a measurement.
EPOCHS = 30

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--n-trials", type=int, default=30)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

rng = np.random.default_rng(args.seed)
weights = rng.normal(size=20)
x = rng.normal(size=(3000, 20))
y = (x @ weights + rng.normal(scale=2.0, size=3000) > 0).astype(float)
x_train, y_train, x_valid, y_valid = x[:2000], y[:2000], x[2000:], y[2000:]


def objective(trial: optuna.Trial) -> float:
    learning_rate = trial.suggest_float("learning_rate", 1e-4, 1.0, log=True)
    l2 = trial.suggest_float("l2", 1e-6, 1.0, log=True)
    batch_size = trial.suggest_categorical("batch_size", [16, 64, 256])
    w = np.zeros(x_train.shape[1])
    shuffle = np.random.default_rng(trial.number)
    seconds = 0.0
    accuracy = 0.0
    for epoch in range(1, EPOCHS + 1):
        start = time.perf_counter()
        for batch in np.array_split(shuffle.permutation(len(x_train)), len(x_train) // batch_size):
            p = 1.0 / (1.0 + np.exp(-x_train[batch] @ w))
            w -= learning_rate * (x_train[batch].T @ (p - y_train[batch]) / len(batch) + l2 * w)
        seconds += time.perf_counter() - start
        accuracy = float(np.mean((x_valid @ w > 0) == y_valid))
        # energy-aware (1 of 2): record the energy spent so far, before reporting.
        energy.record(
            trial,
            seconds * ASSUMED_WATTS,
            seconds=seconds,
            epochs=epoch,
            estimated=True,
            source="estimate",
        )
        trial.report(accuracy, step=epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return accuracy


optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(
    direction="maximize",
    sampler=optuna.samplers.TPESampler(seed=args.seed),
    pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=3),
)
study.optimize(objective, n_trials=args.n_trials)

print(f"best validation accuracy: {study.best_value:.3f} with {study.best_params}")
# energy-aware (2 of 2): the search energy, every trial included.
joules = search_energy(study)
print(f"search energy: {joules:.1f} J = {joules / 3.6e6:.2e} kWh (estimated, {ASSUMED_WATTS} W)")
