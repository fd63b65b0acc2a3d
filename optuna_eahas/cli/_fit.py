from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from optuna_eahas.records import iter_records
from optuna_eahas.surrogate import fit_surrogate
from optuna_eahas.surrogate import format_report_table
from optuna_eahas.surrogate import surrogate_data_card


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fit",
        help="fit a surrogate benchmark (BCS + energy models) on run records",
        description=(
            "Fit EA-HAS-Bench's surrogate on run records: Bezier-curve learning curves (BCS) "
            "and LightGBM energy/time models. Holds out records to validate against two "
            "baselines, prints the report and stores it in the artifact's manifest."
        ),
    )
    parser.add_argument("records", nargs="+", type=Path, help=".jsonl or .jsonl.gz record files")
    parser.add_argument("-o", "--output", type=Path, required=True, help="artifact directory")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--members", type=int, default=5, help="BCS ensemble size (default 5)")
    parser.add_argument(
        "--trials", type=int, default=8, help="Optuna trials of the BCS search (default 8)"
    )
    parser.add_argument(
        "--search-timeout",
        type=float,
        default=None,
        help="stop the search after this many seconds (makes the fit non-deterministic)",
    )
    parser.add_argument("--no-baselines", action="store_true", help="skip the baseline models")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing artifact")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    if args.output.exists() and not args.overwrite:
        raise ValueError(f"{args.output} exists; pass --overwrite to replace it.")
    records = []
    for path in args.records:
        records.extend(
            tqdm(iter_records(path), desc=f"read {path.name}", unit="run", disable=None)
        )
    steps = tqdm(total=7 if not args.no_baselines else 5, desc="fit", disable=None)

    def progress(message: str) -> None:
        steps.set_postfix_str(message[:60])
        steps.update(1)

    fitted = fit_surrogate(
        records,
        seed=args.seed,
        n_members=args.members,
        n_trials=args.trials,
        search_timeout=args.search_timeout,
        baselines=not args.no_baselines,
        progress=progress,
    )
    steps.close()
    fitted.save(args.output, data_card=surrogate_data_card(fitted), overwrite=args.overwrite)
    metrics = fitted.metrics
    curve_models: dict[str, Any] = {
        name: metrics[name] for name in ("bcs", "svd_lightgbm", "pow3") if name in metrics
    }
    print(format_report_table(curve_models))
    print(json.dumps(metrics["energy"], indent=2))
    print(f"wrote {args.output}")
