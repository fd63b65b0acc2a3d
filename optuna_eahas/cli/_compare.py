from __future__ import annotations

import argparse
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
import functools
import multiprocessing
import os
import queue
import threading
import time
from typing import Any

import numpy as np
import optuna
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
import optuna_dashboard
from tqdm.auto import tqdm

from optuna_eahas import energy
from optuna_eahas.benchmark import Benchmark
from optuna_eahas.benchmark import estimate_optimum
from optuna_eahas.cli._registry import PRUNERS
from optuna_eahas.cli._registry import SAMPLERS
from optuna_eahas.cli._registry import add_benchmark_arguments
from optuna_eahas.cli._registry import describe_benchmark
from optuna_eahas.cli._registry import load_benchmark
from optuna_eahas.cli._registry import make_pruner
from optuna_eahas.cli._registry import make_sampler
from optuna_eahas.cli._registry import open_storage
from optuna_eahas.objective import eahas_objective
from optuna_eahas.objective import search_energy
from optuna_eahas.visualization import _study_attrs
from optuna_eahas.visualization import save_dashboard_figures

_J_PER_KWH = 3.6e6
# EA-HAS-Bench's search budgets (its code computes Wh but labels them kWh; README).
_PAPER_BUDGET_KWH = {"cifar10": 40.0, "tinyimagenet": 250.0}
_DEFAULT_METHODS = ("random+none", "tpe+median", "ea-tpe+ea-median", "ls+none", "ea-ls+none")
_PROTOCOL = (
    "eahas_objective(benchmark, noise=False, constraints='ignore'): the whole joint space, the "
    "surrogate's mean curves; the seed varies the sampler only; the search stops once the "
    "summed training energy of its trials, pruned ones included, reaches the budget"
)
# How often a study's finished trials are copied from memory into the storage.
_CHECKPOINT_S = 5.0

_DESCRIPTION = """\
Compare search methods on EA-HAS-Bench as the paper does (Section 5): every
method (an Optuna sampler + pruner) runs once per seed until its search
energy (the training energy of all its trials, pruned ones included) reaches
a budget, one study per method and seed, all in one Optuna storage.

Studies run in parallel processes. Each searches in memory and copies its
finished trials into the storage every few seconds, so an interrupted run
loses at most those seconds: running the same command again skips finished
studies and continues the others to the budget, without duplicating trials.

Test regret is measured from the benchmark's optimum, estimated once
(optuna_eahas.benchmark.estimate_optimum, ~10 s) and stored with the studies.
At the end the comparison figures and notes are saved into every study for
optuna-dashboard. The default benchmarks are simulated: their numbers are
predictions, not measurements.
"""
_EPILOG = f"""\
examples:
  eahas compare --budget-kwh 5 --seeds 0 1 2 --storage sqlite:///compare.db
  eahas compare --methods random+none tpe+median ea-tpe+ea-median --storage compare.log
  eahas compare --dataset tinyimagenet --n-jobs 2 --storage postgresql://u:p@host/db

methods are SAMPLER+PRUNER:
  samplers: {", ".join(SAMPLERS)}
  pruners:  {", ".join(PRUNERS)}

then:
  eahas report sqlite:///compare.db -o report.html
  eahas dashboard sqlite:///compare.db
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="run methods x seeds on a benchmark until a search-energy budget, resumably",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_benchmark_arguments(parser)
    parser.add_argument(
        "--methods",
        nargs="+",
        default=list(_DEFAULT_METHODS),
        metavar="SAMPLER+PRUNER",
        help=f"methods to compare (default: {' '.join(_DEFAULT_METHODS)})",
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[0, 1, 2],
        metavar="SEED",
        help="sampler seeds, one study per method and seed (default: 0 1 2)",
    )
    parser.add_argument(
        "--budget-kwh",
        type=float,
        default=None,
        metavar="KWH",
        help="search-energy budget per study (default: the paper's, 40 on cifar10, 250 on "
        "tinyimagenet)",
    )
    parser.add_argument(
        "--storage",
        default="sqlite:///eahas-compare.db",
        metavar="URL",
        help="an Optuna storage URL, a SQLite file, or a journal file ending in .log: much "
        "faster for the paper's budgets, an RDB writes every reported accuracy in its own "
        "queries (default sqlite:///eahas-compare.db)",
    )
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        metavar="N",
        help="studies run in parallel processes (default: the number of CPUs)",
    )
    parser.add_argument(
        "--report-interval",
        type=int,
        default=1,
        metavar="N",
        help="report the accuracy (and record the energy) every N epochs (default 1)",
    )
    parser.add_argument(
        "--optimum",
        type=float,
        default=None,
        metavar="ACCURACY",
        help="the benchmark's best accuracy (%%) to measure regret from (default: estimated "
        "once and stored with the studies)",
    )
    parser.set_defaults(run=run)


@dataclass(frozen=True)
class _Task:
    """One study of the grid, as a worker process needs it."""

    storage: str
    study_name: str
    benchmark: str
    sampler: str
    pruner: str
    seed: int
    budget_j: float
    report_interval: int


def run(args: argparse.Namespace) -> None:
    methods = [_parse_method(m) for m in dict.fromkeys(args.methods)]
    seeds = list(dict.fromkeys(args.seeds))
    n_jobs = args.n_jobs if args.n_jobs is not None else os.cpu_count() or 1
    if n_jobs < 1:
        raise ValueError(f"--n-jobs must be at least 1, got {n_jobs}.")
    if args.report_interval < 1:
        raise ValueError(f"--report-interval must be at least 1, got {args.report_interval}.")
    if args.budget_kwh is not None and not args.budget_kwh > 0:
        raise ValueError(f"--budget-kwh must be positive, got {args.budget_kwh}.")
    if args.optimum is not None and not 0 < args.optimum <= 100:
        raise ValueError(f"--optimum must be an accuracy in (0, 100] %, got {args.optimum}.")
    benchmark = load_benchmark(args)
    budget_j = (args.budget_kwh or _PAPER_BUDGET_KWH[benchmark.dataset]) * _J_PER_KWH
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(args.storage)

    optimum, optimum_params = _optimum(storage, benchmark, args.optimum)
    tasks = [
        _Task(
            storage=args.storage,
            study_name=_study_name(benchmark, method, seed),
            benchmark=str(args.benchmark or benchmark.name),
            sampler=method.partition("+")[0],
            pruner=method.partition("+")[2],
            seed=seed,
            budget_j=budget_j,
            report_interval=args.report_interval,
        )
        for method in methods
        for seed in seeds
    ]
    studies = [
        _prepare_study(storage, task, benchmark, optimum=optimum, optimum_params=optimum_params)
        for task in tasks
    ]
    spent = {s.study_name: search_energy(s) for s in studies}
    pending = [task for task in tasks if spent[task.study_name] < budget_j]
    print(
        f"{len(tasks)} studies ({len(methods)} methods x {len(seeds)} seeds) on "
        f"{describe_benchmark(benchmark.identity)}; budget {budget_j / _J_PER_KWH:g} kWh each; "
        f"{len(tasks) - len(pending)} already finished, {len(pending)} to run."
    )
    _run_all(pending, spent, budget_j=budget_j, n_jobs=n_jobs)

    comparison = _comparison_studies(storage, benchmark.identity)
    # Figures are saved before the note: a study without a note may lack its figures.
    if pending or not all(optuna_dashboard.get_note(study) for study in comparison):
        print(f"Saving the figures of {len(comparison)} studies for optuna-dashboard ...")
        save_dashboard_figures(comparison, optimum=optimum)
    grid = [optuna.load_study(study_name=task.study_name, storage=storage) for task in tasks]
    print(_summary(grid, optimum=optimum, storage=args.storage))


def _study_name(benchmark: Benchmark, method: str, seed: int) -> str:
    """The name of one study of the grid: benchmark, method and seed."""
    return f"{benchmark.name}:{method}:seed{seed}"


def _comparison_studies(storage: BaseStorage, identity: dict[str, Any]) -> list[optuna.Study]:
    """The studies ``eahas compare`` ran in ``storage`` on the benchmark ``identity``."""
    return [
        optuna.load_study(study_name=summary.study_name, storage=storage)
        for summary in optuna.get_all_study_summaries(storage, include_best_trial=False)
        if _study_attrs.METHOD in summary.user_attrs
        and summary.user_attrs.get(energy.BENCHMARK) == identity
    ]


def _parse_method(method: str) -> str:
    sampler, plus, pruner = method.partition("+")
    if not plus or sampler not in SAMPLERS or pruner not in PRUNERS:
        raise ValueError(
            f"Bad method {method!r}: expected SAMPLER+PRUNER with a sampler among "
            f"{', '.join(SAMPLERS)} and a pruner among {', '.join(PRUNERS)}."
        )
    # Built once here, so that a missing dependency fails before any process starts.
    make_sampler(sampler, seed=0)
    make_pruner(pruner)
    return method


def _optimum(
    storage: BaseStorage, benchmark: Benchmark, given: float | None
) -> tuple[float, dict[str, Any] | None]:
    """The optimum given, else the one stored with earlier studies, else a fresh estimate."""
    if given is not None:
        return given, None
    for study in _comparison_studies(storage, benchmark.identity):
        accuracy = study.user_attrs.get(_study_attrs.OPTIMUM_ACCURACY)
        if accuracy is not None:
            return float(accuracy), study.user_attrs.get(_study_attrs.OPTIMUM_PARAMS)
    print(f"Estimating the optimum of {benchmark.name} for test regret (about 10 s) ...")
    optimum = estimate_optimum(benchmark, seed=0)
    return optimum.accuracy, optimum.params


def _prepare_study(
    storage: BaseStorage,
    task: _Task,
    benchmark: Benchmark,
    *,
    optimum: float,
    optimum_params: dict[str, Any] | None,
) -> optuna.Study:
    """Create the study with its settings, or check that an existing one ran the same."""
    study = optuna.create_study(
        storage=storage, study_name=task.study_name, direction="maximize", load_if_exists=True
    )
    attrs = study.user_attrs
    if _study_attrs.METHOD in attrs:
        stored = (attrs.get(energy.BENCHMARK), attrs.get(_study_attrs.REPORT_INTERVAL))
        if stored != (benchmark.identity, task.report_interval) or study.directions != [
            StudyDirection.MAXIMIZE
        ]:
            raise ValueError(
                f"Study {task.study_name!r} in {task.storage} ran with other settings "
                f"(benchmark {describe_benchmark(stored[0] or {})}, report interval "
                f"{stored[1]}); use another --storage or the same settings."
            )
    elif study.get_trials(deepcopy=False):
        raise ValueError(
            f"Study {task.study_name!r} in {task.storage} exists and was not made by "
            "'eahas compare'; use another --storage."
        )
    settings = {
        _study_attrs.METHOD: f"{task.sampler}+{task.pruner}",
        _study_attrs.SAMPLER: task.sampler,
        _study_attrs.PRUNER: task.pruner,
        _study_attrs.SEED: task.seed,
        _study_attrs.BUDGET_J: task.budget_j,
        _study_attrs.REPORT_INTERVAL: task.report_interval,
        _study_attrs.OPTIMUM_ACCURACY: optimum,
        _study_attrs.OPTIMUM_PARAMS: optimum_params,
        _study_attrs.PROTOCOL: _PROTOCOL,
        _study_attrs.FINISHED: search_energy(study) >= task.budget_j,
        energy.BENCHMARK: benchmark.identity,
    }
    for key, value in settings.items():
        if attrs.get(key) != value:
            study.set_user_attr(key, value)
    return study


def _run_all(tasks: list[_Task], spent: dict[str, float], *, budget_j: float, n_jobs: int) -> None:
    """Run the tasks, ``n_jobs`` processes at a time, with one progress bar over the search
    energy of all studies (each counted up to its budget)."""
    if not tasks:
        return
    bar = tqdm(
        total=round(budget_j * len(spent) / _J_PER_KWH, 3),
        initial=round(sum(min(j, budget_j) for j in spent.values()) / _J_PER_KWH, 3),
        unit="kWh",
        desc="search energy",
        disable=None,
    )

    def progress(name: str, joules: float) -> None:
        spent[name] = joules
        bar.n = round(sum(min(j, budget_j) for j in spent.values()) / _J_PER_KWH, 3)
        bar.refresh()

    try:
        if n_jobs == 1:
            for task in tasks:
                progress(task.study_name, _search(task, progress))
                bar.set_postfix_str(f"finished {task.study_name}")
            return
        context = multiprocessing.get_context("spawn")
        updates = context.Queue()
        with futures.ProcessPoolExecutor(
            max_workers=min(n_jobs, len(tasks)),
            mp_context=context,
            initializer=_start_worker,
            initargs=(updates,),
        ) as pool:
            running = {pool.submit(_search_in_worker, task): task for task in tasks}

            def drain_updates() -> None:
                while True:
                    try:
                        progress(*updates.get_nowait())
                    except queue.Empty:
                        return

            try:
                while running:
                    done, _ = futures.wait(running, timeout=0.2)
                    drain_updates()
                    for future in done:
                        name = running.pop(future).study_name
                        progress(name, future.result())
                        bar.set_postfix_str(f"finished {name}")
            except BaseException:
                for future in running:
                    future.cancel()
                raise
    finally:
        bar.close()


_updates: Any = None
_parent_pid: int | None = None
_searching = threading.Event()


def _start_worker(updates: Any) -> None:
    global _updates, _parent_pid
    _updates = updates
    _parent_pid = os.getppid()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    threading.Thread(target=_exit_when_orphaned, daemon=True).start()


def _exit_when_orphaned() -> None:
    """A worker whose 'eahas compare' was killed would wait for tasks forever: once its
    current study has stopped (:class:`_Checkpoint` stops it), end the process."""
    while os.getppid() == _parent_pid or _searching.is_set():
        time.sleep(1.0)
    os._exit(1)


def _search_in_worker(task: _Task) -> float:
    _searching.set()
    try:
        return _search(task, lambda name, joules: _updates.put((name, joules)))
    finally:
        _searching.clear()


@functools.cache
def _benchmark(name_or_path: str) -> Benchmark:
    return Benchmark.load(name_or_path)


def _search(task: _Task, progress: Callable[[str, float], None]) -> float:
    """Continue one study of the grid until its search energy reaches the budget; return
    its search energy (J).

    The study runs in memory, seeded with the trials already stored (so the sampler and
    pruner see them), and :class:`_Checkpoint` copies its finished trials into the storage.
    """
    from optuna_eahas.pruners import SearchEnergyBudget

    storage = open_storage(task.storage)
    stored = optuna.load_study(study_name=task.study_name, storage=storage)
    trials = stored.get_trials(deepcopy=False)
    # A resumed sampler seeded as at the start would draw the same configurations again.
    seed = task.seed if not trials else _resumed_seed(task.seed, len(trials))
    study = optuna.create_study(
        # The stored study's name: Hyperband pruners hash it into each trial's bracket.
        study_name=task.study_name,
        direction="maximize",
        sampler=make_sampler(task.sampler, seed=seed, energy_budget_j=task.budget_j),
        pruner=make_pruner(task.pruner),
    )
    study.add_trials(trials)
    budget = SearchEnergyBudget(task.budget_j / _J_PER_KWH)
    checkpoint = _Checkpoint(stored, progress)
    if not budget.is_reached(study):
        objective = eahas_objective(
            benchmark=_benchmark(task.benchmark),
            noise=False,
            constraints="ignore",
            report_interval=task.report_interval,
        )
        try:
            study.optimize(objective, callbacks=[budget, checkpoint])
        finally:
            checkpoint.flush()
    stored.set_user_attr(_study_attrs.FINISHED, budget.is_reached(study))
    return search_energy(study)


def _resumed_seed(seed: int, n_trials: int) -> int:
    return int(np.random.SeedSequence([seed, n_trials]).generate_state(1)[0])


class _Checkpoint:
    """Study callback that copies finished trials into the stored study every few seconds.

    Trials are copied whole and in order, so the stored study is always a prefix of the
    search: an interrupted run loses at most the last few seconds and duplicates nothing.
    """

    def __init__(self, stored: optuna.Study, progress: Callable[[str, float], None]) -> None:
        self._stored = stored
        self._progress = progress
        self._pending: list[FrozenTrial] = []
        self._last = time.monotonic()

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._pending.append(trial)
        if time.monotonic() - self._last >= _CHECKPOINT_S:
            self.flush()
            self._progress(self._stored.study_name, search_energy(study))
        if _parent_pid is not None and os.getppid() != _parent_pid:
            # The 'eahas compare' that started this worker was killed: stop, so that a rerun
            # does not race this process on the same study.
            study.stop()

    def flush(self) -> None:
        self._stored.add_trials(self._pending)
        self._pending.clear()
        self._last = time.monotonic()


def _summary(studies: list[optuna.Study], *, optimum: float, storage: str) -> str:
    lines = [f"{'study':<40} {'trials':>7} {'kWh':>8} {'best %':>7} {'regret':>7}"]
    for study in studies:
        trials = study.get_trials(deepcopy=False)
        values = [t.value for t in trials if t.value is not None]
        best = max(values, default=None)
        lines.append(
            f"{study.study_name:<40} {len(trials):>7} {search_energy(study) / _J_PER_KWH:>8.3g} "
            + (
                "      -       -"
                if best is None
                else f"{best:>7.2f} {max(optimum - best, 0):>7.3g}"
            )
        )
    lines += [
        f"Test regret from the optimum {optimum:.2f}%. Next:",
        f"  eahas report {storage} -o report.html",
        f"  eahas dashboard {storage}",
    ]
    return "\n".join(lines)
