from __future__ import annotations

from pathlib import Path
import re
import subprocess
import sys

from conftest import benchmark_dir
import pytest

_EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(_EXAMPLES / name), "--n-trials", "8", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("quickstart.py", r"^search energy: \d+\.\d+ kWh$"),
        ("multi_objective.py", r"^Pareto front: \d+ of 8 trials$"),
        ("partial_search_space.py", r"^best accuracy: \d+\.\d+% \(trial \d+\)$"),
    ],
)
def test_benchmark_example(name: str, expected: str) -> None:
    out = _run(name, "--benchmark", str(benchmark_dir("cifar10")))
    assert re.search(expected, out, flags=re.MULTILINE), out


def test_energy_aware_existing_loop() -> None:
    out = _run("energy_aware_existing_loop.py")
    assert re.search(r"^search energy: .* kWh \(estimated, 65.0 W\)$", out, flags=re.MULTILINE)
