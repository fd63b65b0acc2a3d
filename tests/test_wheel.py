from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_default_benchmarks_and_queries_without_the_source_tree(
    tmp_path: Path,
) -> None:
    pytest.importorskip("build")
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("optuna_eahas-*.whl")
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import sys, optuna_eahas\n"
        "from optuna_eahas import Benchmark\n"
        "assert optuna_eahas.__file__.startswith(sys.argv[1]), optuna_eahas.__file__\n"
        "for name in ('cifar10', 'tinyimagenet'):\n"
        "    bench = Benchmark.load(name)\n"
        "    result = bench.query(bench.sample(1, seed=0)[0])\n"
        "    assert bench.identity['simulated'] and result.total_train_energy_j > 0\n"
        "print('torch' in sys.modules)\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"  # the surrogate path needs no torch
