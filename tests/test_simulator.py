from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from optuna_eahas.cli import main
from optuna_eahas.records import read_records
from optuna_eahas.simulate import ReferenceSimulator
from optuna_eahas.simulate._calibration import calibration_report

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference"


@pytest.fixture(scope="module")
def cifar_checks() -> dict:
    return {c.name: c for c in calibration_report("cifar10", n=2500, seed=3, repeats=150)}


@pytest.fixture(scope="module")
def tiny_checks() -> dict:
    return {c.name: c for c in calibration_report("tinyimagenet", n=2000, seed=4, repeats=100)}


def test_every_cifar10_calibration_target_holds(cifar_checks: dict) -> None:
    missed = [c.row() for c in cifar_checks.values() if not c.passed]
    assert not missed, "\n".join(missed)
    assert len(cifar_checks) >= 20


def test_every_tinyimagenet_calibration_target_holds(tiny_checks: dict) -> None:
    missed = [c.row() for c in tiny_checks.values() if not c.passed]
    assert not missed, "\n".join(missed)


def test_quantile_targets_are_asserted_with_published_tolerances(cifar_checks: dict) -> None:
    assert 86 <= cifar_checks["final accuracy median (%)"].value <= 90
    assert 67 <= cifar_checks["final accuracy Q1 (%)"].value <= 75
    assert 90.5 <= cifar_checks["final accuracy Q3 (%)"].value <= 93.5
    assert cifar_checks["final accuracy max (%)"].value <= 96.5
    assert cifar_checks["Pearson r(total energy, total time)"].value <= 0.95


def _simulate(dataset: str, n: int, seed: int):
    sim = ReferenceSimulator(dataset)
    configs, seeds = sim.sample_configs(n, seed=seed, constrained_fraction=0.5)
    return sim, configs, sim.simulate(configs, seeds=seeds)


def test_simulation_is_deterministic_for_a_seed() -> None:
    _, _, first = _simulate("cifar10", 50, 7)
    _, _, second = _simulate("cifar10", 50, 7)
    _, _, other = _simulate("cifar10", 50, 8)
    strip = [{**r.to_dict(), "provenance": None} for r in first]
    assert strip == [{**r.to_dict(), "provenance": None} for r in second]
    assert strip != [{**r.to_dict(), "provenance": None} for r in other]


def test_seed_changes_noise_but_not_expected_curve() -> None:
    sim = ReferenceSimulator("cifar10")
    config = sim.space.sample(1, seed=11, constrained=True)[0] | {
        "optimizer": "sgd",
        "learning_rate": 0.1,
    }
    runs = sim.simulate([config, config], seeds=[1, 2])
    expected = sim.expected([config]).test_accuracy[0]
    assert not np.allclose(runs[0].test_accuracy, runs[1].test_accuracy)
    for run in runs:
        assert np.abs(run.test_accuracy - expected).mean() < 2.0
    assert np.array_equal(sim.expected([config]).test_accuracy[0], expected)


def test_noise_is_larger_early_than_late() -> None:
    sim, configs, records = _simulate("cifar10", 300, 5)
    expected = sim.expected(configs)
    early, late = [], []
    for i, record in enumerate(records):
        if expected.diverged[i] or record.epochs < 50:
            continue
        residual = record.test_accuracy - expected.test_accuracy[i, : record.epochs]
        early.append(residual[:10].std())
        late.append(residual[-10:].std())
    assert np.median(early) > 2 * np.median(late)


def test_warmup_and_schedules() -> None:
    sim = ReferenceSimulator("cifar10")
    base = sim.space.sample(1, seed=2, constrained=True)[0]
    configs = [base | {"lr_policy": p, "max_epoch": 100} for p in ("cos", "exp", "lin")]
    factors = sim.expected(configs).lr_factors
    assert np.allclose(factors[:, 0], 0.1)
    assert np.all(np.diff(factors[:, :6], axis=1) > 0)  # warm-up ramps up to epoch 5
    cos, exp, lin = factors
    assert exp[50] < 1e-2 and cos[50] > 0.4 and lin[50] > 0.4
    assert min(cos[-1], lin[-1], exp[-1]) < 0.01


def test_simulator_covers_whole_space() -> None:
    sim = ReferenceSimulator("cifar10")
    configs = sim.space.sample(500, seed=1)
    assert not sim.space.feasible_mask(sim.space.columns(configs)).all()
    records = sim.simulate(configs, seeds=list(range(500)))
    assert all(
        r.provenance.source == "simulated" and r.provenance.energy_estimated for r in records
    )
    assert all(r.complete for r in records)


def test_repeat_variation_matches_ec_nas_bench() -> None:
    path = REFERENCE / "ec-nas-bench" / "energy_runs.csv"
    if not path.exists():
        pytest.skip(f"reference data not found at {path} (the project's ../shared/data)")
    energy: dict[str, list[float]] = {}
    with open(path) as file:
        for row in csv.DictReader(file):
            if row["space"] == "4V9E" and row["epochs"] == "4.0":
                energy.setdefault(row["model_hash"], []).append(float(row["energy_kwh"]))
    cvs = [np.std(v, ddof=1) / np.mean(v) for v in energy.values() if len(v) == 3]
    published = 100 * float(np.median(cvs))
    simulated = {c.name: c for c in calibration_report("cifar10", n=400, seed=9, repeats=300)}
    value = simulated["repeat CV of energy (%)"].value
    assert 1.5 <= published <= 3.5
    assert abs(value - published) < 1.0


def test_zeus_v100_epoch_range_brackets_simulated_median(cifar_checks: dict) -> None:
    path = REFERENCE / "zeus" / "summary_power_v100.csv"
    if not path.exists():
        pytest.skip(f"reference data not found at {path} (the project's ../shared/data)")
    with open(path) as file:
        rows = [
            r
            for r in csv.DictReader(file)
            if r["network"] == "shufflenetv2" and r["batch_size"] == "1024"
        ]
    times = [float(r["time_per_epoch"]) for r in rows]
    assert 7 <= min(times) and max(times) <= 12
    assert cifar_checks["epoch time P5 (s)"].value >= 5


def test_cli_writes_readable_records(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    output = tmp_path / "records.jsonl.gz"
    assert main(["simulate", "--dataset", "tinyimagenet", "--n", "30", "-o", str(output)]) == 0
    records = read_records(output)
    assert len(records) == 30
    assert {r.dataset for r in records} == {"tinyimagenet"}
    assert main(["simulate", "--n", "5", "-o", str(tmp_path / "bad.csv")]) == 1
    assert "must end in .jsonl" in capsys.readouterr().err
