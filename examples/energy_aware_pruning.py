"""Prune by energy and stop the search at a kWh budget.

TPE with EnergyAwareHyperbandPruner (Hyperband whose resource is joules) inside a BudgetPruner,
and the SearchEnergyBudget callback: the search stops once its trials' summed training energy
reaches the budget, and the trial in flight then is pruned at its next report.

python examples/energy_aware_pruning.py [--budget-kwh 2] [--benchmark PATH]
"""

from __future__ import annotations

import argparse

import optuna

from optuna_eahas import Benchmark
from optuna_eahas import eahas_objective
from optuna_eahas import search_energy
from optuna_eahas.pruners import BudgetPruner
from optuna_eahas.pruners import EnergyAwareHyperbandPruner
from optuna_eahas.pruners import SearchEnergyBudget

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--budget-kwh", type=float, default=2.0)
parser.add_argument("--benchmark", default="cifar10", help="a dataset or an artifact directory")
args = parser.parse_args()

# Reports every 5 epochs (the pruner judges at each); the complexity constraints are ignored.
objective = eahas_objective(
    benchmark=Benchmark.load(args.benchmark), constraints="ignore", report_interval=5
)
study = optuna.create_study(
    direction="maximize",
    sampler=optuna.samplers.TPESampler(seed=0),
    pruner=BudgetPruner(EnergyAwareHyperbandPruner(), kwh=args.budget_kwh),
)
study.optimize(objective, callbacks=[SearchEnergyBudget(args.budget_kwh)])

pruned = study.get_trials(states=(optuna.trial.TrialState.PRUNED,))
print(f"best accuracy: {study.best_value:.2f}% with {study.best_params}")
print(f"trials: {len(study.trials)} ({len(pruned)} pruned)")
print(f"search energy: {search_energy(study) / 3.6e6:.3f} kWh (budget {args.budget_kwh:g} kWh)")
