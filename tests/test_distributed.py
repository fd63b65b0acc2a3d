"""Many ``eahas run`` worker processes on one study, over SQLite and PostgreSQL.

EA-HAS-Bench campaigns (methods x seeds) outgrow one process; Optuna's distributed mode
shares one RDB storage between workers. These tests check that nothing is lost or counted
twice: trial counts, trial numbers, every trial's energy against the benchmark, the search
energy, and a kWh budget shared by all workers.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
import time

import optuna
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest
from workers.storages import STORAGES
from workers.storages import eahas_run
from workers.storages import fresh_study
from workers.storages import start_workers
from workers.storages import storage_url
from workers.storages import wait_all

from optuna_eahas import energy
from optuna_eahas import search_energy
from optuna_eahas.benchmark import Benchmark

N_WORKERS = 4
TRIALS_PER_WORKER = 500
# One report per trial (at its last epoch): a report is a few storage writes, and the writes,
# not the benchmark, bound a distributed study's speed.
REPORT_INTERVAL = 1000
_J_PER_KWH = 3.6e6


@pytest.fixture(scope="module")
def benchmark() -> Benchmark:
    return Benchmark.load("cifar10")


def _worker_options(url: str, name: str, seed: int) -> list[str]:
    return [
        "--storage",
        url,
        "--study-name",
        name,
        "--dataset",
        "cifar10",
        "--sampler",
        "random",
        "--seed",
        str(seed),
        "--pruner",
        "none",
        "--constraints",
        "ignore",
        "--report-interval",
        str(REPORT_INTERVAL),
    ]


def _assert_energy_matches_benchmark(trial: FrozenTrial, benchmark: Benchmark) -> None:
    """The stored energy is the benchmark's per-epoch energy summed over the reported epochs."""
    result = benchmark.query(trial.params)
    epochs = trial.user_attrs[energy.EPOCHS]
    assert epochs == trial.params["max_epoch"]
    expected_j = math.fsum(result.train_energy_j[:epochs].tolist())
    assert trial.user_attrs[energy.ENERGY_J] == pytest.approx(expected_j, rel=1e-12)
    assert trial.value == pytest.approx(float(result.test_accuracy[epochs - 1]), rel=1e-12)


@pytest.mark.parametrize("kind", STORAGES)
def test_four_workers_500_trials_each(kind: str, benchmark: Benchmark, tmp_path: Path) -> None:
    with storage_url(kind) as url, fresh_study(url, "workers") as name:
        started = time.perf_counter()
        workers = start_workers(
            [
                eahas_run(*_worker_options(url, name, seed), "--n-trials", str(TRIALS_PER_WORKER))
                for seed in range(N_WORKERS)
            ],
            tmp_path,
        )
        wait_all(workers, tmp_path, timeout=900)
        wall_s = time.perf_counter() - started

        study = optuna.load_study(study_name=name, storage=url)
        trials = study.get_trials(deepcopy=False)
        assert len(trials) == N_WORKERS * TRIALS_PER_WORKER
        assert all(t.state == TrialState.COMPLETE for t in trials)
        assert sorted(t.number for t in trials) == list(range(N_WORKERS * TRIALS_PER_WORKER))
        assert len({t._trial_id for t in trials}) == len(trials)
        # The four seeded samplers drew different configurations (no trial ran twice).
        assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)
        for trial in trials:
            _assert_energy_matches_benchmark(trial, benchmark)
        total_j = math.fsum(t.user_attrs[energy.ENERGY_J] for t in trials)
        assert search_energy(study) == pytest.approx(total_j, rel=1e-12)
        print(
            f"{kind}: {N_WORKERS} workers x {TRIALS_PER_WORKER} trials in {wall_s:.1f} s, "
            f"{total_j / _J_PER_KWH:.2f} kWh"
        )


@pytest.mark.parametrize("kind", STORAGES)
def test_shared_budget_overshoots_by_at_most_one_trial_per_worker(
    kind: str, tmp_path: Path
) -> None:
    budget_kwh = 3.0  # about 60 CIFAR-10 trials
    with storage_url(kind) as url, fresh_study(url, "budget") as name:
        workers = start_workers(
            [
                eahas_run(
                    *_worker_options(url, name, seed),
                    "--n-trials",
                    "1000",
                    "--budget-kwh",
                    str(budget_kwh),
                )
                for seed in range(N_WORKERS)
            ],
            tmp_path,
        )
        wait_all(workers, tmp_path, timeout=600)

        study = optuna.load_study(study_name=name, storage=url)
        trials = study.get_trials(deepcopy=False)
        assert all(t.state == TrialState.COMPLETE for t in trials)
        spent_j = search_energy(study)
        budget_j = budget_kwh * _J_PER_KWH
        assert spent_j >= budget_j
        # With one report per trial, a trial's energy enters the storage just before it
        # completes: the budget was reached when the completed trials' energy first covered
        # it. Every trial finishing after that was in flight then, at most one per worker.
        by_completion = sorted(trials, key=lambda t: t.datetime_complete)
        cumulative_j = itertools.accumulate(t.user_attrs[energy.ENERGY_J] for t in by_completion)
        crossing = next(i for i, joules in enumerate(cumulative_j) if joules >= budget_j)
        in_flight = by_completion[crossing:]
        assert 1 <= len(in_flight) <= N_WORKERS
        overshoot_j = spent_j - budget_j
        assert overshoot_j <= math.fsum(t.user_attrs[energy.ENERGY_J] for t in in_flight)
