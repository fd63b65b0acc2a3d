from __future__ import annotations

import argparse
from typing import Any

from optuna_eahas.benchmark import Benchmark
from optuna_eahas.space import DATASETS

_EPILOG = """\
examples:
  eahas info                   # both default benchmarks
  eahas info tinyimagenet
  eahas info out/my-benchmark  # an artifact written by 'eahas fit'
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="describe a benchmark: provenance, records, validation, data card",
        description=(
            "Describe benchmarks: what they were fitted on (and whether those records\n"
            "are simulated), how well they predict held-out runs, and their data cards."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "benchmarks",
        nargs="*",
        metavar="DATASET|PATH",
        help=f"{' or '.join(DATASETS)} or an artifact directory (default: both datasets)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    names = args.benchmarks or list(DATASETS)
    benchmarks = [Benchmark.load(name) for name in names]
    print("\n\n".join(_describe(benchmark) for benchmark in benchmarks))


def _describe(benchmark: Benchmark) -> str:
    manifest = benchmark.surrogate.manifest
    identity = benchmark.identity
    records = manifest.get("records") or {}
    sources = ", ".join(f"{n} {source}" for source, n in records.get("by_source", {}).items())
    if identity["simulated"]:
        simulated = "yes: every record behind it is simulated, not measured"
    else:
        simulated = "no: fitted on measured runs"
    constraints = benchmark.space.constraints
    lines = [
        f"== {identity['name']} ==",
        f"dataset:      {identity['dataset']}",
        f"version:      {identity['version']}",
        f"simulated:    {simulated}",
        f"records:      {records.get('total')} ({sources})",
        *_validation_lines(manifest.get("metrics") or {}),
        "constraints:  "
        + (
            "the paper's complexity constraints (feasible when all <= 0)"
            if constraints
            else "none"
        ),
        "",
        benchmark.data_card.strip(),
    ]
    return "\n".join(lines)


def _validation_lines(metrics: dict[str, Any]) -> list[str]:
    curves = metrics.get("bcs", {}).get("overall")
    energy = metrics.get("energy")
    if curves is None or energy is None:
        return ["validation:   not recorded in the manifest"]
    return [
        f"validation:   learning curves R² {curves['curve_r2']:.3f}, final-accuracy Kendall "
        f"tau {curves['final_kendall_tau']:.3f} ({curves['n']} held-out records)",
        f"              energy R² {energy['tec_r2']:.3f} (total training), "
        f"{energy['iec_r2']:.3f} (inference); training time R² {energy['runtime_r2']:.3f}",
    ]
