"""``eahas run`` whose trials pause before every report, so a test can kill one mid-trial.

Usage: ``python slow_run.py SECONDS [eahas run options...]``. Each ``trial.report`` first
sleeps ``SECONDS``; by then ``eahas_objective`` has recorded the trial's energy so far, as it
does before every report, so a kill during the pause lands after the energy of the last
reported epoch was written and before the trial finishes.
"""

from __future__ import annotations

import sys
import time

import optuna

from optuna_eahas.cli import main

_report = optuna.Trial.report


def _slow_report(trial: optuna.Trial, value: float, step: int) -> None:
    time.sleep(float(sys.argv[1]))
    _report(trial, value, step)


if __name__ == "__main__":
    optuna.Trial.report = _slow_report  # type: ignore[method-assign]
    sys.exit(main(["run", *sys.argv[2:]]))
