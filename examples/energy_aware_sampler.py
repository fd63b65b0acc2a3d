"""Make any Optuna sampler energy-aware: TPE against EnergyAwareSampler(TPE).

    python examples/energy_aware_sampler.py [--n-trials 200] [--benchmark PATH]

Only the sampler changes: ``EnergyAwareSampler`` lets TPE rank finished trials by accuracy
penalised with per-epoch training energy (EA-HAS-Bench's EA-BANANAS form,
``acc * (TEC / 1 Wh) ** -0.07``), so it spends less energy per trial. The benchmark is fitted
on a reference simulator's records: the kWh printed are simulated, not measured.
"""

from __future__ import annotations

import argparse

import optuna

from optuna_eahas import Benchmark
from optuna_eahas import eahas_objective
from optuna_eahas import search_energy
from optuna_eahas.energy import MultiplicativePenalty
from optuna_eahas.samplers import EnergyAwareSampler

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--n-trials", type=int, default=200)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--benchmark", default="cifar10", help="a dataset or an artifact directory")
args = parser.parse_args()

objective = eahas_objective(benchmark=Benchmark.load(args.benchmark), constraints="ignore")
optuna.logging.set_verbosity(optuna.logging.WARNING)
samplers = {
    "tpe": optuna.samplers.TPESampler(seed=args.seed),
    "ea-tpe": EnergyAwareSampler(
        optuna.samplers.TPESampler(seed=args.seed), penalty=MultiplicativePenalty()
    ),
}
for name, sampler in samplers.items():
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=args.n_trials)
    kwh = search_energy(study) / 3.6e6
    print(
        f"{name}: best accuracy {study.best_value:.2f}% in {len(study.trials)} trials, "
        f"search energy {kwh:.2f} kWh"
    )
