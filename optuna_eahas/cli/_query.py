from __future__ import annotations

import argparse
import json
from typing import Any

from optuna_eahas.benchmark import QueryResult
from optuna_eahas.cli._registry import add_benchmark_arguments
from optuna_eahas.cli._registry import load_benchmark

_J_PER_KWH = 3.6e6
_DESCRIPTION = """\
Ask the benchmark about one configuration of the ten parameters and print the
answer as JSON: the EMA test-accuracy curve (percent, one value per epoch),
training energy per epoch and in total (joules and kWh), training and
test-pass time, the RegNet's complexity and the paper's constraints.
"""
_EPILOG = """\
example:
  eahas query --param depth=10 --param w0=64 --param wa=20.5 --param wm=2.75 \\
      --param group_width=8 --param learning_rate=0.1 --param max_epoch=100 \\
      --param lr_policy=cos --param optimizer=sgd --param cutout=16

  eahas query --json "$(cat config.json)" --param max_epoch=200

Values are read as JSON where they parse (numbers) and as text otherwise (cos, sgd).
'eahas info' describes the benchmark; an invalid value is reported with the allowed ones.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "query",
        help="answer one configuration as JSON: learning curve, energy, time, constraints",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_benchmark_arguments(parser)
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="one parameter; repeat for each (overrides --json)",
    )
    parser.add_argument(
        "--json", default=None, metavar="OBJECT", help="parameters as a JSON object"
    )
    parser.add_argument(
        "--noise",
        action="store_true",
        help="answer one realistic run instead of the surrogate's mean curve",
    )
    parser.add_argument("--seed", type=int, default=None, help="seeds --noise")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    params = _parse_params(args.json, args.param)
    benchmark = load_benchmark(args)
    result = benchmark.query(params, noise=args.noise, seed=args.seed)
    answer = {"benchmark": benchmark.identity, **_to_dict(result)}
    print(json.dumps(answer, indent=2))


def _to_dict(result: QueryResult) -> dict[str, Any]:
    """A :class:`QueryResult` as plain JSON types, energies in joules and in kWh."""
    energy_j = result.train_energy_j.tolist()
    return {
        "params": result.params,
        "final_accuracy": result.final_accuracy,
        "curve": result.test_accuracy.tolist(),
        "energy": {
            "train_j": energy_j,
            "train_kwh": [joules / _J_PER_KWH for joules in energy_j],
            "total_train_j": result.total_train_energy_j,
            "total_train_kwh": result.total_train_energy_j / _J_PER_KWH,
            "inference_j": result.test_energy_j,
            "inference_kwh": result.test_energy_j / _J_PER_KWH,
        },
        "time_s": {
            "train": result.train_time_s.tolist(),
            "total_train": result.total_train_time_s,
            "inference": result.test_time_s,
        },
        "complexity": result.complexity.to_dict(),
        "constraints": result.constraints,
        "feasible": result.feasible,
    }


def _parse_params(text: str | None, pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if text is not None:
        try:
            params = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"--json is not valid JSON: {error}.") from error
        if not isinstance(params, dict):
            raise ValueError(f"--json must be a JSON object of parameters, got {text!r}.")
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--param expects NAME=VALUE, got {pair!r}.")
        try:
            params[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[name.strip()] = value.strip()
    if not params:
        raise ValueError("Give the configuration with --param NAME=VALUE or --json.")
    return params
