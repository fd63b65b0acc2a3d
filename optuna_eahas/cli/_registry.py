"""Benchmarks, samplers and pruners as the ``eahas`` commands name them."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler

from optuna_eahas.benchmark import Benchmark
from optuna_eahas.space import DATASETS

SAMPLERS = ("random", "tpe", "gp", "cmaes", "nsgaii", "qmc")
PRUNERS = ("none", "median", "hyperband", "successive-halving", "percentile")

# The longest training run in EA-HAS-Bench's space (max_epoch is 50, 100 or 200): the
# resource Hyperband allocates, in reported epochs.
_MAX_EPOCH = 200
_REQUIRES = {"gp": "torch", "cmaes": "cmaes"}


def make_sampler(name: str, *, seed: int | None = None) -> BaseSampler:
    """A sampler by name; Optuna 5's samplers read the constraints set by the objective."""
    if name not in SAMPLERS:
        raise ValueError(f"Unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}.")
    package = _REQUIRES.get(name)
    if package is not None and importlib.util.find_spec(package) is None:
        raise ValueError(f"The {name} sampler needs {package!r}: pip install {package}.")
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "cmaes":
        # CMA-ES handles the numeric dimensions; the categorical ones are sampled at random.
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "nsgaii":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.QMCSampler(seed=seed, scramble=True, warn_independent_sampling=False)


def make_pruner(name: str) -> BasePruner:
    """A pruner by name, set up for curves of 50 to 200 epochs reported every epoch."""
    if name not in PRUNERS:
        raise ValueError(f"Unknown pruner {name!r}; choose one of {', '.join(PRUNERS)}.")
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=_MAX_EPOCH)
    if name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.PercentilePruner(25.0, n_startup_trials=5, n_warmup_steps=5)


def add_benchmark_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--dataset`` and ``--benchmark``, read back by :func:`load_benchmark`."""
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="the default benchmark shipped with the package (default cifar10)",
    )
    parser.add_argument(
        "--benchmark",
        type=Path,
        default=None,
        metavar="PATH",
        help="an artifact directory written by 'eahas fit' instead of the default benchmark",
    )


def load_benchmark(args: argparse.Namespace) -> Benchmark:
    """The benchmark named by ``--benchmark`` or ``--dataset``; they must agree if both given."""
    if args.benchmark is None:
        return Benchmark.load(args.dataset or "cifar10")
    benchmark = Benchmark.load(args.benchmark)
    if args.dataset is not None and args.dataset != benchmark.dataset:
        raise ValueError(
            f"--dataset {args.dataset} disagrees with --benchmark {args.benchmark}, "
            f"a {benchmark.dataset} benchmark."
        )
    return benchmark


def describe_benchmark(identity: dict[str, Any]) -> str:
    """One line naming a benchmark (``Benchmark.identity``), and saying if it is simulated."""
    records = identity.get("records")
    total = records.get("total") if isinstance(records, dict) else records
    line = (
        f"{identity.get('name')} ({identity.get('dataset')}, version {identity.get('version')}, "
        f"fitted on {total} records)"
    )
    if identity.get("simulated"):
        line += (
            " (simulated benchmark: its accuracies and energies are predictions fitted on "
            "simulated runs, not measurements)"
        )
    return line
