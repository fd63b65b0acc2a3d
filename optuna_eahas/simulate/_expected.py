from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from optuna_eahas.simulate._parameters import AccuracyModel
from optuna_eahas.simulate._parameters import EnergyModel
from optuna_eahas.simulate._schedule import lr_factors
from optuna_eahas.space import BatchComplexity
from optuna_eahas.space import TrainingSettings


@dataclass(frozen=True)
class ExpectedRuns:
    """Noise-free behaviour of a batch of configurations (arrays padded to the longest run).

    Accuracies are percentages per epoch; ``epoch_seconds`` and ``power_w`` are per
    steady-state training epoch; the first epoch's extra cost and the test pass follow from
    them. ``diverged`` marks runs whose loss explodes (they stay at chance accuracy).
    """

    test_accuracy: np.ndarray
    train_accuracy: np.ndarray
    train_loss: np.ndarray
    lr_factors: np.ndarray
    diverged: np.ndarray
    epoch_seconds: np.ndarray
    power_w: np.ndarray
    first_epoch_seconds: np.ndarray
    first_epoch_power_w: np.ndarray
    test_seconds: np.ndarray
    test_power_w: np.ndarray


def _smooth_cap(error: np.ndarray, cap: float, sharpness: float = 0.5) -> np.ndarray:
    """``min(error, cap)`` with a soft corner, so curves flatten into chance accuracy."""
    return cap - np.logaddexp(0.0, (cap - error) * sharpness) / sharpness


def _final_error(
    columns: Mapping[str, np.ndarray],
    cx: BatchComplexity,
    effort: np.ndarray,
    model: AccuracyModel,
) -> np.ndarray:
    """Expected last-epoch error of each configuration (before saturation at chance)."""
    lr = columns["learning_rate"].astype(np.float64)
    optimizer = columns["optimizer"]
    max_epoch = columns["max_epoch"]
    architecture = (
        model.base_error
        * np.power(cx.flops / model.reference_flops, -model.flops_elasticity)
        * np.power(cx.params / model.reference_params, -model.params_elasticity)
        * (1.0 + model.depth_penalty * (columns["depth"] - 10))
        * (1.0 + model.narrow_group_penalty * np.log2(32.0 / columns["group_width"]))
    )
    best_lr = np.where(
        optimizer == "sgd",
        model.sgd_best_lr,
        np.where(optimizer == "adam", model.adam_best_lr, model.adamw_best_lr),
    )
    decades = np.log10(lr / best_lr)
    is_sgd = optimizer == "sgd"
    low = np.where(is_sgd, model.sgd_low_lr_penalty, model.adam_low_lr_penalty)
    high = np.where(is_sgd, model.sgd_high_lr_penalty, model.adam_high_lr_penalty)
    learning_rate = np.exp(
        np.where(decades < 0, low, high) * np.abs(decades) ** model.lr_penalty_exponent
    )
    effort_factor = (
        1.0
        + model.effort_weight * np.power(model.effort_reference / effort, model.effort_exponent)
    ) / (1.0 + model.effort_weight)
    cutout_factor = np.where(
        max_epoch == 50,
        model.cutout_factor_50,
        np.where(max_epoch == 100, model.cutout_factor_100, model.cutout_factor_200),
    )
    cutout = np.where(columns["cutout"] > 0, cutout_factor, 1.0)
    return architecture * learning_rate * effort_factor * cutout


def expected_accuracy(
    columns: Mapping[str, np.ndarray],
    cx: BatchComplexity,
    *,
    model: AccuracyModel,
    settings: TrainingSettings,
    num_classes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Expected test accuracy, train accuracy and train loss per epoch (padded with NaN).

    The error of epoch ``e`` is the final error plus two decaying terms: an exponential rise
    driven by the cumulative learning rate (slow for tiny rates, so SGD under-fits), and an
    error proportional to the current rate (high-rate plateaus that drop when the schedule
    anneals; ``exp`` anneals early and plateaus early).
    """
    max_epoch = columns["max_epoch"].astype(np.int64)
    length = int(max_epoch.max())
    factors = lr_factors(columns["lr_policy"], max_epoch, settings, length)
    effort = np.cumsum(factors, axis=1)
    last = max_epoch - 1
    rows = np.arange(len(max_epoch))
    total_effort = effort[rows, last]
    cap = 100.0 - model.chance_accuracy

    final_raw = _final_error(columns, cx, total_effort, model)
    headroom = cap - model.irreducible_error
    final = model.irreducible_error + headroom * -np.expm1(-final_raw / headroom)

    lr = columns["learning_rate"].astype(np.float64)
    best_lr = np.where(columns["optimizer"] == "sgd", model.sgd_best_lr, model.adam_best_lr)
    lr_ratio = np.sqrt(np.minimum(1.0, lr / best_lr))
    speed = (model.rise_speed * lr_ratio)[:, None]
    rise = (cap - final)[:, None] * (
        np.exp(-speed * effort) - np.exp(-speed * total_effort[:, None])
    )
    plateau = (model.high_lr_error_scale * final + model.high_lr_error_offset) * lr_ratio
    high_lr = plateau[:, None] * (factors - factors[rows, last][:, None])
    error = _smooth_cap(final[:, None] + rise + high_lr, cap)

    depth_excess = model.divergence_depth_slope * (columns["depth"] - 10)
    diverged = (columns["optimizer"] != "sgd") & (
        np.log10(lr / model.adam_divergence_lr) + depth_excess > 0
    )
    error = np.where(diverged[:, None], cap, error)

    progress = effort / total_effort[:, None]
    gap = model.generalisation_gap * np.where(columns["cutout"] > 0, 0.6, 1.0)
    train_error = error * (1.0 - gap[:, None] * np.clip(progress, 0.0, 1.0))
    log_classes = np.log(num_classes)
    smoothing = settings.label_smoothing
    target = 1.0 - smoothing + smoothing / num_classes
    other = smoothing / num_classes
    loss_floor = -(target * np.log(target) + (num_classes - 1) * other * np.log(other))
    train_loss = loss_floor + (log_classes - loss_floor) * np.power(train_error / cap, 0.8)

    valid = np.arange(length)[None, :] < max_epoch[:, None]
    test_accuracy = np.where(valid, 100.0 - error, np.nan)
    train_accuracy = np.where(valid, 100.0 - train_error, np.nan)
    train_loss = np.where(valid, train_loss, np.nan)
    return test_accuracy, train_accuracy, train_loss, factors, diverged


def expected_energy(
    columns: Mapping[str, np.ndarray], cx: BatchComplexity, *, model: EnergyModel
) -> dict[str, np.ndarray]:
    """Seconds and mean board power of a training epoch, the first epoch and a test pass."""
    scale = model.train_images / 50_000
    gflops = cx.flops / 1e9
    macts = cx.acts / 1e6
    group_factor = 1.0 + model.group_slowdown / np.sqrt(columns["group_width"])
    adam = columns["optimizer"] != "sgd"
    dense = model.seconds_per_gflop * gflops
    compute = dense * group_factor + model.seconds_per_mact * macts
    compute = compute + model.seconds_per_block * columns["depth"]
    seconds = (
        scale * (model.pipeline_seconds + compute) * np.where(adam, model.adam_time_factor, 1)
    )
    busy = scale * dense / seconds
    intensity = np.power(cx.flops / cx.acts / model.reference_intensity, model.intensity_exponent)
    power = model.idle_power_w + model.dynamic_power_w * busy * intensity
    power = np.clip(power * np.where(adam, model.adam_power_factor, 1.0), model.min_power_w, None)
    power = np.minimum(power, model.max_power_w)
    test_share = model.test_images / model.train_images * model.test_compute_share
    test_seconds = model.test_pass_seconds + test_share * scale * compute
    return {
        "epoch_seconds": seconds,
        "power_w": power,
        "first_epoch_seconds": seconds * (1.0 + model.first_epoch_extra_time),
        "first_epoch_power_w": power * model.first_epoch_power_factor,
        "test_seconds": test_seconds,
        "test_power_w": power * model.test_power_factor,
    }
