from __future__ import annotations

import argparse
from pathlib import Path

from tqdm.auto import tqdm

from optuna_eahas.records import write_records
from optuna_eahas.simulate import ReferenceSimulator
from optuna_eahas.space import DATASETS

DEFAULT_CONSTRAINED_FRACTION = 0.75


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="write simulated run records from the reference simulator",
        description=(
            "Write run records from the reference simulator, a generative model calibrated to "
            "published figures (docs/data-card-simulator.md). Every record is marked "
            "'source: simulated': these are not measurements. Deterministic for a seed."
        ),
    )
    parser.add_argument("--dataset", choices=DATASETS, default="cifar10")
    parser.add_argument("--n", type=int, default=20_000, help="number of records (default 20000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--constrained-fraction",
        type=float,
        default=DEFAULT_CONSTRAINED_FRACTION,
        help=(
            "CIFAR-10 only: share of configurations satisfying the paper's complexity "
            "constraints (its own sweep); the rest cover the whole space (default 0.75)"
        ),
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="a .jsonl or .jsonl.gz file"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    if args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}.")
    if not args.output.name.endswith((".jsonl", ".jsonl.gz")):
        raise ValueError(f"--output must end in .jsonl or .jsonl.gz, got {args.output}.")
    simulator = ReferenceSimulator(args.dataset)
    configs, seeds = simulator.sample_configs(
        args.n, seed=args.seed, constrained_fraction=args.constrained_fraction
    )
    records = simulator.iter_simulate(configs, seeds=seeds)
    progress = tqdm(
        records, total=args.n, desc=f"simulate {args.dataset}", unit="run", disable=None
    )
    write_records(args.output, progress)
    print(f"wrote {args.n} simulated {args.dataset} records to {args.output}")
