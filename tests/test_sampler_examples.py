from __future__ import annotations

from pathlib import Path
import re
import subprocess
import sys

from conftest import benchmark_dir
import pytest

_EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
_LINE = re.compile(
    r"^(?P<name>[\w-]+): best accuracy (?P<acc>\d+\.\d+)% in (?P<trials>\d+) trials, "
    r"search energy (?P<kwh>\d+\.\d+) kWh$",
    flags=re.MULTILINE,
)


def _run(name: str, *args: str) -> dict[str, dict[str, float]]:
    result = subprocess.run(
        [
            sys.executable,
            str(_EXAMPLES / name),
            "--benchmark",
            str(benchmark_dir("cifar10")),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return {
        m["name"]: {"acc": float(m["acc"]), "trials": int(m["trials"]), "kwh": float(m["kwh"])}
        for m in _LINE.finditer(result.stdout)
    }


@pytest.mark.parametrize(
    ("example", "names"),
    [
        ("energy_aware_sampler.py", {"tpe", "ea-tpe"}),
        ("local_search_sampler.py", {"ls", "ea-ls"}),
        ("bananas_sampler.py", {"bananas", "ea-bananas"}),
    ],
)
def test_sampler_example_runs_both_variants(example: str, names: set[str]) -> None:
    results = _run(example, "--n-trials", "12")
    assert set(results) == names
    for result in results.values():
        assert result["trials"] == 12
        assert 10.0 < result["acc"] <= 100.0
        assert result["kwh"] > 0.0


def test_cost_aware_example_stops_each_search_at_the_budget() -> None:
    results = _run("cost_aware_sampler.py", "--budget-kwh", "0.5")
    assert set(results) == {"tpe", "cost-aware"}
    for result in results.values():
        # Stops at the first trial that reaches the budget: over it by less than one trial.
        assert 0.5 <= result["kwh"] < 0.5 + 0.6
        assert result["trials"] >= 2
