"""Compare the energy-aware samplers with their bases: test regret against search energy.

The project's shared comparison protocol: ``eahas_objective(benchmark=..., noise=False,
constraints="ignore")`` (the whole joint space, mean surrogate; seeds vary the sampler only),
each search stops as soon as the summed training energy of its trials reaches the budget
(EA-HAS-Bench, Dou et al., ICLR 2023, Sec. 5: 40 kWh on CIFAR-10, 250 kWh on TinyImageNet),
and test regret is ``estimate_optimum(benchmark, seed=0).regret(best value so far)``.

Each finished run is one JSON line of ``benchmarks/results/samplers.jsonl`` (committed; a rerun
skips finished runs, so a campaign resumes across sessions and machines) holding the steps of
its best-so-far curve against cumulative search energy (J). ``--table`` turns the lines into
the Markdown table of ``docs/samplers.md``: per method, the median (95 % bootstrap interval)
search energy needed to reach its base method's median final regret, and the median final
regret at the budget; each EA variant is checked against the target (>= 25 % less median
energy, final regret no worse).

    python benchmarks/samplers.py --benchmark cifar10 --seeds 20 --jobs 2
    python benchmarks/samplers.py --table
    python benchmarks/samplers.py --methods ea-tpe ea-ls ea-bananas --penalty-weight -0.02
    python benchmarks/samplers.py --overhead 10000   # the wrapper's cost per trial
    python benchmarks/samplers.py --penalty-cost 30000 --benchmark cifar10 tinyimagenet

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
import time
from typing import Any

import numpy as np
import optuna
from optuna.samplers import BaseSampler
from tqdm import tqdm

from optuna_eahas import Benchmark
from optuna_eahas import eahas_objective
from optuna_eahas import energy
from optuna_eahas.benchmark import estimate_optimum
from optuna_eahas.samplers import BananasSampler
from optuna_eahas.samplers import CostAwareSampler
from optuna_eahas.samplers import EnergyAwareSampler
from optuna_eahas.samplers import LocalSearchSampler

_J_PER_KWH = 3.6e6
# Committed, so that a campaign spread over several sessions or machines resumes where it stopped.
RESULTS = Path(__file__).parent / "results" / "samplers.jsonl"
PAPER_BUDGETS_KWH = {"cifar10": 40.0, "tinyimagenet": 250.0}
# Each EA variant and the base it is compared with.
EA_BASES = {"ea-random": "random", "ea-tpe": "tpe", "ea-ls": "ls", "ea-bananas": "bananas"}
# A fixed, looser regret level (%) whose energy-to-reach the table also gives.
FIXED_REGRET = 1.0
# The method whose median final regret sets each row's target (a base method's is its own).
REFERENCE = {**EA_BASES, "cost-aware": "tpe"}
# The paper's EA-BANANAS weight (Sec. 5), the default; ``--penalty-weight`` runs others.
PAPER_WEIGHT = energy.MultiplicativePenalty().weight


def _make_sampler(method: str, seed: int, budget_j: float, weight: float) -> BaseSampler:
    penalty = energy.MultiplicativePenalty(weight=weight)  # the paper's EA-BANANAS form
    factories: dict[str, Callable[[], BaseSampler]] = {
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
        "ls": lambda: LocalSearchSampler(seed=seed),
        "bananas": lambda: BananasSampler(seed=seed),
        "ea-random": lambda: EnergyAwareSampler(
            optuna.samplers.RandomSampler(seed=seed), penalty=penalty
        ),
        "ea-tpe": lambda: EnergyAwareSampler(
            optuna.samplers.TPESampler(seed=seed), penalty=penalty
        ),
        "ea-ls": lambda: LocalSearchSampler(seed=seed, penalty=penalty),
        "ea-bananas": lambda: BananasSampler(seed=seed, penalty=penalty),
        "cost-aware": lambda: CostAwareSampler(seed=seed, energy_budget_j=budget_j),
    }
    return factories[method]()


METHODS = (
    "random",
    "ea-random",
    "tpe",
    "ea-tpe",
    "ls",
    "ea-ls",
    "bananas",
    "ea-bananas",
    "cost-aware",
)

_benchmarks: dict[str, Benchmark] = {}


def run_search(
    benchmark_name: str, method: str, seed: int, budget_kwh: float, weight: float
) -> dict[str, Any]:
    """One search until its summed trial energy reaches the budget; its best-so-far steps."""
    benchmark = _benchmarks.get(benchmark_name)
    if benchmark is None:
        benchmark = _benchmarks[benchmark_name] = Benchmark.load(benchmark_name)
    budget_j = budget_kwh * _J_PER_KWH
    # No pruner runs here, so one report at the last epoch changes nothing but saves time.
    objective = eahas_objective(
        benchmark=benchmark, noise=False, constraints="ignore", report_interval=200
    )
    # No pruning: the comparison is between samplers (Optuna's default would prune here).
    study = optuna.create_study(
        direction="maximize",
        sampler=_make_sampler(method, seed, budget_j, weight),
        pruner=optuna.pruners.NopPruner(),
    )
    spent = 0.0
    best = -np.inf
    steps: list[tuple[float, float]] = []  # (cumulative energy J, best value) when best improves

    def account(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal spent, best
        spent += energy.consumed_energy(trial) or 0.0
        if trial.state == optuna.trial.TrialState.COMPLETE and trial.value > best:
            best = trial.value
            steps.append((spent, best))
        if spent >= budget_j:
            study.stop()

    start = time.perf_counter()
    study.optimize(objective, callbacks=[account])
    return {
        "benchmark": benchmark_name,
        "method": method,
        "seed": seed,
        "budget_kwh": budget_kwh,
        "penalty_weight": weight,
        "n_trials": len(study.trials),
        "energy_j": spent,
        "steps": [[round(e, 1), round(v, 5)] for e, v in steps],
        "seconds": round(time.perf_counter() - start, 1),
    }


def _run_task(task: tuple[str, str, int, float, float]) -> dict[str, Any]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return run_search(*task)


def _read(path: Path) -> Iterator[dict[str, Any]]:
    if path.exists():
        with path.open() as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)


def _weight(run: dict[str, Any]) -> float:
    """The run's penalty weight (runs stored before the option had the paper's)."""
    return float(run.get("penalty_weight", PAPER_WEIGHT))


def _label(run: dict[str, Any]) -> str:
    """The table row of a run: its method, with the weight when it is not the paper's."""
    weight = _weight(run)
    if run["method"] in EA_BASES and weight != PAPER_WEIGHT:
        return f"{run['method']} (w={weight:g})"
    return run["method"]


def run_campaign(args: argparse.Namespace) -> None:
    done = {
        (r["benchmark"], r["method"], r["seed"], r["budget_kwh"], _weight(r))
        for r in _read(args.output)
    }
    tasks = [
        task
        for benchmark in args.benchmark
        for seed in range(args.seeds)
        for method in args.methods
        for task in [
            (
                benchmark,
                method,
                seed,
                args.budget_kwh or PAPER_BUDGETS_KWH[benchmark],
                args.penalty_weight if method in EA_BASES else PAPER_WEIGHT,
            )
        ]
        if task not in done
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with (
        args.output.open("a") as out,
        multiprocessing.get_context("spawn").Pool(args.jobs) as pool,
        tqdm(total=len(tasks), desc="searches") as progress,
    ):
        for result in pool.imap_unordered(_run_task, tasks):
            out.write(json.dumps(result) + "\n")
            out.flush()
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


def _final_regrets(runs: list[dict[str, Any]], optimum: float) -> np.ndarray:
    return np.array(
        [max(optimum - (r["steps"][-1][1] if r["steps"] else -np.inf), 0.0) for r in runs]
    )


def _kwh(values: tuple[float, float, float]) -> str:
    def fmt(joules: float) -> str:
        return "never" if not np.isfinite(joules) else f"{joules / _J_PER_KWH:.1f}"

    median, low, high = values
    return f"{fmt(median)} ({fmt(low)}-{fmt(high)})"


def table(runs: list[dict[str, Any]], optimum: dict[str, float]) -> str:
    """The Markdown comparison table and the verdict per EA variant."""
    rng = np.random.default_rng(0)
    lines: list[str] = []
    for benchmark in sorted({r["benchmark"] for r in runs}):
        by_method: dict[str, list[dict[str, Any]]] = {}
        for run in runs:
            if run["benchmark"] == benchmark:
                by_method.setdefault(_label(run), []).append(run)
        best_acc = optimum[benchmark]

        budget = by_method[next(iter(by_method))][0]["budget_kwh"]
        lines += [
            f"### {benchmark} (budget {budget:g} kWh, optimum {best_acc:.2f} %)",
            "",
            "| method | seeds | trials (median) | energy to reach the base's median final "
            f"regret, kWh (95 % CI) | energy to reach {FIXED_REGRET:g} % regret, kWh | "
            "final regret, % (95 % CI) | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        rows = sorted(by_method, key=lambda label: (METHODS.index(label.split()[0]), label))
        for method in rows:
            base = REFERENCE.get(method.split()[0], method)
            if base not in by_method:
                continue
            # The upper median: at least half of the base's seeds reach it, so the base's own
            # median energy to reach it is finite.
            target_regret = float(
                np.percentile(_final_regrets(by_method[base], best_acc), 50, method="higher")
            )
            energies = np.array(
                [_energy_to_reach(r, best_acc - target_regret) for r in by_method[method]]
            )
            regrets = _final_regrets(by_method[method], best_acc)
            base_final = float(np.median(_final_regrets(by_method[base], best_acc)))
            reach = _median_interval(energies, rng)
            reach_fixed = _median_interval(
                np.array(
                    [_energy_to_reach(r, best_acc - FIXED_REGRET) for r in by_method[method]]
                ),
                rng,
            )
            final = _median_interval(regrets, rng)
            verdict = ""
            if method.split()[0] in EA_BASES:
                base_energies = np.array(
                    [_energy_to_reach(r, best_acc - target_regret) for r in by_method[base]]
                )
                base_median = float(np.median(base_energies))
                saving = 1.0 - reach[0] / base_median
                met = saving >= 0.25 and final[0] <= base_final + 1e-9
                energy_text = (
                    f"{saving:.0%} less energy than {base}"
                    if np.isfinite(saving)
                    else f"never reaches {base}'s regret"
                )
                verdict = (
                    f"{'met' if met else '**missed**'}: {energy_text}; final "
                    f"regret {final[0]:.2f} vs {base_final:.2f}"
                )
            elif method == "cost-aware":
                verdict = "no target (compared with tpe)"
            n_trials = int(np.median([r["n_trials"] for r in by_method[method]]))
            lines.append(
                f"| {method} | {len(by_method[method])} | {n_trials} | {_kwh(reach)} | "
                f"{_kwh(reach_fixed)} | "
                f"{final[0]:.2f} ({final[1]:.2f}-{final[2]:.2f}) | {verdict} |"
            )
        lines.append("")
    return "\n".join(lines)


def wrapper_overhead(n_trials: int) -> None:
    """Per-trial time of ``EnergyAwareSampler(RandomSampler)`` against ``RandomSampler``.

    Random sampling costs nearly nothing, so the difference is the wrapper's own work (copying
    each finished trial into the shadow study, the running twin); printed over the first and
    the last 10 % of the trials, to show that it does not grow with the study.
    """

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_categorical("c", ["a", "b", "c"])
        energy.record(trial, 1000.0 * (1.0 + x), epochs=1)
        return x

    for name, sampler in (
        ("random", optuna.samplers.RandomSampler(seed=0)),
        ("energy-aware(random)", EnergyAwareSampler(optuna.samplers.RandomSampler(seed=0))),
    ):
        stamps: list[float] = []
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(
            objective,
            n_trials=n_trials,
            callbacks=[lambda study, trial, stamps=stamps: stamps.append(time.perf_counter())],
        )
        seconds = np.diff(stamps)
        tenth = max(len(seconds) // 10, 1)
        print(
            f"{name}: {1e3 * seconds[:tenth].mean():.2f} ms/trial over the first 10 %, "
            f"{1e3 * seconds[-tenth:].mean():.2f} ms/trial over the last 10 % "
            f"({n_trials} trials)"
        )


def penalty_cost(benchmark_name: str, n_configs: int, weight: float) -> None:
    """What the penalty with ``weight`` gives up: among ``n_configs`` random configurations,
    the best final accuracy against the accuracy of the best penalised score (and energies)."""
    benchmark = Benchmark.load(benchmark_name)
    configs = benchmark.sample(n_configs, seed=1)
    results = benchmark.query_many(configs)
    accuracy = np.array([r.final_accuracy for r in results])
    total_j = np.array([r.total_train_energy_j for r in results])
    per_epoch_j = total_j / np.array([c["max_epoch"] for c in configs])
    penalty = energy.MultiplicativePenalty(weight=weight)
    score = np.array(
        [
            penalty(a, e, optuna.study.StudyDirection.MAXIMIZE)
            for a, e in zip(accuracy, per_epoch_j, strict=True)
        ]
    )
    for label, i in (("best accuracy", accuracy.argmax()), ("best penalised", score.argmax())):
        print(
            f"{benchmark_name} {label} (w={weight:g}): {accuracy[i]:.2f} % at "
            f"{per_epoch_j[i]:.0f} J/epoch, "
            f"{total_j[i] / _J_PER_KWH:.3f} kWh ({n_configs} random configurations)"
        )


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
    parser.add_argument(
        "--penalty-weight",
        type=float,
        default=PAPER_WEIGHT,
        help="the EA variants' MultiplicativePenalty weight (default: the paper's)",
    )
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("-o", "--output", type=Path, default=RESULTS)
    parser.add_argument("--table", action="store_true", help="print the table of --output")
    parser.add_argument(
        "--penalty-cost",
        type=int,
        metavar="N",
        help="print the accuracy the paper's penalty trades away, over N random configurations",
    )
    parser.add_argument(
        "--overhead",
        type=int,
        metavar="N",
        help="measure the EnergyAwareSampler's per-trial overhead over N trials and exit",
    )
    args = parser.parse_args()
    if args.seeds < 1 or args.jobs < 1:
        parser.error("--seeds and --jobs must be at least 1")
    if args.budget_kwh is not None and not args.budget_kwh > 0:
        parser.error(f"--budget-kwh must be positive, got {args.budget_kwh}")
    if args.penalty_cost:
        for name in args.benchmark:
            penalty_cost(name, args.penalty_cost, args.penalty_weight)
        return
    if args.overhead:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        wrapper_overhead(args.overhead)
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
