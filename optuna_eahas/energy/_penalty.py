from __future__ import annotations

import abc
import math

import optuna
from optuna.study import StudyDirection

from optuna_eahas.energy._contract import ENERGY_J
from optuna_eahas.energy._contract import EPOCHS

_J_PER_KWH = 3.6e6


class EnergyPenalty(abc.ABC):
    """A score that trades an objective value against the training energy it cost.

    Energy-aware samplers rank finished trials by this score and energy-aware pruners compare
    intermediate values through it, so both use one definition. The score keeps the study's
    direction: for a maximised value a costlier trial scores lower, for a minimised value
    higher.
    """

    def __init__(self, *, per_epoch: bool) -> None:
        self._per_epoch = per_epoch

    @property
    def per_epoch(self) -> bool:
        """True when the penalty reads energy per trained epoch, False for the total."""
        return self._per_epoch

    @abc.abstractmethod
    def __call__(self, value: float, energy_j: float, direction: StudyDirection) -> float:
        """The penalised value of ``value`` that cost ``energy_j`` (per epoch or in total)."""

    def energy_of(self, trial: optuna.trial.FrozenTrial) -> float | None:
        """The energy this penalty reads from a trial's user attributes, or None if missing.

        Per-epoch penalties divide the recorded energy by the recorded epochs
        (:data:`~optuna_eahas.energy.ENERGY_J`, :data:`~optuna_eahas.energy.EPOCHS`).
        """
        joules = trial.user_attrs.get(ENERGY_J)
        if joules is None:
            return None
        if not self._per_epoch:
            return float(joules)
        epochs = trial.user_attrs.get(EPOCHS)
        if not epochs:
            return None
        return float(joules) / int(epochs)

    def score(
        self,
        trial: optuna.trial.FrozenTrial,
        value: float,
        direction: StudyDirection,
    ) -> float | None:
        """The penalised ``value`` of ``trial``, or None when the trial recorded no energy."""
        energy_j = self.energy_of(trial)
        return None if energy_j is None else self(value, energy_j, direction)


class MultiplicativePenalty(EnergyPenalty):
    """``score = value * (E / E_ref) ** weight`` (EA-HAS-Bench, Sec. 5, EA-BANANAS).

    The paper penalises accuracy with the per-epoch training energy consumption (TEC) and
    ``weight = -0.07``, the soft-constraint form of MnasNet (Tan et al., 2019). For a minimised
    value the exponent's sign flips, so costlier trials still score worse. ``E_ref`` scales all
    scores alike (it does not change the ranking); its default, 1 Wh = 3,600 J per epoch, is
    near the median per-epoch TEC of the CIFAR-10 benchmark, so a typical score is close to the
    raw value.
    """

    def __init__(
        self,
        *,
        weight: float = -0.07,
        reference_j: float = 3600.0,
        per_epoch: bool = True,
    ) -> None:
        if not math.isfinite(weight) or weight > 0:
            raise ValueError(f"weight must be a finite number <= 0, got {weight!r}.")
        if not (math.isfinite(reference_j) and reference_j > 0):
            raise ValueError(f"reference_j must be a positive number, got {reference_j!r}.")
        super().__init__(per_epoch=per_epoch)
        self.weight = weight
        self.reference_j = reference_j

    def __repr__(self) -> str:
        return (
            f"MultiplicativePenalty(weight={self.weight}, reference_j={self.reference_j}, "
            f"per_epoch={self.per_epoch})"
        )

    def __call__(self, value: float, energy_j: float, direction: StudyDirection) -> float:
        factor = (max(energy_j, 1e-12) / self.reference_j) ** self.weight
        return value * factor if direction == StudyDirection.MAXIMIZE else value / factor


class AdditivePenalty(EnergyPenalty):
    """``score = value - lam * kWh`` for a maximised value (``+`` for a minimised one).

    A linear trade: ``lam`` is how many units of the objective (accuracy points for
    EA-HAS-Bench) one kWh of training energy is worth. The default reads the trial's total
    energy: 10 points per kWh makes a full 200-epoch CIFAR-10 run (about 0.15 kWh) cost
    about 1.5 points.
    """

    def __init__(self, *, lam: float = 10.0, per_epoch: bool = False) -> None:
        if not (math.isfinite(lam) and lam >= 0):
            raise ValueError(f"lam must be a non-negative number, got {lam!r}.")
        super().__init__(per_epoch=per_epoch)
        self.lam = lam

    def __repr__(self) -> str:
        return f"AdditivePenalty(lam={self.lam}, per_epoch={self.per_epoch})"

    def __call__(self, value: float, energy_j: float, direction: StudyDirection) -> float:
        cost = self.lam * energy_j / _J_PER_KWH
        return value - cost if direction == StudyDirection.MAXIMIZE else value + cost
