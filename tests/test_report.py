from __future__ import annotations

from pathlib import Path
import re

import optuna
import pytest

from optuna_eahas import eahas_objective
from optuna_eahas import energy
from optuna_eahas.benchmark import Optimum
from optuna_eahas.cli import _report
from optuna_eahas.cli import main


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A journal storage holding a small 'eahas compare' run: two methods x two seeds."""
    storage = str(tmp_path_factory.mktemp("report") / "compare.log")
    argv = ["compare", "--methods", "random+none", "tpe+median", "--seeds", "0", "1"]
    argv += ["--budget-kwh", "0.15", "--storage", storage, "--n-jobs", "1", "--optimum", "95.5"]
    assert main(argv) == 0
    return storage


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.startswith("eahas: error: ") and err.count("\n") == 1, err
    return err


def test_report_is_one_self_contained_html_file_with_every_figure(
    compared: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "report.html"
    assert main(["report", compared, "-o", str(output)]) == 0
    assert "4 studies on cifar10" in capsys.readouterr().out
    text = output.read_text(encoding="utf-8")
    # plotly.js is inlined (no script is fetched from anywhere), once.
    assert not re.search(r"<script[^>]+src=", text)
    assert text.count("plotly.js v") >= 1 and len(text) > 3_000_000
    assert text.count('class="plotly-graph-div"') == 5
    for title in (
        "Test regret vs search energy",
        "Test regret vs search time",
        "Final test accuracy vs training energy",
        "Learning curves of the best 3 configurations per method",
        "Summary (test regret from the optimum 95.50%)",
    ):
        assert title in text
    assert "simulated" in text and "random+none (median of 2 seeds)" in text
    assert "Budget: 0.15 kWh" in text


def test_report_estimates_the_optimum_of_studies_that_stored_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = f"sqlite:///{tmp_path / 'run.db'}"
    study = optuna.create_study(storage=storage, study_name="mine", direction="maximize")
    study.optimize(eahas_objective("cifar10", constraints="ignore", report_interval=50), 3)
    estimated = Optimum(accuracy=97.25, params={}, evaluated=1)
    monkeypatch.setattr(_report, "estimate_optimum", lambda benchmark, seed: estimated)
    output = tmp_path / "report.html"
    assert main(["report", storage, "-o", str(output)]) == 0
    assert "1 study on cifar10" in capsys.readouterr().out
    text = output.read_text(encoding="utf-8")
    assert "the optimum 97.25%" in text and "mine (median of 1 seed)" in text


@pytest.mark.parametrize(
    ("storage", "output", "expected"),
    [
        ("missing.db", "report.html", "the SQLite file missing.db does not exist"),
        ("missing.log", "report.html", "the journal file does not exist"),
        ("empty.db", "report.html", "No study in"),
        ("empty.db", "no/such/folder/report.html", "the folder no/such/folder is missing"),
    ],
)
def test_report_errors_are_one_line(
    storage: str,
    output: str,
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    optuna.create_study(storage="sqlite:///empty.db", study_name="nothing")
    assert main(["report", storage, "-o", output]) == 1
    assert expected in _error(capsys)


def test_dashboard_rejects_a_missing_storage_and_a_bad_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dashboard", str(tmp_path / "missing.db")]) == 1
    assert "does not exist" in _error(capsys)
    assert main(["dashboard", str(tmp_path / "x.db"), "--port", "70000"]) == 1
    assert "--port must be in 1..65535" in _error(capsys)


def test_one_optimum_for_studies_on_two_benchmarks_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = f"sqlite:///{tmp_path / 'two.db'}"
    for name in ("cifar10", "tinyimagenet"):
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
        identity = {"name": name, "dataset": name, "version": "0", "simulated": True}
        study.add_trial(
            optuna.trial.create_trial(
                value=50.0, user_attrs={energy.ENERGY_J: 1e5, energy.BENCHMARK: identity}
            )
        )
    assert main(["report", storage, "-o", str(tmp_path / "r.html"), "--optimum", "90"]) == 1
    assert "holds studies on cifar10 and tinyimagenet" in _error(capsys)
