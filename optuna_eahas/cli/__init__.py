"""The ``eahas`` command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import sys

from optuna_eahas.cli import _collect
from optuna_eahas.cli import _compare
from optuna_eahas.cli import _dashboard
from optuna_eahas.cli import _fit
from optuna_eahas.cli import _info
from optuna_eahas.cli import _query
from optuna_eahas.cli import _report
from optuna_eahas.cli import _run
from optuna_eahas.cli import _simulate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eahas",
        description=(
            "Energy-aware hyperparameter and architecture search with Optuna "
            "(EA-HAS-Bench, Dou et al., ICLR 2023)."
        ),
    )
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _simulate.add_parser(subparsers)
    _fit.add_parser(subparsers)
    _collect.add_parser(subparsers)
    _run.add_parser(subparsers)
    _compare.add_parser(subparsers)
    _report.add_parser(subparsers)
    _dashboard.add_parser(subparsers)
    _query.add_parser(subparsers)
    _info.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``eahas``; an expected error is one line on stderr and exit status 1."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, OSError) as error:
        print(f"eahas: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("eahas: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
