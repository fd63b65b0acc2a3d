from __future__ import annotations

import numpy as np

from optuna_eahas.space import TrainingSettings


def lr_factors(
    policy: np.ndarray, max_epoch: np.ndarray, settings: TrainingSettings, length: int
) -> np.ndarray:
    """Learning rate of each epoch relative to the base rate, as pycls schedules it.

    ``cos``: half cosine; ``exp``: ``MIN_LR ** (epoch / max_epoch)``, which falls by a decade
    every sixth of the run and so plateaus early; ``lin``: linear decay. All end at
    ``MIN_LR``; the first ``warmup_epochs`` ramp up linearly from ``warmup_factor``.
    Returns an array of shape ``(n, length)``; entries past a run's ``max_epoch`` are 0.
    """
    epoch = np.arange(length, dtype=np.float64)[None, :]
    total = max_epoch.astype(np.float64)[:, None]
    progress = np.minimum(epoch / total, 1.0)
    min_lr = settings.min_lr
    cos = 0.5 * (1.0 + np.cos(np.pi * progress)) * (1.0 - min_lr) + min_lr
    exp = np.power(min_lr, progress)
    lin = (1.0 - progress) * (1.0 - min_lr) + min_lr
    policy = np.asarray(policy)[:, None]
    factors = np.where(policy == "cos", cos, np.where(policy == "exp", exp, lin))
    alpha = epoch / settings.warmup_epochs
    warmup = settings.warmup_factor * (1.0 - alpha) + alpha
    factors = np.where(epoch < settings.warmup_epochs, factors * warmup, factors)
    return np.where(epoch < total, factors, 0.0)
