from __future__ import annotations

import argparse
import datetime
import html
import os
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.study import StudyDirection

from optuna_eahas import energy
from optuna_eahas.benchmark import Benchmark
from optuna_eahas.benchmark import estimate_optimum
from optuna_eahas.cli._registry import describe_benchmark
from optuna_eahas.cli._registry import open_storage
from optuna_eahas.space import DATASETS
from optuna_eahas.visualization import _study_attrs

_EPILOG = """\
examples:
  eahas report sqlite:///eahas-compare.db -o report.html
  eahas report compare.db -o out/report.html --optimum 95.52

The file embeds plotly's JavaScript (about 5 MB), so it opens offline.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write one self-contained HTML report of the studies in a storage",
        description=(
            "Write one self-contained HTML file (it works offline) comparing the studies in\n"
            "a storage, per benchmark: test regret against search energy and against\n"
            "training time (median and interquartile band over seeds, log scale), final\n"
            "accuracy against training energy of every completed configuration with its\n"
            "Pareto front, learning curves of the best configurations, and a summary table.\n"
            "Studies run by 'eahas compare' are grouped by method; others by name."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("storage", metavar="STORAGE", help="an Optuna storage URL or SQLite file")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("report.html"),
        metavar="PATH",
        help="the HTML file to write (default report.html)",
    )
    parser.add_argument(
        "--optimum",
        type=float,
        default=None,
        metavar="ACCURACY",
        help="the benchmark's best accuracy (%%) to measure regret from (default: the one "
        "'eahas compare' stored, else estimated for a default benchmark)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from optuna_eahas import visualization

    if not args.output.parent.is_dir():
        raise ValueError(
            f"Cannot write {args.output}: the folder {args.output.parent} is missing."
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(args.storage, must_exist=True)
    by_benchmark = _studies_by_benchmark(storage)
    if not by_benchmark:
        raise ValueError(
            f"No study in {args.storage} recorded training energy as a single-objective "
            "accuracy search; run 'eahas compare' or 'eahas run' into it first."
        )
    if args.optimum is not None and len(by_benchmark) > 1:
        names = " and ".join(str(identity.get("name")) for identity, _ in by_benchmark)
        raise ValueError(
            f"--optimum is one benchmark's, but {args.storage} holds studies on {names}; "
            "leave it out (the optima are stored or estimated per benchmark)."
        )
    sections: list[str] = []
    for identity, studies in by_benchmark:
        optimum = _optimum(studies, identity, args.optimum)
        figures = [
            visualization.plot_regret_vs_energy(studies, optimum=optimum),
            visualization.plot_regret_vs_time(studies, optimum=optimum),
            visualization.plot_pareto_front_energy(studies),
            visualization.plot_learning_curves(studies, n_best=3),
            visualization.plot_regret_summary(studies, optimum=optimum),
        ]
        sections.append(_section(identity, studies, optimum, figures, first=not sections))
    _write(args.output, _page(args.storage, sections))
    size_mb = args.output.stat().st_size / 1e6
    print(f"Wrote {args.output} ({size_mb:.1f} MB): {_counts(by_benchmark)}.")


def _studies_by_benchmark(
    storage: BaseStorage,
) -> list[tuple[dict[str, Any], list[optuna.Study]]]:
    """Single-objective maximisations that recorded energy, grouped by their benchmark."""
    groups: list[tuple[dict[str, Any], list[optuna.Study]]] = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        if summary.directions != [StudyDirection.MAXIMIZE]:
            continue
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        identity = study.user_attrs.get(energy.BENCHMARK) or next(
            (
                t.user_attrs[energy.BENCHMARK]
                for t in study.get_trials(deepcopy=False)
                if energy.ENERGY_J in t.user_attrs and energy.BENCHMARK in t.user_attrs
            ),
            None,
        )
        if identity is None:
            continue
        for known, studies in groups:
            if known == identity:
                studies.append(study)
                break
        else:
            groups.append((identity, [study]))
    return groups


def _optimum(studies: list[optuna.Study], identity: dict[str, Any], given: float | None) -> float:
    if given is not None:
        return given
    stored = {
        float(s.user_attrs[_study_attrs.OPTIMUM_ACCURACY])
        for s in studies
        if _study_attrs.OPTIMUM_ACCURACY in s.user_attrs
    }
    if len(stored) == 1:
        return stored.pop()
    name = identity.get("name")
    benchmark = Benchmark.load(name) if name in DATASETS else None
    if benchmark is not None and benchmark.identity == identity:
        print(f"Estimating the optimum of {name} for test regret (about 10 s) ...")
        return estimate_optimum(benchmark, seed=0).accuracy
    raise ValueError(
        f"The studies on {describe_benchmark(identity)} stored no optimum to measure regret "
        "from and it is not a default benchmark; pass --optimum ACCURACY."
    )


def _section(
    identity: dict[str, Any],
    studies: list[optuna.Study],
    optimum: float,
    figures: list[Any],
    *,
    first: bool,
) -> str:
    settings = studies[0].user_attrs
    budget = settings.get(_study_attrs.BUDGET_J)
    lines = [
        f"<h2>{html.escape(str(identity.get('name')))}</h2>",
        f"<p>Benchmark: {html.escape(describe_benchmark(identity))}.</p>",
        f"<p>{len(studies)} studies. Test regret is measured from the optimum "
        f"{optimum:.2f}% (the best final accuracy an estimate found; a search that beats it has "
        "regret zero, drawn at 0.001 on log axes)."
        + (f" Budget: {float(budget) / 3.6e6:g} kWh of search energy per study." if budget else "")
        + "</p>",
    ]
    if _study_attrs.PROTOCOL in settings:
        lines.append(f"<p>Protocol: {html.escape(settings[_study_attrs.PROTOCOL])}.</p>")
    for i, figure in enumerate(figures):
        lines.append(
            figure.to_html(full_html=False, include_plotlyjs=first and i == 0, default_height=520)
        )
    return "\n".join(lines)


def _page(storage: str, sections: list[str]) -> str:
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>optuna-eahas report</title>
<style>body {{ font-family: sans-serif; max-width: 1200px; margin: auto; }}</style>
</head>
<body>
<h1>optuna-eahas report</h1>
<p>Studies in <code>{html.escape(storage)}</code>, generated {generated}. Energy-aware
hyperparameter and architecture search on EA-HAS-Bench (Dou et al., ICLR 2023). Search energy
is the training energy of all trials, pruned ones included. A benchmark marked simulated answers
with predictions fitted on a reference simulator's records: its numbers are not
measurements.</p>
{"".join(sections)}
</body>
</html>
"""


def _write(path: Path, text: str) -> None:
    """Write whole or not at all: an interrupted run leaves any earlier report intact."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _counts(by_benchmark: list[tuple[dict[str, Any], list[optuna.Study]]]) -> str:
    return ", ".join(
        f"{len(s)} stud{'ies' if len(s) > 1 else 'y'} on {identity.get('name')}"
        for identity, s in by_benchmark
    )
