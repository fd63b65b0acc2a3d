from __future__ import annotations

from optuna_eahas.energy import EnergyPenalty
from optuna_eahas.pruners._percentile import EnergyAwarePercentilePruner


class EnergyAwareMedianPruner(EnergyAwarePercentilePruner):
    """Prune a trial whose energy-penalised best intermediate value is worse than the median of
    the completed trials' penalised values at the same step.

    Optuna's :class:`~optuna.pruners.MedianPruner` (the median stopping rule of Google Vizier,
    Golovin et al., KDD 2017) on the penalised scores of
    :class:`EnergyAwarePercentilePruner`; the default penalty is EA-HAS-Bench's EA-BANANAS form
    (Dou et al., ICLR 2023, Sec. 5).
    """

    def __init__(
        self,
        *,
        penalty: EnergyPenalty | None = None,
        n_startup_trials: int = 5,
        n_warmup_steps: int = 0,
        interval_steps: int = 1,
        n_min_trials: int = 1,
    ) -> None:
        super().__init__(
            50.0,
            penalty=penalty,
            n_startup_trials=n_startup_trials,
            n_warmup_steps=n_warmup_steps,
            interval_steps=interval_steps,
            n_min_trials=n_min_trials,
        )
