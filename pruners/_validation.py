from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial

from optuna_eahas import energy


def check_single_objective(study: optuna.Study, pruner_name: str) -> None:
    """Raise a clear error for a multi-objective study, which Optuna cannot prune."""
    if len(study.directions) > 1:
        raise ValueError(
            f"{pruner_name} needs a single-objective study; this study has "
            f"{len(study.directions)} objectives and Optuna cannot prune multi-objective "
            "studies. Use SearchEnergyBudget (a callback) to bound their search energy."
        )


def recorded_energy(trial: FrozenTrial, pruner_name: str) -> float:
    """The trial's recorded energy in joules, or a clear error when it recorded none."""
    joules = energy.consumed_energy(trial)
    if joules is None:
        raise ValueError(
            f"{pruner_name} reads the trial's training energy, but trial {trial.number} "
            f"recorded none: call optuna_eahas.energy.record(trial, joules, epochs=...) "
            f"before each trial.report (eahas_objective does)."
        )
    return joules
