from __future__ import annotations

from importlib import resources
from pathlib import Path
import re
import subprocess
import sys

import pytest

_EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _benchmark_dir(dataset: str) -> Path:
    """The packaged benchmark when built, else the development artifact, else skip."""
    packaged = resources.files("optuna_eahas.data").joinpath(f"{dataset}/manifest.json")
    if packaged.is_file():
        return Path(str(packaged)).parent
    dev = Path(__file__).resolve().parents[1] / "out" / f"dev-{dataset}"
    if (dev / "manifest.json").is_file():
        return dev
    pytest.skip(
        f"no {dataset} benchmark: run 'make default-benchmarks' or build out/dev-{dataset}"
    )


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
    out = _run(name, "--benchmark", str(_benchmark_dir("cifar10")))
    assert re.search(expected, out, flags=re.MULTILINE), out


def test_energy_aware_existing_loop() -> None:
    out = _run("energy_aware_existing_loop.py")
    assert re.search(r"^search energy: .* kWh \(estimated, 65.0 W\)$", out, flags=re.MULTILINE)
