from __future__ import annotations

import binascii
import math
from typing import Literal

import optuna
from optuna.pruners import BasePruner
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

from optuna_eahas import energy
from optuna_eahas.pruners._successive_halving import EnergyAwareSuccessiveHalvingPruner
from optuna_eahas.pruners._validation import check_single_objective


class EnergyAwareHyperbandPruner(BasePruner):
    """Hyperband whose resource is training energy: brackets of
    :class:`EnergyAwareSuccessiveHalvingPruner` with increasing early-stopping rates.

    Hyperband (Li et al., JMLR 2018) hedges successive halving's aggressiveness by running
    brackets that start judging at larger resources; here the resource is the energy a trial
    has consumed (EA-HAS-Bench's budget unit, Dou et al., ICLR 2023, Sec. 5), so rungs sit at
    ``min_energy_j * reduction_factor ** k`` joules. Brackets, their trial shares and the
    assignment of trials to brackets (a hash of study name and trial number) follow Optuna's
    :class:`~optuna.pruners.HyperbandPruner`; each bracket's rung values are kept under their own
    system attributes, so a trial competes only within its bracket, also across processes.

    Optuna's samplers restrict themselves to a trial's bracket only for Optuna's own
    ``HyperbandPruner``; with this pruner they read all trials.

    Args:
        min_energy_j: The first rung of the most aggressive bracket, in joules; ``"auto"``:
            1/100 of ``max_energy_j``.
        max_energy_j: The energy of a full trial, in joules; ``"auto"``: the largest energy of
            the completed trials once one completes (nothing is pruned before).
        reduction_factor: Keeps the top ``1 / reduction_factor`` at each rung (at least 2).
        bootstrap_count: Trials that must reach a rung before any is pruned there.
    """

    def __init__(
        self,
        *,
        min_energy_j: float | Literal["auto"] = "auto",
        max_energy_j: float | Literal["auto"] = "auto",
        reduction_factor: int = 3,
        bootstrap_count: int = 0,
    ) -> None:
        for name, joules in (("min_energy_j", min_energy_j), ("max_energy_j", max_energy_j)):
            if joules != "auto" and not (
                isinstance(joules, (int, float)) and math.isfinite(joules) and joules > 0
            ):
                raise ValueError(
                    f"{name} must be a positive number of joules or 'auto', got {joules!r}."
                )
        if (
            min_energy_j != "auto"
            and max_energy_j != "auto"
            and not float(min_energy_j) < float(max_energy_j)
        ):
            raise ValueError(
                f"min_energy_j ({min_energy_j}) must be below max_energy_j ({max_energy_j})."
            )
        if reduction_factor < 2:
            raise ValueError(f"reduction_factor must be at least 2, got {reduction_factor}.")
        if bootstrap_count < 0:
            raise ValueError(f"bootstrap_count must be non-negative, got {bootstrap_count}.")
        self._min_energy_j = min_energy_j
        self._max_energy_j = max_energy_j
        self._reduction_factor = reduction_factor
        self._bootstrap_count = bootstrap_count
        self._pruners: list[EnergyAwareSuccessiveHalvingPruner] = []
        self._trial_shares: list[int] = []

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        check_single_objective(study, type(self).__name__)
        if not self._pruners and not self._initialize(study):
            return False
        return self._pruners[self.bracket_of(study, trial)].prune(study, trial)

    def bracket_of(self, study: optuna.Study, trial: FrozenTrial) -> int:
        """The trial's bracket: 0 judges earliest; 0 before the brackets are set up."""
        if not self._pruners:
            return 0
        n = binascii.crc32(f"{study.study_name}_{trial.number}".encode()) % sum(self._trial_shares)
        for bracket, share in enumerate(self._trial_shares):
            n -= share
            if n < 0:
                return bracket
        raise AssertionError("unreachable: the shares sum to the modulus")

    def _initialize(self, study: optuna.Study) -> bool:
        if self._max_energy_j == "auto":
            trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            max_energy_j = max((energy.consumed_energy(t) or 0.0 for t in trials), default=0.0)
            if not max_energy_j > 0:
                return False
        else:
            max_energy_j = float(self._max_energy_j)
        min_energy_j = (
            max_energy_j / 100 if self._min_energy_j == "auto" else float(self._min_energy_j)
        )
        # n_brackets = floor(log_eta(R / r)) + 1 (Hyperband's s_max + 1, as in Optuna).
        ratio = max(max_energy_j / min_energy_j, 1.0)
        n_brackets = math.floor(math.log(ratio, self._reduction_factor)) + 1
        for bracket in range(n_brackets):
            s = n_brackets - 1 - bracket
            self._trial_shares.append(math.ceil(n_brackets * self._reduction_factor**s / (s + 1)))
            self._pruners.append(
                EnergyAwareSuccessiveHalvingPruner(
                    min_energy_j=min_energy_j,
                    reduction_factor=self._reduction_factor,
                    min_early_stopping_rate=bracket,
                    bootstrap_count=self._bootstrap_count,
                )
            )
        return True
