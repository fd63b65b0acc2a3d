from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_eahas.energy import EPOCHS
from optuna_eahas.energy import EnergyPenalty
from optuna_eahas.energy import MultiplicativePenalty
from optuna_eahas.pruners._validation import check_single_objective
from optuna_eahas.pruners._validation import recorded_energy


class EnergyAwarePercentilePruner(BasePruner):
    """Prune a trial whose energy-penalised best intermediate value is in the bottom
    ``percentile`` of the completed trials' penalised values at the same step.

    Optuna's :class:`~optuna.pruners.PercentilePruner` compares raw intermediate values; this
    pruner compares them through an :class:`~optuna_eahas.energy.EnergyPenalty`, the score the
    energy-aware samplers rank trials by, so a configuration that learns as fast but draws more
    energy per epoch ranks lower. The default is EA-HAS-Bench's EA-BANANAS penalty
    (``accuracy * (E_epoch / E_ref) ** -0.07``, Dou et al., ICLR 2023, Sec. 5), which reads the
    energy per epoch. A penalty on total energy (``per_epoch=False``) reads each trial's energy
    at the compared step as its recorded energy times ``step / epochs`` (steps must count
    epochs, as ``eahas_objective``'s do).

    Args:
        percentile: Keep the top ``percentile`` percent (0 to 100).
        penalty: The penalty; default :class:`~optuna_eahas.energy.MultiplicativePenalty`.
        n_startup_trials: No pruning until this many trials completed.
        n_warmup_steps: No pruning before this step.
        interval_steps: Check every this many steps after the warm-up.
        n_min_trials: Completed trials that must have reported the step.
    """

    def __init__(
        self,
        percentile: float,
        *,
        penalty: EnergyPenalty | None = None,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        n_min_trials: int = 1,
    ) -> None:
        if not 0.0 <= percentile <= 100.0:
            raise ValueError(f"percentile must be between 0 and 100, got {percentile}.")
        if penalty is not None and not isinstance(penalty, EnergyPenalty):
            raise TypeError(
                f"penalty must be an optuna_eahas.energy.EnergyPenalty, got {penalty!r}."
            )
        for name, count, least in (
            ("n_startup_trials", n_startup_trials, 0),
            ("n_warmup_steps", n_warmup_steps, 0),
            ("interval_steps", interval_steps, 1),
            ("n_min_trials", n_min_trials, 1),
        ):
            if count < least:
                raise ValueError(f"{name} must be at least {least}, got {count}.")
        self._percentile = percentile
        self._penalty = penalty if penalty is not None else MultiplicativePenalty()
        self._n_startup_trials = n_startup_trials
        self._n_warmup_steps = n_warmup_steps
        self._interval_steps = interval_steps
        self._n_min_trials = n_min_trials

    @property
    def penalty(self) -> EnergyPenalty:
        return self._penalty

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        check_single_objective(study, type(self).__name__)
        step = trial.last_step
        if step is None or step < self._n_warmup_steps:
            return False
        completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not completed or len(completed) < self._n_startup_trials:
            return False
        if not self._is_check_step(step, trial):
            return False
        recorded_energy(trial, type(self).__name__)
        direction = study.direction
        values = np.asarray(list(trial.intermediate_values.values()), dtype=float)
        best = np.nanmax(values) if direction == StudyDirection.MAXIMIZE else np.nanmin(values)
        if math.isnan(best):
            return True
        score = self._score(trial, float(best), step, direction)
        others = [
            self._score(t, t.intermediate_values[step], step, direction)
            for t in completed
            if step in t.intermediate_values
        ]
        scores = [s for s in others if s is not None]
        if len(scores) < self._n_min_trials:
            return False
        percentile = (
            100.0 - self._percentile if direction == StudyDirection.MAXIMIZE else self._percentile
        )
        threshold = float(np.nanpercentile(np.asarray(scores, dtype=float), percentile))
        if math.isnan(threshold):
            return False
        assert score is not None
        return score < threshold if direction == StudyDirection.MAXIMIZE else score > threshold

    def _score(
        self, trial: FrozenTrial, value: float, step: int, direction: StudyDirection
    ) -> float | None:
        """The penalised ``value`` with the trial's energy as it was at ``step``."""
        joules = self._penalty.energy_of(trial)
        if joules is None:
            return None
        epochs = trial.user_attrs.get(EPOCHS)
        if not self._penalty.per_epoch and epochs:
            joules *= min(step, epochs) / epochs
        return self._penalty(value, joules, direction)

    def _is_check_step(self, step: int, trial: FrozenTrial) -> bool:
        """True for the first report at or after each ``interval_steps`` mark (as Optuna)."""
        mark = (
            step - self._n_warmup_steps
        ) // self._interval_steps * self._interval_steps + self._n_warmup_steps
        previous = max((s for s in trial.intermediate_values if s != step), default=-1)
        return previous < mark
