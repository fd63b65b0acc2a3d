from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from optuna_eahas.cli._registry import open_storage
from optuna_eahas.space import DATASETS

_DESCRIPTION = """\
Train EA-HAS-Bench configurations with PyTorch and append a run record for
each finished run, with the energy an energy meter measured (NVML on NVIDIA
GPUs, RAPL on CPUs, else an estimate; the record says which). Nothing is
downloaded: --data-dir must hold the dataset. Running the same command again
resumes: configurations already in the output file (or completed in the
storage) are skipped. Several machines can collect into one --storage.
"""
_EPILOG = """\
examples:
  eahas collect --data-dir data/cifar10 --n 20 -o records.jsonl
  eahas collect --data-dir data/cifar10 --subset 0.1 --epochs 10 \\
      --storage sqlite:///collect.db -o records.jsonl
  eahas collect --dataset tinyimagenet --data-dir data --configs configs.jsonl -o tiny.jsonl
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "collect",
        help="train configurations for real and append measured run records",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", choices=DATASETS, default="cifar10")
    parser.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        help="the dataset's folder (cifar-10-batches-py, cifar10-jpeg.npz, tiny-imagenet-200, "
        "or train/<class>/ and test/<class>/ image folders)",
    )
    parser.add_argument(
        "--n",
        type=int,
        default=None,
        help="configurations to train (default 20 drawn at random, or all of --configs)",
    )
    parser.add_argument("--seed", type=int, default=0, help="draws, data subset and training")
    parser.add_argument(
        "--configs",
        type=Path,
        default=None,
        metavar="FILE.jsonl",
        help="train these configurations (one JSON object per line: the ten parameters, or "
        "a run record whose config is taken) instead of random ones",
    )
    parser.add_argument(
        "--subset",
        type=float,
        default=1.0,
        help="fraction of the training set to train on (default 1)",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="stop each run after this many epochs"
    )
    parser.add_argument(
        "--device", default=None, help="torch device (default cuda when available, else cpu)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="images per step (default 1024)"
    )
    parser.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="also record each run as a trial of an Optuna study in this storage (a "
        "postgresql://USER:PASSWORD@HOST/DB URL lets collectors on several machines share "
        "the work)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="a .jsonl or .jsonl.gz file"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    # Imported here: torch is needed by this command only.
    try:
        from optuna_eahas.train._collect import collect
    except ModuleNotFoundError as error:
        raise ValueError(
            f"eahas collect needs PyTorch ({error}): pip install 'optuna-eahas[torch]'."
        ) from None

    if args.n is not None and args.n < 1:
        raise ValueError(f"--n must be at least 1, got {args.n}.")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {args.epochs}.")
    if not args.output.name.endswith((".jsonl", ".jsonl.gz")):
        raise ValueError(f"--output must end in .jsonl or .jsonl.gz, got {args.output}.")
    configs = None if args.configs is None else read_configs(args.configs)
    # SQLite waits for the lock other collectors hold; a bad URL fails here, before training.
    storage = None if args.storage is None else open_storage(args.storage)

    def report(record: Any) -> None:
        print(
            f"{record.final_test_accuracy:6.2f} %  {record.total_train_energy_j / 3.6e3:9.3f} Wh"
            f"  {record.epochs:3d} epochs  {record.provenance.source}  {record.config}",
            flush=True,
        )

    written = collect(
        dataset=args.dataset,
        data_dir=args.data_dir,
        output=args.output,
        n=args.n,
        seed=args.seed,
        configs=configs,
        subset=args.subset,
        epochs=args.epochs,
        device=args.device,
        storage=storage,
        batch_size=args.batch_size,
        on_record=report,
    )
    print(f"wrote {len(written)} {args.dataset} records to {args.output}")


def read_configs(path: Path) -> list[dict[str, Any]]:
    """Configurations from a JSON Lines file: each line the ten parameters, or a run record."""
    configs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as error:
            raise ValueError(f"{path}:{number}: invalid JSON ({error}).") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object.")
        configs.append(data["config"] if "config" in data else data)
    return configs
