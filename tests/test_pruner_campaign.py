"""The pruner campaign's checkpoints (benchmarks/pruners.py): a search stopped by a signal and
resumed, even after a SIGKILL, ends exactly as an uninterrupted one."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
import signal
import threading
from types import ModuleType
from typing import Any

import optuna
import pytest


def _load_campaign() -> ModuleType:
    path = Path(__file__).parent.parent / "benchmarks" / "pruners.py"
    spec = importlib.util.spec_from_file_location("pruner_campaign", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


campaign = _load_campaign()


def _interrupted_at(
    delay_s: float, method: str, budget_kwh: float, checkpoint: Path
) -> dict[str, Any] | None:
    """Run the search with a SIGINT after ``delay_s``; its result if it finished first."""
    timer = threading.Timer(delay_s, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        return campaign.run_search("cifar10", method, 0, budget_kwh, 10, checkpoint=checkpoint)
    except KeyboardInterrupt:
        return None
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.mark.parametrize(
    ("method", "budget_kwh"),
    [
        ("tpe/ea-successive-halving", 2.0),
        ("tpe/median", 2.0),
        ("random/ea-median", 2.0),
        ("tpe/none", 10.0),  # unpruned trials cost more: a larger budget for as many
    ],
)
def test_a_resumed_search_ends_as_an_uninterrupted_one(
    method: str, budget_kwh: float, tmp_path: Path
) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    uninterrupted = campaign.run_search("cifar10", method, 0, budget_kwh, 10)
    checkpoint = tmp_path / "search.jsonl"
    result = None
    for attempt in range(50):
        result = _interrupted_at(0.3 + 0.1 * attempt, method, budget_kwh, checkpoint)
        if result is not None:
            break
        if attempt == 0 and checkpoint.exists():
            # What a SIGKILL leaves: trials after the last state line, and a line cut short.
            with checkpoint.open("a") as tail:
                tail.write(checkpoint.read_text().splitlines()[0] + '\n{"trial": {"st')
    assert result is not None
    assert result.pop("segments") > 1, "no interruption landed inside the search"
    assert result.pop("seconds") > 0
    uninterrupted.pop("seconds")
    assert result == uninterrupted


@pytest.mark.parametrize("method", ["tpe/hyperband", "tpe/ea-hyperband"])
def test_a_hyperband_search_is_reproducible_from_its_seed(method: str) -> None:
    # Brackets hash the study name: a random one would vary them between runs.
    runs = [campaign.run_search("cifar10", method, 0, 1.0, 10) for _ in range(2)]
    for run in runs:
        run.pop("seconds")
    assert runs[0] == runs[1]


def test_a_search_that_estimates_settings_cannot_resume(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="hyperband cannot resume"):
        campaign.run_search("cifar10", "tpe/hyperband", 0, 1.0, 10, checkpoint=tmp_path / "c")
    assert campaign.checkpoint_path("cifar10", "tpe/hyperband", 0, 1.0, 10) is None


def test_a_checkpoint_without_a_state_line_starts_over(tmp_path: Path) -> None:
    checkpoint = tmp_path / "search.jsonl"
    record = {"trial": {"state": "COMPLETE"}}
    checkpoint.write_text(json.dumps(record) + "\n")
    saved = campaign._Checkpoint(checkpoint)
    assert saved.state is None and saved.trials == []
    assert checkpoint.read_text() == ""
