"""Benchmarks, samplers and pruners as the ``eahas`` commands name them."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

import optuna
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.storages import BaseStorage
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from sqlalchemy.exc import SQLAlchemyError

from optuna_eahas.benchmark import Benchmark
from optuna_eahas.space import DATASETS

# Optuna's built-ins, then this project's energy-aware methods (``optuna_eahas.samplers`` and
# ``optuna_eahas.pruners``, imported on first use).
ENERGY_AWARE_SAMPLERS = (
    "ea-random",
    "ea-tpe",
    "ls",
    "ea-ls",
    "bananas",
    "ea-bananas",
    "cost-aware",
)
SAMPLERS = ("random", "tpe", "gp", "cmaes", "nsgaii", "qmc", *ENERGY_AWARE_SAMPLERS)
ENERGY_AWARE_PRUNERS = ("ea-sh", "ea-hyperband", "ea-median", "ea-percentile")
PRUNERS = (
    "none",
    "median",
    "hyperband",
    "successive-halving",
    "percentile",
    *ENERGY_AWARE_PRUNERS,
)

# The longest training run in EA-HAS-Bench's space (max_epoch is 50, 100 or 200): the
# resource Hyperband allocates, in reported epochs.
_MAX_EPOCH = 200
_REQUIRES = {"gp": "torch", "cmaes": "cmaes"}


def make_sampler(
    name: str, *, seed: int | None = None, energy_budget_j: float | None = None
) -> BaseSampler:
    """A sampler by name; Optuna 5's samplers read the constraints set by the objective.

    The ``ea-`` samplers rank trials by accuracy penalised with per-epoch training energy, the
    paper's EA-BANANAS form (``MultiplicativePenalty``; EA-HAS-Bench, Section 5).
    ``energy_budget_j``, the search's budget, lets ``cost-aware`` cool its cost penalty.
    """
    if name not in SAMPLERS:
        raise ValueError(f"Unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}.")
    if name in ENERGY_AWARE_SAMPLERS:
        return _energy_aware_sampler(name, seed=seed, energy_budget_j=energy_budget_j)
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


def _energy_aware_sampler(
    name: str, *, seed: int | None, energy_budget_j: float | None
) -> BaseSampler:
    from optuna_eahas import samplers
    from optuna_eahas.energy import MultiplicativePenalty

    if name == "ea-random":
        return samplers.EnergyAwareSampler(
            optuna.samplers.RandomSampler(seed=seed), penalty=MultiplicativePenalty()
        )
    if name == "ea-tpe":
        return samplers.EnergyAwareSampler(
            optuna.samplers.TPESampler(seed=seed), penalty=MultiplicativePenalty()
        )
    if name in ("ls", "ea-ls"):
        penalty = MultiplicativePenalty() if name == "ea-ls" else None
        return samplers.LocalSearchSampler(penalty=penalty, seed=seed)
    if name in ("bananas", "ea-bananas"):
        penalty = MultiplicativePenalty() if name == "ea-bananas" else None
        return samplers.BananasSampler(penalty=penalty, seed=seed)
    return samplers.CostAwareSampler(seed=seed, energy_budget_j=energy_budget_j)


def make_pruner(name: str) -> BasePruner:
    """A pruner by name, set up for curves of 50 to 200 epochs reported every epoch."""
    if name not in PRUNERS:
        raise ValueError(f"Unknown pruner {name!r}; choose one of {', '.join(PRUNERS)}.")
    if name in ENERGY_AWARE_PRUNERS:
        return _energy_aware_pruner(name)
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=_MAX_EPOCH)
    if name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.PercentilePruner(25.0, n_startup_trials=5, n_warmup_steps=5)


def _energy_aware_pruner(name: str) -> BasePruner:
    """The energy-aware counterparts of the built-in pruners: median and percentile compare
    accuracies penalised by per-epoch energy (the default ``MultiplicativePenalty``) with the
    same settings; successive halving and Hyperband allocate rungs in joules (resources set
    from the first trials' energy)."""
    from optuna_eahas import pruners

    if name == "ea-median":
        return pruners.EnergyAwareMedianPruner(n_startup_trials=5, n_warmup_steps=5)
    if name == "ea-percentile":
        return pruners.EnergyAwarePercentilePruner(25.0, n_startup_trials=5, n_warmup_steps=5)
    if name == "ea-hyperband":
        return pruners.EnergyAwareHyperbandPruner()
    return pruners.EnergyAwareSuccessiveHalvingPruner()


def open_storage(url_or_path: str, *, must_exist: bool = False) -> BaseStorage:
    """An Optuna storage: an RDB URL, a SQLite file, or a journal file (a path ending in
    ``.log``; Optuna's ``JournalFileBackend``).

    SQLite waits up to a minute for a lock held by another process. A journal file stores a
    finished trial in one appended line, tens of times faster than an RDB, which writes each
    reported value in its own queries. With ``must_exist``, a file that does not exist is an
    error (reading commands must not create an empty storage).
    """
    if "://" not in url_or_path and url_or_path.endswith(".log"):
        if must_exist and not Path(url_or_path).is_file():
            raise ValueError(f"No storage {url_or_path!r}: the journal file does not exist.")
        return JournalStorage(JournalFileBackend(url_or_path))
    url = url_or_path if "://" in url_or_path else f"sqlite:///{url_or_path}"
    sqlite_file = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None
    if must_exist and sqlite_file is not None and not Path(sqlite_file).is_file():
        raise ValueError(
            f"No storage {url_or_path!r}: the SQLite file {sqlite_file} does not exist."
        )
    engine_kwargs = {"connect_args": {"timeout": 60}} if sqlite_file is not None else None
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
    except (ImportError, SQLAlchemyError, ValueError) as error:
        reason = str(error).splitlines()[0]
        raise ValueError(
            f"Cannot open storage {url_or_path!r}: {reason} (expected an Optuna storage URL such "
            "as sqlite:///eahas.db or postgresql://user:password@host/db, a SQLite file, or a "
            "journal file ending in .log)."
        ) from error


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
