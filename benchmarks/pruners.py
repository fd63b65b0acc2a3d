"""Compare energy-aware pruners with Optuna's: test regret against search energy.

The project's shared comparison protocol: ``eahas_objective(benchmark=..., noise=False,
constraints="ignore")`` (the whole joint space, mean surrogate; seeds vary the sampler only),
each search stops as soon as the summed training energy of its trials (pruned ones included)
reaches the budget (EA-HAS-Bench, Dou et al., ICLR 2023, Sec. 5: 40 kWh on CIFAR-10, 250 kWh on
TinyImageNet; ``SearchEnergyBudget`` + ``BudgetPruner``, one worker, so a search overshoots by
at most one report interval), and test regret is
``estimate_optimum(benchmark, seed=0).regret(best value so far)``.

Trials report every ``--report-interval`` epochs (default 10, and at the last epoch): pruned
trials are cheap, so a budget buys thousands of them and each report calls the pruner; one
report per 10 epochs keeps a search to minutes while leaving every pruner 5 to 20 decision
points per trial. Optuna's pruners use the ``eahas`` CLI's settings (``make_pruner``).

Each finished run is one JSON line of ``benchmarks/results/pruners.jsonl`` (committed; a rerun
skips finished runs, so a campaign resumes across sessions and machines) with its best-so-far
curve against cumulative search energy (J). ``--table`` prints the Markdown table of
``docs/pruners.md``.

A TPE search under an aggressive pruner can run for hours (its sampler's cost grows with the
tens of thousands of pruned trials in its history). Searches with the pruners in
``RESUMABLE_PRUNERS`` therefore keep a checkpoint in ``benchmarks/checkpoints/`` (git-ignored):
stopped by SIGTERM or Ctrl-C, such a search resumes on the next run where it stopped and ends
exactly as an uninterrupted one would.

    python benchmarks/pruners.py --benchmark cifar10 --seeds 20 --jobs 2
    python benchmarks/pruners.py --table
    python benchmarks/pruners.py --overhead 10000   # SearchEnergyBudget's cost per call

The default benchmarks are fitted on a reference simulator's records: these numbers describe
the simulated benchmark, not measured GPU training.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Iterator
import json
import multiprocessing
import os
from pathlib import Path
import signal
import sys
import time
from typing import Any

import numpy as np
import optuna
from optuna.distributions import distribution_to_json
from optuna.distributions import json_to_distribution
from optuna.pruners import BasePruner
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
from tqdm import tqdm

from optuna_eahas import Benchmark
from optuna_eahas import eahas_objective
from optuna_eahas import energy
from optuna_eahas.benchmark import estimate_optimum
from optuna_eahas.cli._registry import make_pruner
from optuna_eahas.cli._registry import make_sampler
from optuna_eahas.pruners import BudgetPruner
from optuna_eahas.pruners import EnergyAwareHyperbandPruner
from optuna_eahas.pruners import EnergyAwareMedianPruner
from optuna_eahas.pruners import EnergyAwareSuccessiveHalvingPruner
from optuna_eahas.pruners import SearchEnergyBudget

_J_PER_KWH = 3.6e6
# Committed, so that a campaign spread over several sessions or machines resumes where it stopped.
RESULTS = Path(__file__).parent / "results" / "pruners.jsonl"
PAPER_BUDGETS_KWH = {"cifar10": 40.0, "tinyimagenet": 250.0}
SAMPLERS = ("random", "tpe")
OPTUNA_PRUNERS = ("median", "successive-halving", "hyperband")
ENERGY_AWARE_PRUNERS: dict[str, Callable[[], BasePruner]] = {
    "ea-median": lambda: EnergyAwareMedianPruner(n_startup_trials=5, n_warmup_steps=5),
    "ea-successive-halving": EnergyAwareSuccessiveHalvingPruner,
    "ea-hyperband": EnergyAwareHyperbandPruner,
}
PRUNERS = ("none", *OPTUNA_PRUNERS, *ENERGY_AWARE_PRUNERS)
METHODS = tuple(f"{sampler}/{pruner}" for sampler in SAMPLERS for pruner in PRUNERS)
# Pruners whose state a checkpoint restores; searches with the others (successive halving and
# the Hyperbands, whose state it does not save) start again from scratch.
RESUMABLE_PRUNERS = ("none", "median", "ea-median", "ea-successive-halving")
CHECKPOINTS = Path(__file__).parent / "checkpoints"
_STATE_EVERY = 1000  # trials between state lines, what a SIGKILL can lose
# A search's identity in the results: its task and the keys of its checkpoint.
_TASK_KEYS = ("benchmark", "method", "seed", "budget_kwh", "report_interval")

_benchmarks: dict[str, Benchmark] = {}


def _make_pruner(name: str) -> BasePruner:
    factory = ENERGY_AWARE_PRUNERS.get(name)
    return factory() if factory is not None else make_pruner(name)


def checkpoint_path(
    benchmark_name: str, method: str, seed: int, budget_kwh: float, report_interval: int
) -> Path | None:
    """Where the search keeps its checkpoint; None for a pruner that cannot resume."""
    sampler_name, pruner_name = method.split("/")
    if pruner_name not in RESUMABLE_PRUNERS:
        return None
    name = f"{benchmark_name}-{sampler_name}-{pruner_name}-seed{seed}-{budget_kwh:g}kWh"
    return CHECKPOINTS / f"{name}-every{report_interval}.jsonl"


def _random_states(sampler: BaseSampler) -> list[Any]:
    """The sampler's ``LazyRandomState`` objects: its own and, for TPE, its random sampler's.

    Private attributes: Optuna has no public way to save and restore a sampler's random state.
    """
    inner = getattr(sampler, "_random_sampler", None)
    return [sampler._rng, *([inner._rng] if inner is not None else [])]  # type: ignore[attr-defined]


def _trial_to_json(trial: FrozenTrial) -> dict[str, Any]:
    return {
        "state": trial.state.name,
        "value": trial.value,
        "params": trial.params,
        "distributions": {n: distribution_to_json(d) for n, d in trial.distributions.items()},
        "intermediate_values": trial.intermediate_values,
        "user_attrs": trial.user_attrs,
        "system_attrs": trial.system_attrs,
    }


def _trial_from_json(record: dict[str, Any]) -> FrozenTrial:
    return optuna.trial.create_trial(
        state=TrialState[record["state"]],
        value=record["value"],
        params=record["params"],
        distributions={n: json_to_distribution(d) for n, d in record["distributions"].items()},
        intermediate_values={int(k): v for k, v in record["intermediate_values"].items()},
        user_attrs=record["user_attrs"],
        system_attrs=record["system_attrs"],
    )


class _Checkpoint:
    """One search's finished trials as JSON lines, and state lines: the trial count, sampler
    random state, seconds spent and an ea-successive-halving pruner's estimated minimum
    energy, as they stood after the last trial counted.

    State lines are written every ``_STATE_EVERY`` trials and when a signal stops the search;
    loading keeps what the last state line counts and drops the lines after it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.trials: list[FrozenTrial] = []
        self.state: dict[str, Any] | None = None
        self.snapshot: dict[str, Any] | None = None
        trial_lines: list[str] = []
        kept: list[str] = []
        for line in path.read_text().splitlines() if path.exists() else []:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a SIGKILL
                break
            if "state" in record:
                # A signal between a trial's line and its snapshot leaves one line uncounted.
                self.state = record["state"]
                kept = [*trial_lines[: self.state["n_trials"]], line]
            else:
                trial_lines.append(line)
        if self.state is not None:
            self.trials = [_trial_from_json(json.loads(line)["trial"]) for line in kept[:-1]]
            assert len(self.trials) == self.state["n_trials"], path
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text("".join(line + "\n" for line in kept))
        os.replace(partial, path)  # a signal during the rewrite leaves the old file whole

    def append(self, trial: FrozenTrial, snapshot: dict[str, Any]) -> None:
        self._write({"trial": _trial_to_json(trial)})
        self.snapshot = snapshot
        if snapshot["n_trials"] % _STATE_EVERY == 0:
            self.save()

    def save(self) -> None:
        if self.snapshot is not None:
            self._write({"state": self.snapshot})

    def _write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as lines:
            lines.write(json.dumps(record) + "\n")


def run_search(
    benchmark_name: str,
    method: str,
    seed: int,
    budget_kwh: float,
    report_interval: int,
    *,
    checkpoint: Path | None = None,
) -> dict[str, Any]:
    """One search until its summed trial energy reaches the budget; its best-so-far steps.

    With ``checkpoint``, the search resumes from that file, and a SystemExit or
    KeyboardInterrupt (a signal) saves its state there before it propagates.
    """
    benchmark = _benchmarks.get(benchmark_name)
    if benchmark is None:
        benchmark = _benchmarks[benchmark_name] = Benchmark.load(benchmark_name)
    sampler_name, pruner_name = method.split("/")
    if checkpoint is not None and pruner_name not in RESUMABLE_PRUNERS:
        raise ValueError(f"{pruner_name} cannot resume; resumable: {RESUMABLE_PRUNERS}")
    saved = _Checkpoint(checkpoint) if checkpoint is not None else None
    resumed = saved.state if saved is not None else None
    objective = eahas_objective(
        benchmark=benchmark, noise=False, constraints="ignore", report_interval=report_interval
    )
    sampler = make_sampler(sampler_name, seed=seed)
    pruner = _make_pruner(pruner_name)
    if resumed is not None and resumed["min_energy_j"] is not None:
        pruner = EnergyAwareSuccessiveHalvingPruner(min_energy_j=resumed["min_energy_j"])
    study = optuna.create_study(
        # Hyperband pruners assign brackets by a hash of the study name and trial number: a
        # name fixed by the task keeps a run reproducible from its seed.
        study_name=f"{benchmark_name}/{method}/seed{seed}",
        direction="maximize",
        sampler=sampler,
        pruner=BudgetPruner(pruner, kwh=budget_kwh),
    )
    spent, best = 0.0, -np.inf
    steps: list[tuple[float, float]] = []  # (cumulative energy J, best value) when best improves

    def account(study: optuna.Study, trial: FrozenTrial) -> None:
        nonlocal spent, best
        spent += energy.consumed_energy(trial) or 0.0
        value = trial.value if trial.state == TrialState.COMPLETE else None
        if value is not None and value > best:
            best = value
            steps.append((spent, best))

    earlier_seconds, segments = 0.0, 1
    if resumed is not None:
        assert saved is not None
        study.add_trials(saved.trials)
        for trial in study.get_trials(deepcopy=False):
            account(study, trial)
        for random_state, (kind, keys, *rest) in zip(
            _random_states(sampler), resumed["rng"], strict=True
        ):
            random_state.rng.set_state((kind, np.array(keys, dtype=np.uint32), *rest))
        earlier_seconds, segments = resumed["seconds"], resumed["segments"] + 1
    start = time.perf_counter()

    def keep(study: optuna.Study, trial: FrozenTrial) -> None:
        assert saved is not None
        rung_energy_j = getattr(pruner, "rung_energy_j", None)
        snapshot = {
            "n_trials": trial.number + 1,
            "rng": [_state_to_json(s.rng.get_state()) for s in _random_states(sampler)],
            "seconds": earlier_seconds + time.perf_counter() - start,
            "segments": segments,
            "min_energy_j": rung_energy_j(0) if rung_energy_j is not None else None,
        }
        saved.append(trial, snapshot)

    callbacks = [account, SearchEnergyBudget(budget_kwh), *([keep] if saved else [])]
    try:
        study.optimize(objective, callbacks=callbacks)
    except (SystemExit, KeyboardInterrupt):
        if saved is not None:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_IGN)  # a second signal must not cut the save
            saved.save()
        raise
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return {
        "benchmark": benchmark_name,
        "method": method,
        "seed": seed,
        "budget_kwh": budget_kwh,
        "report_interval": report_interval,
        "n_trials": len(states),
        "n_pruned": states.count(optuna.trial.TrialState.PRUNED),
        "energy_j": spent,
        "steps": [[round(e, 1), round(v, 5)] for e, v in steps],
        "seconds": round(earlier_seconds + time.perf_counter() - start, 1),
        **({"segments": segments} if saved is not None else {}),
    }


def _state_to_json(state: tuple[Any, ...]) -> list[Any]:
    kind, keys, *rest = state  # NumPy's MT19937 state: name, 624 keys, position, Gaussian cache
    return [kind, keys.tolist(), *rest]


def _exit_on_signal(signum: int, frame: object) -> None:
    sys.exit(128 + signum)


def _run_task(task: tuple[str, str, int, float, int]) -> dict[str, Any]:
    """Run one search in a pool worker; SIGTERM exits it through ``run_search``'s save."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return run_search(*task, checkpoint=checkpoint_path(*task))


def _read(path: Path) -> Iterator[dict[str, Any]]:
    if path.exists():
        with path.open() as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)


def run_campaign(args: argparse.Namespace) -> None:
    done = {tuple(r[key] for key in _TASK_KEYS) for r in _read(args.output)}
    # Seed-major order: an unfinished campaign has every method on its first seeds.
    tasks = [
        (benchmark, method, seed, budget, args.report_interval)
        for benchmark in args.benchmark
        for seed in range(args.seeds)
        for method in args.methods
        for budget in [args.budget_kwh or PAPER_BUDGETS_KWH[benchmark]]
        if (benchmark, method, seed, budget, args.report_interval) not in done
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    # On SIGTERM (e.g. `pkill -f benchmarks/pruners.py`) leave the `with` block, so the pool
    # terminates its workers instead of leaving them computing results nobody will write.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with (
        args.output.open("a") as out,
        multiprocessing.get_context("spawn").Pool(args.jobs) as pool,
        tqdm(total=len(tasks), desc="searches") as progress,
    ):
        # Unordered: a search is written as soon as it ends, not after the slower ones before it.
        for result in pool.imap_unordered(_run_task, tasks):
            out.write(json.dumps(result) + "\n")
            out.flush()
            finished = checkpoint_path(*(result[key] for key in _TASK_KEYS))
            if finished is not None:
                finished.unlink(missing_ok=True)
            progress.update()


def _energy_to_reach(run: dict[str, Any], accuracy: float) -> float:
    """Search energy (J) when the run's best value first reached ``accuracy`` (inf: never)."""
    for spent, best in run["steps"]:
        if best >= accuracy - 1e-9:
            return spent
    return float("inf")


def _median_interval(values: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """Median and its 95 % percentile-bootstrap interval (infinite values allowed)."""
    medians = np.median(rng.choice(values, size=(2000, len(values))), axis=1)
    low = np.percentile(medians, 2.5, method="lower")
    high = np.percentile(medians, 97.5, method="higher")
    return float(np.median(values)), float(low), float(high)


def _regrets_at(runs: list[dict[str, Any]], optimum: float, joules: float) -> np.ndarray:
    """Each run's regret once it has spent ``joules`` (inf: nothing completed by then)."""
    regrets = []
    for run in runs:
        reached = [best for spent, best in run["steps"] if spent <= joules]
        regrets.append(max(optimum - reached[-1], 0.0) if reached else np.inf)
    return np.array(regrets)


def _final_regrets(runs: list[dict[str, Any]], optimum: float) -> np.ndarray:
    return _regrets_at(runs, optimum, np.inf)


def _kwh(values: tuple[float, float, float]) -> str:
    def fmt(joules: float) -> str:
        return "never" if not np.isfinite(joules) else f"{joules / _J_PER_KWH:.1f}"

    median, low, high = values
    return f"{fmt(median)} ({fmt(low)}-{fmt(high)})"


def table(runs: list[dict[str, Any]], optimum: dict[str, float]) -> str:
    """The Markdown comparison table and a verdict per energy-aware pruner.

    Per benchmark and sampler, the common regret level is the lowest median final regret of
    Optuna's pruners (upper median, so that pruner's median energy to reach it is finite); the
    best Optuna pruner is the one that reaches that level with the least median energy. The
    target: an energy-aware pruner needs at least 30 % less median energy than it.
    """
    lines: list[str] = []
    for benchmark in sorted({r["benchmark"] for r in runs}):
        best_acc = optimum[benchmark]
        for sampler in SAMPLERS:
            # One generator per table, so that a finished table keeps its intervals while
            # others gain runs.
            rng = np.random.default_rng(0)
            by_pruner: dict[str, list[dict[str, Any]]] = {}
            for run in runs:
                run_sampler, pruner = run["method"].split("/")
                if run["benchmark"] == benchmark and run_sampler == sampler:
                    by_pruner.setdefault(pruner, []).append(run)
            baselines = [p for p in OPTUNA_PRUNERS if p in by_pruner]
            if not baselines:
                continue
            level = min(
                float(np.percentile(_final_regrets(by_pruner[p], best_acc), 50, method="higher"))
                for p in baselines
            )
            target = best_acc - level
            reach = {
                pruner: np.array([_energy_to_reach(r, target) for r in group])
                for pruner, group in by_pruner.items()
            }
            best_optuna = min(baselines, key=lambda p: float(np.median(reach[p])))
            best_median = float(np.median(reach[best_optuna]))
            budget = by_pruner[baselines[0]][0]["budget_kwh"]
            lines += [
                f"### {benchmark}, {sampler} sampler (budget {budget:g} kWh, optimum "
                f"{best_acc:.2f} %, common regret level {level:.2f} points)",
                "",
                "| pruner | seeds | trials (median) | pruned (median) | energy to reach the "
                "common regret, kWh (95 % CI) | final regret, points (95 % CI) | verdict |",
                "|---|---|---|---|---|---|---|",
            ]
            for pruner in [p for p in PRUNERS if p in by_pruner]:
                group = by_pruner[pruner]
                energy_ci = _median_interval(reach[pruner], rng)
                final = _median_interval(_final_regrets(group, best_acc), rng)
                verdict = "best Optuna pruner" if pruner == best_optuna else ""
                if pruner in ENERGY_AWARE_PRUNERS:
                    saving = 1.0 - energy_ci[0] / best_median
                    verdict = f"{'met' if saving >= 0.30 else '**missed**'}: " + (
                        "median run never reaches the level"
                        if not np.isfinite(saving)
                        else f"{saving:.0%} less energy than {best_optuna}"
                        if saving >= 0
                        else f"{-saving:.0%} more energy than {best_optuna}"
                    )
                lines.append(
                    f"| {pruner} | {len(group)} | "
                    f"{int(np.median([r['n_trials'] for r in group]))} | "
                    f"{int(np.median([r['n_pruned'] for r in group]))} | {_kwh(energy_ci)} | "
                    f"{final[0]:.2f} ({final[1]:.2f}-{final[2]:.2f}) | {verdict} |"
                )
            lines += ["", *_curve_table(by_pruner, best_acc, budget), ""]
    return "\n".join(lines)


def _curve_table(
    by_pruner: dict[str, list[dict[str, Any]]], optimum: float, budget_kwh: float
) -> list[str]:
    """Median regret (points) against search energy, at tenths of the budget; search time."""
    fractions = np.linspace(0.1, 1.0, 10)
    header = " | ".join(f"{f * budget_kwh:g}" for f in fractions)
    lines = [
        "Median regret (points) after a search has spent the given kWh ('-': the median run has"
        " completed no trial yet), and the median wall-clock time of one search (one process per"
        " core on this project's 2-core machine):",
        "",
        f"| pruner | {header} | time, s |",
        "|---|" + "---|" * (len(fractions) + 1),
    ]
    for pruner in [p for p in PRUNERS if p in by_pruner]:
        group = by_pruner[pruner]
        medians = [
            float(np.median(_regrets_at(group, optimum, f * budget_kwh * _J_PER_KWH)))
            for f in fractions
        ]
        cells = " | ".join(f"{m:.2f}" if np.isfinite(m) else "-" for m in medians)
        lines.append(f"| {pruner} | {cells} | {np.median([r['seconds'] for r in group]):.0f} |")
    return lines


def budget_overhead(n_trials: int) -> None:
    """Time of one ``SearchEnergyBudget`` check in a study of ``n_trials`` finished trials
    and one running trial: the first check reads every trial, later ones only the running."""
    study = optuna.create_study(direction="maximize")
    for number in range(n_trials):
        study.add_trial(
            optuna.trial.create_trial(
                value=float(number), user_attrs={energy.ENERGY_J: 1000.0 + number}
            )
        )
    running = study.ask()
    budget = SearchEnergyBudget(1e9)
    for label, repeats in (("first check", 1), ("later checks", 1000)):
        start = time.perf_counter()
        for joules in range(repeats):
            running.set_user_attr(energy.ENERGY_J, float(joules))
            budget.consumed_j(study)
        print(f"{label}: {1e3 * (time.perf_counter() - start) / repeats:.3f} ms per check")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(line for line in __doc__.splitlines() if line.startswith("    python")),
    )
    parser.add_argument(
        "--benchmark", nargs="+", default=["cifar10"], choices=list(PAPER_BUDGETS_KWH)
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 per method")
    parser.add_argument(
        "--budget-kwh", type=float, default=None, help="default: the paper's per benchmark"
    )
    parser.add_argument("--report-interval", type=int, default=10, help="epochs per report")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("-o", "--output", type=Path, default=RESULTS)
    parser.add_argument("--table", action="store_true", help="print the table of --output")
    parser.add_argument(
        "--overhead",
        type=int,
        metavar="N",
        help="measure SearchEnergyBudget's cost per check in an N-trial study and exit",
    )
    args = parser.parse_args()
    if args.seeds < 1 or args.jobs < 1 or args.report_interval < 1:
        parser.error("--seeds, --jobs and --report-interval must be at least 1")
    if args.budget_kwh is not None and not args.budget_kwh > 0:
        parser.error(f"--budget-kwh must be positive, got {args.budget_kwh}")
    if args.overhead:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        budget_overhead(args.overhead)
        return
    if args.table:
        runs = list(_read(args.output))
        if not runs:
            parser.error(f"no finished runs in {args.output}")
        # estimate_optimum is a lower bound; regret is against the best accuracy known, its
        # estimate or the best any run of the campaign reached.
        optimum = {
            name: max(
                estimate_optimum(Benchmark.load(name), seed=0).accuracy,
                *(r["steps"][-1][1] for r in runs if r["benchmark"] == name and r["steps"]),
            )
            for name in sorted({r["benchmark"] for r in runs})
        }
        print(table(runs, optimum))
        return
    run_campaign(args)


if __name__ == "__main__":
    main()
