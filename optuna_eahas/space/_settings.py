from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TrainingSettings:
    """The training settings that EA-HAS-Bench keeps fixed for every configuration.

    Source: Dou et al., ICLR 2023, Section 3.1 and Appendix (pycls configuration). They are
    recorded with the space so that real training, the simulator and the surrogate agree on
    what a configuration means.
    """

    batch_size: int = 1024
    mixed_precision: bool = True
    label_smoothing: float = 0.1
    sgd_momentum: float = 0.9
    sgd_nesterov: bool = True
    weight_decay: float = 5e-4
    weight_decay_on_bn: bool = False
    warmup_epochs: int = 5
    warmup_factor: float = 0.1
    min_lr: float = 1e-6
    ema_alpha: float = 0.00025
    ema_update_period: int = 32
    image_size: int = 32
    bottleneck_ratio: float = 1.0
    se_ratio: float = 0.25
    stage_stride: int = 2
    width_quantum: int = 8

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
