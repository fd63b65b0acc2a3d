"""EA-HAS-Bench's local search: LS against energy-aware LS (EA-LS).

    python examples/local_search_sampler.py [--n-trials 200] [--benchmark PATH]

``LocalSearchSampler`` walks from the best configuration to neighbours that resample either
the architecture or the training hyperparameters; with a ``penalty`` (EA-LS) it accepts a
move when the energy-penalised accuracy improves. The benchmark is fitted on a reference
simulator's records: the kWh printed are simulated, not measured.
"""

from __future__ import annotations

import argparse

import optuna

from optuna_eahas import Benchmark
from optuna_eahas import eahas_objective
from optuna_eahas import search_energy
from optuna_eahas.energy import MultiplicativePenalty
from optuna_eahas.samplers import LocalSearchSampler

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--n-trials", type=int, default=200)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--benchmark", default="cifar10", help="a dataset or an artifact directory")
args = parser.parse_args()

objective = eahas_objective(benchmark=Benchmark.load(args.benchmark), constraints="ignore")
optuna.logging.set_verbosity(optuna.logging.WARNING)
for name, penalty in (("ls", None), ("ea-ls", MultiplicativePenalty())):
    study = optuna.create_study(
        direction="maximize", sampler=LocalSearchSampler(penalty=penalty, seed=args.seed)
    )
    study.optimize(objective, n_trials=args.n_trials)
    kwh = search_energy(study) / 3.6e6
    print(
        f"{name}: best accuracy {study.best_value:.2f}% in {len(study.trials)} trials, "
        f"search energy {kwh:.2f} kWh"
    )
