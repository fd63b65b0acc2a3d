"""Spend an energy budget with cost-aware sampling: expected improvement per predicted joule.

    python examples/cost_aware_sampler.py [--budget-kwh 5] [--benchmark PATH]

``CostAwareSampler`` predicts each candidate's training energy before it runs (learnt online
from the finished trials) and divides the expected improvement by it, less and less as the
budget is spent (cost cooling). Each search stops once its trials' summed energy reaches
``--budget-kwh``; TPE runs under the same budget for comparison. The benchmark is fitted on a
reference simulator's records: the kWh printed are simulated, not measured.
"""

from __future__ import annotations

import argparse

import optuna

from optuna_eahas import Benchmark
from optuna_eahas import eahas_objective
from optuna_eahas import search_energy
from optuna_eahas.energy import consumed_energy
from optuna_eahas.samplers import CostAwareSampler

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--budget-kwh", type=float, default=5.0)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--benchmark", default="cifar10", help="a dataset or an artifact directory")
args = parser.parse_args()
budget_j = args.budget_kwh * 3.6e6


class StopAtBudget:
    """Stops the study once its trials' recorded energy reaches the budget."""

    def __init__(self) -> None:
        self.spent_j = 0.0

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.spent_j += consumed_energy(trial) or 0.0
        if self.spent_j >= budget_j:
            study.stop()


objective = eahas_objective(benchmark=Benchmark.load(args.benchmark), constraints="ignore")
optuna.logging.set_verbosity(optuna.logging.WARNING)
samplers = {
    "tpe": optuna.samplers.TPESampler(seed=args.seed),
    "cost-aware": CostAwareSampler(seed=args.seed, energy_budget_j=budget_j),
}
for name, sampler in samplers.items():
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, callbacks=[StopAtBudget()])
    kwh = search_energy(study) / 3.6e6
    print(
        f"{name}: best accuracy {study.best_value:.2f}% in {len(study.trials)} trials, "
        f"search energy {kwh:.2f} kWh"
    )
