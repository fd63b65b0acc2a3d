from __future__ import annotations

import argparse
import threading

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
from sqlalchemy.exc import SQLAlchemyError
from tqdm.auto import tqdm

from optuna_eahas import energy
from optuna_eahas.benchmark import Benchmark
from optuna_eahas.cli._registry import PRUNERS
from optuna_eahas.cli._registry import SAMPLERS
from optuna_eahas.cli._registry import add_benchmark_arguments
from optuna_eahas.cli._registry import describe_benchmark
from optuna_eahas.cli._registry import load_benchmark
from optuna_eahas.cli._registry import make_pruner
from optuna_eahas.cli._registry import make_sampler
from optuna_eahas.objective import eahas_objective
from optuna_eahas.objective import search_energy

_J_PER_KWH = 3.6e6
_DESCRIPTION = """\
Search EA-HAS-Bench's joint architecture and hyperparameter space with an
Optuna sampler and pruner. Each trial asks the surrogate benchmark for a
configuration's learning curve and reports it epoch by epoch, so the pruner
can stop it early. The training energy every trial spent, pruned ones
included, adds up to the search energy. The study is stored (SQLite by
default); running the same command again continues it.
"""
_EPILOG = """\
examples:
  eahas run --n-trials 100 --seed 0
  eahas run --sampler random --pruner hyperband --budget-kwh 50 --storage sqlite:///bench.db
  eahas run --dataset tinyimagenet --constraints ignore --n-jobs 2

Inspect the study in a browser with optuna-dashboard:
  optuna-dashboard sqlite:///eahas.db
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="search EA-HAS-Bench with an Optuna sampler and pruner, counting search energy",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_benchmark_arguments(parser)
    parser.add_argument(
        "--sampler", choices=SAMPLERS, default="tpe", help="how trials are proposed (default tpe)"
    )
    parser.add_argument(
        "--pruner",
        choices=PRUNERS,
        default="median",
        help="how trials are stopped early (default median)",
    )
    parser.add_argument(
        "--n-trials", type=int, default=200, metavar="N", help="trials to run now (default 200)"
    )
    parser.add_argument(
        "--budget-kwh",
        type=float,
        default=None,
        metavar="KWH",
        help="stop once the study's search energy reaches this many kWh (default: no budget)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seeds the sampler (and --noise)")
    parser.add_argument(
        "--noise",
        action="store_true",
        help="answer a realistic single run per trial instead of the surrogate's mean curve",
    )
    parser.add_argument(
        "--report-interval",
        type=int,
        default=1,
        metavar="N",
        help=(
            "report the accuracy (and record the energy) every N epochs; each report is a few "
            "storage writes, so a larger N makes database storages much faster (default 1)"
        ),
    )
    parser.add_argument(
        "--constraints",
        choices=("record", "skip", "ignore"),
        default="record",
        help=(
            "the paper's CIFAR-10 complexity constraints: record them (the best trial is the "
            "feasible best), skip infeasible configurations at zero energy, or ignore them "
            "(default record)"
        ),
    )
    parser.add_argument(
        "--storage",
        default="sqlite:///eahas.db",
        metavar="URL",
        help="an Optuna storage URL (default sqlite:///eahas.db)",
    )
    parser.add_argument(
        "--study-name",
        default=None,
        metavar="NAME",
        help="(default: made of the benchmark and the settings, e.g. cifar10-tpe-median-record)",
    )
    parser.add_argument(
        "--n-jobs", type=int, default=1, metavar="N", help="parallel threads (default 1)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    if args.n_trials < 1:
        raise ValueError(f"--n-trials must be at least 1, got {args.n_trials}.")
    if args.report_interval < 1:
        raise ValueError(f"--report-interval must be at least 1, got {args.report_interval}.")
    if args.n_jobs < 1:
        raise ValueError(f"--n-jobs must be at least 1, got {args.n_jobs}.")
    if args.budget_kwh is not None and not args.budget_kwh > 0:
        raise ValueError(f"--budget-kwh must be positive, got {args.budget_kwh}.")
    benchmark = load_benchmark(args)
    objective = eahas_objective(
        benchmark=benchmark,
        seed=args.seed,
        noise=args.noise,
        report_interval=args.report_interval,
        constraints=args.constraints,
    )
    study_name = args.study_name or _default_study_name(benchmark, args)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(
            storage=args.storage,
            study_name=study_name,
            sampler=make_sampler(args.sampler, seed=args.seed),
            pruner=make_pruner(args.pruner),
            direction="maximize",
            load_if_exists=True,
        )
    except (ImportError, SQLAlchemyError) as error:
        reason = str(error).splitlines()[0]
        raise ValueError(
            f"Cannot open storage {args.storage!r}: {reason} "
            "(expected an Optuna storage URL such as sqlite:///eahas.db)."
        ) from error
    _check_continuable(study, benchmark)

    budget_j = None if args.budget_kwh is None else args.budget_kwh * _J_PER_KWH
    n_before = len(study.get_trials(deepcopy=False))
    progress = _Progress(study, total=args.n_trials, budget_j=budget_j)
    if not progress.budget_reached():
        try:
            study.optimize(
                objective, n_trials=args.n_trials, n_jobs=args.n_jobs, callbacks=[progress]
            )
        finally:
            progress.close()
    print(_summary(study, benchmark, args, n_before=n_before, budget_j=budget_j))


def _default_study_name(benchmark: Benchmark, args: argparse.Namespace) -> str:
    name = f"{benchmark.name}-{args.sampler}-{args.pruner}-{args.constraints}"
    if args.seed is not None:
        name += f"-seed{args.seed}"
    return name + ("-noise" if args.noise else "")


def _check_continuable(study: optuna.Study, benchmark: Benchmark) -> None:
    if study.directions != [StudyDirection.MAXIMIZE]:
        raise ValueError(
            f"Study {study.study_name!r} exists and is not a single-objective maximisation; "
            "pass another --study-name."
        )
    for trial in study.get_trials(deepcopy=False):
        other = trial.user_attrs.get(energy.BENCHMARK)
        if other is not None and other != benchmark.identity:
            raise ValueError(
                f"Study {study.study_name!r} was run on another benchmark "
                f"({describe_benchmark(other)}); pass another --study-name."
            )


class _Progress:
    """Callback that advances the progress bar and stops the study at the energy budget."""

    def __init__(self, study: optuna.Study, *, total: int, budget_j: float | None) -> None:
        self._study = study
        self._budget_j = budget_j
        values = [float(t.values[0]) for t in _feasible_complete(study.get_trials(deepcopy=False))]
        self._best = max(values, default=None)
        self._lock = threading.Lock()
        self._bar = tqdm(total=total, desc=study.study_name, unit="trial", disable=None)

    def budget_reached(self) -> bool:
        return self._budget_j is not None and search_energy(self._study) >= self._budget_j

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        with self._lock:
            if _feasible_complete([trial]):
                value = float(trial.values[0])
                self._best = value if self._best is None else max(self._best, value)
            best = "-" if self._best is None else f"{self._best:.2f}%"
            spent_j = search_energy(study)
            self._bar.set_postfix_str(
                f"best {best}, {spent_j / _J_PER_KWH:.3g} kWh", refresh=False
            )
            self._bar.update(1)
            if self._budget_j is not None and spent_j >= self._budget_j:
                study.stop()

    def close(self) -> None:
        self._bar.close()


def _feasible_complete(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    return [
        t
        for t in trials
        if t.state == TrialState.COMPLETE and all(v <= 0 for v in t.constraints.values())
    ]


def _summary(
    study: optuna.Study,
    benchmark: Benchmark,
    args: argparse.Namespace,
    *,
    n_before: int,
    budget_j: float | None,
) -> str:
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    skipped = sum(bool(t.user_attrs.get(energy.SKIPPED_INFEASIBLE)) for t in trials)
    spent_j = search_energy(study)
    counts = (
        f"{len(trials) - n_before} run now, {len(trials)} in the study: "
        f"{states.count(TrialState.COMPLETE)} complete, {states.count(TrialState.PRUNED)} pruned"
    )
    if skipped:
        counts += f" ({skipped} skipped as infeasible)"
    if states.count(TrialState.FAIL):
        counts += f", {states.count(TrialState.FAIL)} failed"
    lines = [
        f"study:          {study.study_name} in {args.storage}",
        f"trials:         {counts}",
        *_best_lines(trials, benchmark),
        f"search energy:  {spent_j / _J_PER_KWH:.4g} kWh ({spent_j / 1e3:.4g} kJ, all trials)",
    ]
    if budget_j is not None and spent_j >= budget_j:
        lines.append(f"budget:         reached {budget_j / _J_PER_KWH:.4g} kWh; stopped")
    lines.append(f"benchmark:      {describe_benchmark(benchmark.identity)}")
    return "\n".join(lines)


def _best_lines(trials: list[FrozenTrial], benchmark: Benchmark) -> list[str]:
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        return ["best:           no trial completed yet"]
    constrained = any(t.constraints for t in complete)
    feasible = _feasible_complete(complete)
    if not feasible:
        top = max(complete, key=lambda t: float(t.values[0]))
        return [
            f"best:           none feasible: all {len(complete)} complete trials break the "
            f"paper's complexity constraints (best infeasible {top.values[0]:.2f}%, "
            f"trial {top.number})"
        ]
    best = max(feasible, key=lambda t: float(t.values[0]))
    kind = "feasible best, " if constrained else ""
    # Canonical values: a sampler's float steps can leave digits such as 2.7720000000000002.
    params = benchmark.space.validate(best.params)
    config = ", ".join(f"{name}={value}" for name, value in params.items())
    return [
        f"best accuracy:  {best.values[0]:.2f}% ({kind}trial {best.number})",
        f"configuration:  {config}",
    ]
