from __future__ import annotations

import argparse
from collections.abc import Callable
import math
import threading
import warnings

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage
from optuna.study import MaxTrialsCallback
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
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
from optuna_eahas.pruners import SearchEnergyBudget

_J_PER_KWH = 3.6e6
_DEFAULT_N_TRIALS = 200
_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
# A stale trial's configuration is run again at most this often (Optuna's system attribute
# names, shared with optuna.storages.RetryHeartbeatStaleTrialCallback).
_MAX_RETRY = 1
_FAILED_TRIAL = "failed_trial"
_RETRY_HISTORY = "retry_history"
_DESCRIPTION = """\
Search EA-HAS-Bench's joint architecture and hyperparameter space with an
Optuna sampler and pruner. Each trial asks the surrogate benchmark for a
configuration's learning curve and reports it epoch by epoch, so the pruner
can stop it early. The training energy every trial spent, pruned ones
included, adds up to the search energy. The study is stored (SQLite by
default); running the same command again continues it.

Many workers, on one machine or several, can share one study: start the same
command in each, with a storage they all reach (PostgreSQL or MySQL across
machines, SQLite on one machine). --total-trials and --budget-kwh then count
the trials and energy of all workers. With --heartbeat-interval, a trial whose
worker died (killed, lost power) is marked failed after the grace period, its
energy so far still counts, and its configuration is run again once.
"""
_EPILOG = """\
examples:
  eahas run --n-trials 100 --seed 0
  eahas run --sampler random --pruner hyperband --budget-kwh 50 --storage sqlite:///bench.db
  eahas run --dataset tinyimagenet --constraints ignore --n-jobs 2

several workers on one study (run this on every machine; a rerun after a crash
finishes the remaining trials):
  eahas run --storage postgresql://user:password@db-host/eahas --study-name shared \
      --sampler random --total-trials 2000 --heartbeat-interval 10

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
        "--n-trials",
        type=int,
        default=None,
        metavar="N",
        help="trials this command runs now (default 200, or unlimited with --total-trials)",
    )
    parser.add_argument(
        "--total-trials",
        type=int,
        default=None,
        metavar="N",
        help=(
            "stop once the study holds N complete or pruned trials, counting every worker's and "
            "earlier runs'; rerunning after a crash finishes the rest (default: no target)"
        ),
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
        help=(
            "an Optuna RDB storage URL: sqlite:///FILE on one machine, "
            "postgresql://USER:PASSWORD@HOST/DB to share a study between machines "
            "(default sqlite:///eahas.db)"
        ),
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=int,
        default=None,
        metavar="SECONDS",
        help=(
            "record a heartbeat of each running trial every SECONDS; a trial whose heartbeat "
            "stops (its worker died) is failed and its configuration retried once "
            "(default: off)"
        ),
    )
    parser.add_argument(
        "--grace-period",
        type=int,
        default=None,
        metavar="SECONDS",
        help=(
            "with --heartbeat-interval: how long a heartbeat may be late before its trial is "
            "failed (default twice the interval)"
        ),
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
    _check_arguments(args)
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
            storage=_open_storage(args),
            study_name=study_name,
            sampler=make_sampler(args.sampler, seed=args.seed),
            pruner=make_pruner(args.pruner),
            direction="maximize",
            load_if_exists=True,
        )
    except (ImportError, SQLAlchemyError) as error:
        raise _storage_error(args.storage, error) from error
    _check_continuable(study, benchmark)

    budget = None if args.budget_kwh is None else SearchEnergyBudget(args.budget_kwh)
    n_before = len(study.get_trials(deepcopy=False))
    n_trials = args.n_trials
    callbacks: list[Callable[[optuna.Study, FrozenTrial], None]] = []
    if args.total_trials is not None:
        callbacks.append(MaxTrialsCallback(args.total_trials, states=_FINISHED))
    elif n_trials is None:
        n_trials = _DEFAULT_N_TRIALS
    progress = _Progress(
        study, total=_remaining(study, n_trials, args.total_trials), budget=budget
    )
    callbacks.append(progress)
    if not progress.done():
        try:
            study.optimize(objective, n_trials=n_trials, n_jobs=args.n_jobs, callbacks=callbacks)
        finally:
            progress.close()
    print(_summary(study, benchmark, args, n_before=n_before, budget=budget))


def _check_arguments(args: argparse.Namespace) -> None:
    for option in ("n_trials", "total_trials", "report_interval", "n_jobs"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise ValueError(f"--{option.replace('_', '-')} must be at least 1, got {value}.")
    if args.budget_kwh is not None and not 0 < args.budget_kwh < math.inf:
        raise ValueError(f"--budget-kwh must be a positive number of kWh, got {args.budget_kwh}.")
    if args.heartbeat_interval is not None and args.heartbeat_interval < 1:
        raise ValueError(
            f"--heartbeat-interval must be at least 1 second, got {args.heartbeat_interval}."
        )
    if args.grace_period is not None:
        if args.heartbeat_interval is None:
            raise ValueError("--grace-period needs --heartbeat-interval.")
        if args.grace_period < args.heartbeat_interval:
            raise ValueError(
                f"--grace-period must be at least --heartbeat-interval "
                f"({args.heartbeat_interval} s), got {args.grace_period}."
            )


def _open_storage(args: argparse.Namespace) -> RDBStorage:
    """The study's RDB storage, with Optuna's heartbeat when ``--heartbeat-interval`` is set.

    SQLite waits up to a minute for the write lock, which several local workers take in turn.
    """
    url = args.storage
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite:") else None
    try:
        with warnings.catch_warnings():
            # Optuna marks the heartbeat options experimental; this command relies on them.
            warnings.simplefilter("ignore", ExperimentalWarning)
            return RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=args.heartbeat_interval,
                grace_period=args.grace_period,
                heartbeat_stale_trial_callback=(
                    None if args.heartbeat_interval is None else _retry_stale_trial
                ),
            )
    except (ImportError, SQLAlchemyError, ValueError) as error:
        raise _storage_error(url, error) from error


def _storage_error(url: str, error: Exception) -> ValueError:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return ValueError(
        f"Cannot open storage {_without_password(url)!r} (--storage): {reason} (expected an "
        "Optuna RDB storage URL such as sqlite:///eahas.db or "
        "postgresql://user:password@host/database)."
    )


def _without_password(url: str) -> str:
    """The URL to show in messages: its password, if any, masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url


def _retry_stale_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue the configuration of a trial whose worker died (its heartbeat went stale) once.

    Unlike :class:`optuna.storages.RetryHeartbeatStaleTrialCallback`, the retry does not copy
    the failed trial's user attributes: the failed trial keeps the energy it recorded up to
    its last report (it counts in the search energy), and the retry records only its own, so
    no joule is counted twice. The retry carries Optuna's ``failed_trial`` and
    ``retry_history`` system attributes, so
    ``RetryHeartbeatStaleTrialCallback.retried_trial_number`` works on it.
    """
    history = [*trial.system_attrs.get(_RETRY_HISTORY, []), trial.number]
    if len(history) > _MAX_RETRY:
        return
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            system_attrs={_FAILED_TRIAL: history[0], _RETRY_HISTORY: history},
        )
    )


def _remaining(study: optuna.Study, n_trials: int | None, total_trials: int | None) -> int | None:
    """Trials this command will run at most (the progress bar's length), if known."""
    remaining = []
    if n_trials is not None:
        remaining.append(n_trials)
    if total_trials is not None:
        finished = study.get_trials(deepcopy=False, states=_FINISHED)
        remaining.append(max(total_trials - len(finished), 0))
    return min(remaining, default=None)


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
    """Callback that advances the progress bar and stops the study at the energy budget.

    The budget counts every trial in the storage, so workers sharing a study share it; each
    stops after the trial it has in flight when the budget is reached
    (:class:`~optuna_eahas.pruners.SearchEnergyBudget`).
    """

    def __init__(
        self, study: optuna.Study, *, total: int | None, budget: SearchEnergyBudget | None
    ) -> None:
        self._study = study
        self._budget = budget
        self._total = total
        values = [float(t.values[0]) for t in _feasible_complete(study.get_trials(deepcopy=False))]
        self._best = max(values, default=None)
        self._spent_here_j = 0.0
        self._lock = threading.Lock()
        self._bar = tqdm(total=total, desc=study.study_name, unit="trial", disable=None)

    def done(self) -> bool:
        """True when there is nothing to run: the budget or the trial target is reached."""
        return self._total == 0 or (
            self._budget is not None and self._budget.is_reached(self._study)
        )

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        with self._lock:
            if _feasible_complete([trial]):
                value = float(trial.values[0])
                self._best = value if self._best is None else max(self._best, value)
            best = "-" if self._best is None else f"{self._best:.2f}%"
            if self._budget is None:
                # Reading every worker's trials after each trial would cost more than a
                # trial; the bar shows this command's energy and the summary the study's.
                self._spent_here_j += energy.consumed_energy(trial) or 0.0
                spent = f"{self._spent_here_j / _J_PER_KWH:.3g} kWh here"
            else:
                spent_j = self._budget.consumed_j(study)
                spent = f"{spent_j / _J_PER_KWH:.3g} of {self._budget.kwh:.3g} kWh"
                if spent_j >= self._budget.budget_j:
                    study.stop()
            self._bar.set_postfix_str(f"best {best}, {spent}", refresh=False)
            self._bar.update(1)

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
    budget: SearchEnergyBudget | None,
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
    if budget is not None and spent_j >= budget.budget_j:
        lines.append(f"budget:         reached {budget.kwh:.4g} kWh; stopped")
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
