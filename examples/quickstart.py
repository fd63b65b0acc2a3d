"""Search EA-HAS-Bench with Optuna's defaults and count the search energy.

python examples/quickstart.py [--n-trials 30] [--benchmark PATH]
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
args = parser.parse_args()

# The paper's CIFAR-10 complexity constraints are ignored here (partial_search_space.py
# keeps them): few of the joint space's configurations satisfy them.
objective = eahas_objective(benchmark=Benchmark.load(args.benchmark), constraints="ignore")
study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner())
study.optimize(objective, n_trials=args.n_trials)

print(f"best accuracy: {study.best_value:.2f}% with {study.best_params}")
print(f"search energy: {search_energy(study) / 3.6e6:.3f} kWh")
