from __future__ import annotations

from pathlib import Path
import re
import subprocess
import sys

from conftest import benchmark_dir

_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "energy_aware_pruning.py"


def test_energy_aware_pruning_example_stops_at_the_budget() -> None:
    result = subprocess.run(
        [sys.executable, str(_EXAMPLE), "--budget-kwh", "1", "--benchmark"]
        + [str(benchmark_dir("cifar10"))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    trials = re.search(r"^trials: (\d+) \((\d+) pruned\)$", result.stdout, flags=re.MULTILINE)
    assert trials is not None, result.stdout
    assert int(trials[2]) >= 1  # at least the trial in flight at the budget
    spent = re.search(r"^search energy: (\d+\.\d+) kWh \(budget 1 kWh\)$", result.stdout, re.M)
    assert spent is not None, result.stdout
    # One report interval (5 epochs) of one trial past the budget at most.
    assert 1.0 <= float(spent[1]) < 1.1
