from __future__ import annotations

import argparse

from optuna_eahas.cli._registry import open_storage

_EPILOG = """\
examples:
  eahas dashboard sqlite:///eahas-compare.db
  eahas dashboard compare.db --host 0.0.0.0 --port 8081

Studies run by 'eahas compare' carry its figures (regret against search energy and
time, the summary table, their Pareto front and learning curves) and a note with
their settings; every trial lists its energy, time and complexity (eahas:*) in its
user attributes.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="open a storage in optuna-dashboard",
        description="Serve the studies of a storage with optuna-dashboard until interrupted.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("storage", metavar="STORAGE", help="an Optuna storage URL or SQLite file")
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8080, help="the port to listen on (default 8080)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    import optuna_dashboard

    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be in 1..65535, got {args.port}.")
    storage = open_storage(args.storage, must_exist=True)
    print(
        f"optuna-dashboard on http://{args.host}:{args.port}/ serving {args.storage} "
        "(Ctrl-C stops it)",
        flush=True,
    )
    optuna_dashboard.run_server(storage, host=args.host, port=args.port)
