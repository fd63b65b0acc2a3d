"""Trade accuracy against training energy with NSGA-II and print the Pareto front.

    python examples/multi_objective.py [--n-trials 30] [--benchmark PATH]

With ``multi_objective=True`` the objective returns ``(accuracy, training energy in kWh)``.
Optuna cannot prune multi-objective studies, so every trial trains to its last epoch.
"""

from __future__ import annotations

import argparse

import optuna

from optuna_eahas import Benchmark
from optuna_eahas import eahas_objective
from optuna_eahas import search_energy

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--n-trials", type=int, default=30)
parser.add_argument("--benchmark", default="cifar10", help="a dataset or an artifact directory")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

optuna.logging.set_verbosity(optuna.logging.WARNING)
objective = eahas_objective(
    benchmark=Benchmark.load(args.benchmark), multi_objective=True, constraints="ignore"
)
study = optuna.create_study(
    directions=objective.directions, sampler=optuna.samplers.NSGAIISampler(seed=args.seed)
)
study.optimize(objective, n_trials=args.n_trials)

front = sorted(study.best_trials, key=lambda t: t.values[1])
print(f"Pareto front: {len(front)} of {len(study.trials)} trials")
for trial in front:
    accuracy, kwh = trial.values
    print(f"  trial {trial.number:3d}: {accuracy:6.2f}% for {kwh:.4f} kWh")
print(f"search energy: {search_energy(study) / 3.6e6:.3f} kWh")
