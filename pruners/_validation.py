from __future__ import annotations

import optuna


def check_single_objective(study: optuna.Study, pruner_name: str) -> None:
    """Raise a clear error for a multi-objective study, which Optuna cannot prune."""
    if len(study.directions) > 1:
        raise ValueError(
            f"{pruner_name} needs a single-objective study; this study has "
            f"{len(study.directions)} objectives and Optuna cannot prune multi-objective "
            "studies. Use SearchEnergyBudget (a callback) to bound their search energy."
        )
