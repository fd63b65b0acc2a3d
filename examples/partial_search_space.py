"""Tune only the training hyperparameters of one fixed RegNet architecture.

    python examples/partial_search_space.py [--n-trials 30] [--benchmark PATH]

``search_space`` fixes a parameter with a value and narrows one with a distribution (which
must lie inside the space). The architecture below satisfies the paper's CIFAR-10 complexity
constraints, so every trial is feasible and the best trial is the best of all.
"""

from __future__ import annotations

import argparse

import optuna
from optuna.distributions import CategoricalDistribution

from optuna_eahas import Benchmark
from optuna_eahas import eahas_objective
from optuna_eahas import search_energy

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--n-trials", type=int, default=30)
parser.add_argument("--benchmark", default="cifar10", help="a dataset or an artifact directory")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

architecture = {"depth": 12, "w0": 96, "wa": 12.0, "wm": 2.57, "group_width": 16}
search_space = {
    **architecture,
    # Narrowed: at most 100 epochs. learning_rate, lr_policy, optimizer and cutout keep
    # their full ranges.
    "max_epoch": CategoricalDistribution([50, 100]),
}

optuna.logging.set_verbosity(optuna.logging.WARNING)
objective = eahas_objective(
    benchmark=Benchmark.load(args.benchmark), search_space=search_space, seed=args.seed
)
study = optuna.create_study(
    direction="maximize",
    sampler=optuna.samplers.TPESampler(seed=args.seed),
    pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=10),
)
study.optimize(objective, n_trials=args.n_trials)

best = study.best_trial
print(f"architecture: {architecture}")
print(f"best hyperparameters: {best.params}")
print(f"best accuracy: {best.value:.2f}% (trial {best.number})")
pruned = len(study.get_trials(states=[optuna.trial.TrialState.PRUNED]))
print(f"search energy: {search_energy(study) / 3.6e6:.3f} kWh ({pruned} trials pruned)")
