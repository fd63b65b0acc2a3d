from __future__ import annotations

from typing import Any

import optuna

# The per-trial energy contract: user attributes that objectives write and samplers, pruners,
# plots and the CLI read. Defined here once; import the names, never re-spell them.
ENERGY_J = "eahas:energy_j"
"""Training energy consumed so far by the trial, in joules (updated at every report)."""
TIME_S = "eahas:time_s"
"""Training time consumed so far, in seconds."""
EPOCHS = "eahas:epochs"
"""Epochs trained so far."""
ENERGY_ESTIMATED = "eahas:energy_estimated"
"""True when the energy is an estimate or a surrogate's prediction, not a meter reading."""
ENERGY_SOURCE = "eahas:energy_source"
"""Where the energy comes from: ``surrogate``, ``user``, or a meter's source
(``nvml-energy-counter``, ``nvml-power-polling``, ``rapl``, ``estimate``)."""
INFERENCE_ENERGY_J = "eahas:inference_energy_j"
"""Energy of one test pass of the final model (the paper's inference energy), in joules."""
INFERENCE_TIME_S = "eahas:inference_time_s"
FLOPS = "eahas:flops"
PARAMS = "eahas:params"
ACTS = "eahas:acts"
BENCHMARK = "eahas:benchmark"
"""Identity of the benchmark that answered the trial: name, version, simulated or measured."""
CONSTRAINT_PREFIX = "eahas:constraint:"
"""Prefix of the mirrored constraint values (optuna-dashboard 0.21 does not read
``set_constraint``); feasible when every value is <= 0."""
FEASIBLE = "eahas:feasible"
SKIPPED_INFEASIBLE = "eahas:skipped_infeasible"
"""True for a configuration skipped at zero energy because it breaks the constraints."""


def record(
    trial: optuna.Trial,
    joules: float,
    *,
    seconds: float | None = None,
    epochs: int | None = None,
    estimated: bool = False,
    source: str = "user",
) -> None:
    """Record the training energy a trial has consumed so far (cumulative, in joules).

    Call it from your own objective, at least before every ``trial.report``, so that
    energy-aware samplers and pruners and :func:`optuna_eahas.search_energy` see the energy
    the trial really spent, including when it is pruned or crashes later.
    """
    if not joules >= 0:
        raise ValueError(f"joules must be a non-negative number, got {joules!r}.")
    attrs: dict[str, Any] = {
        ENERGY_J: float(joules),
        ENERGY_ESTIMATED: bool(estimated),
        ENERGY_SOURCE: source,
    }
    if seconds is not None:
        attrs[TIME_S] = float(seconds)
    if epochs is not None:
        attrs[EPOCHS] = int(epochs)
    for key, value in attrs.items():
        trial.set_user_attr(key, value)


def consumed_energy(trial: optuna.trial.FrozenTrial) -> float | None:
    """The energy a finished or running trial recorded, in joules, or None if it recorded none."""
    value = trial.user_attrs.get(ENERGY_J)
    return None if value is None else float(value)
