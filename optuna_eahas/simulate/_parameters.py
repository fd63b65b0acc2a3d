from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AccuracyModel:
    """Parameters of the simulator's expected learning curves, one set per dataset.

    Each group is fixed by a published fact; ``docs/data-card-simulator.md`` says which.
    Errors are in accuracy points (100 - accuracy).
    """

    chance_accuracy: float
    # Architecture: error floor at the reference complexity, and its elasticity to FLOPs and
    # parameters (bigger networks generalise better).
    base_error: float
    irreducible_error: float
    reference_flops: float
    reference_params: float
    flops_elasticity: float
    params_elasticity: float
    depth_penalty: float
    narrow_group_penalty: float
    # Learning rate: optimum per optimizer and the penalty, a power of the decades from it.
    sgd_best_lr: float = 0.3
    adam_best_lr: float = 0.002
    adamw_best_lr: float = 0.003
    sgd_low_lr_penalty: float = 0.898
    sgd_high_lr_penalty: float = 0.8
    adam_low_lr_penalty: float = 0.6
    adam_high_lr_penalty: float = 0.91
    lr_penalty_exponent: float = 1.3
    # Divergence: adam/adamw above this learning rate diverge once deep enough.
    adam_divergence_lr: float = 1.1
    divergence_depth_slope: float = 0.04
    # Training effort: error grows as the summed learning-rate schedule shrinks.
    effort_reference: float = 100.0
    effort_weight: float = 0.212
    effort_exponent: float = 0.548
    # Cutout (DeVries & Taylor 2017): helps long runs, slightly hurts short ones.
    cutout_factor_50: float = 1.04
    cutout_factor_100: float = 0.95
    cutout_factor_200: float = 0.87
    # Curve shape: speed of the early rise and the error added while the rate is high.
    rise_speed: float = 0.6
    high_lr_error_scale: float = 0.9
    high_lr_error_offset: float = 9.0
    # Per-epoch noise (accuracy points): larger early than late, and while the rate is high.
    noise_early: float = 2.0
    noise_late: float = 0.12
    noise_decay_epochs: float = 8.0
    noise_high_lr: float = 0.5
    noise_autocorrelation: float = 0.5
    run_offset: float = 0.2
    generalisation_gap: float = 0.55

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EnergyModel:
    """Parameters of the simulator's energy and time per epoch on a V100-class reference GPU.

    Time is a fixed data-pipeline part plus compute parts driven by FLOPs (slower for narrow
    group widths), activations and depth; board power rises with the share of time spent in
    dense compute, so two networks of equal time can draw different power (Zeus, NSDI '23).
    """

    train_images: int
    test_images: int
    pipeline_seconds: float = 1.0
    seconds_per_gflop: float = 28.0
    group_slowdown: float = 3.0
    seconds_per_mact: float = 5.0
    seconds_per_block: float = 0.15
    adam_time_factor: float = 1.05
    idle_power_w: float = 40.0
    dynamic_power_w: float = 920.0
    min_power_w: float = 100.0
    max_power_w: float = 300.0
    adam_power_factor: float = 0.93
    reference_intensity: float = 200.0
    intensity_exponent: float = 1.3
    first_epoch_extra_time: float = 0.35
    first_epoch_power_factor: float = 0.9
    test_pass_seconds: float = 0.3
    test_compute_share: float = 0.2
    test_power_factor: float = 0.9
    run_energy_cv: float = 0.032
    run_time_cv: float = 0.015
    epoch_noise_cv: float = 0.01

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ACCURACY_MODELS = {
    "cifar10": AccuracyModel(
        chance_accuracy=10.0,
        base_error=2.856,
        irreducible_error=2.644,
        reference_flops=1.25e8,
        reference_params=1.0e6,
        flops_elasticity=0.15,
        params_elasticity=0.08,
        depth_penalty=0.01,
        narrow_group_penalty=0.04,
    ),
    "tinyimagenet": AccuracyModel(
        chance_accuracy=0.5,
        base_error=6.0,
        irreducible_error=37.0,
        reference_flops=2.5e8,
        reference_params=1.5e6,
        flops_elasticity=0.3,
        params_elasticity=0.1,
        depth_penalty=0.004,
        narrow_group_penalty=0.02,
        high_lr_error_scale=0.35,
        high_lr_error_offset=6.0,
        noise_early=1.5,
        noise_late=0.2,
        generalisation_gap=0.25,
    ),
}

ENERGY_MODELS = {
    "cifar10": EnergyModel(train_images=50_000, test_images=10_000),
    "tinyimagenet": EnergyModel(train_images=100_000, test_images=10_000),
}
