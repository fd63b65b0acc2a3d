"""pycls's RegNet as EA-HAS-Bench configures it, in PyTorch.

Module names follow ``pycls.models.anynet`` (``stem``, ``s1.b1.f.a``, ``s1.b1.f.se.f_ex``,
``head.fc``, ...), so that pycls checkpoints load with ``load_state_dict``.
"""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any

import torch
from torch import nn

from optuna_eahas.space import RegNetComplexity
from optuna_eahas.space import SearchSpace


def _conv(
    w_in: int, w_out: int, k: int, *, stride: int = 1, groups: int = 1, bias: bool = False
) -> nn.Conv2d:
    return nn.Conv2d(w_in, w_out, k, stride=stride, padding=(k - 1) // 2, groups=groups, bias=bias)


def _norm(w: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(w, eps=1e-5, momentum=0.1)


def _activation() -> nn.ReLU:
    return nn.ReLU(inplace=True)


class ResStemCifar(nn.Module):
    """ResNet stem for CIFAR: 3x3 convolution with stride 1, BN, ReLU."""

    def __init__(self, w_in: int, w_out: int) -> None:
        super().__init__()
        self.conv = _conv(w_in, w_out, 3)
        self.bn = _norm(w_out)
        self.af = _activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.af(self.bn(self.conv(x)))


class SE(nn.Module):
    """Squeeze-and-excitation: average pool, 1x1, ReLU, 1x1, sigmoid, rescale."""

    def __init__(self, w_in: int, w_se: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.f_ex = nn.Sequential(
            _conv(w_in, w_se, 1, bias=True),
            _activation(),
            _conv(w_se, w_in, 1, bias=True),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.f_ex(self.avg_pool(x))


class BottleneckTransform(nn.Module):
    """1x1, grouped 3x3 (carrying the stride), SE, 1x1; bottleneck ratio 1."""

    def __init__(self, w_in: int, w_out: int, stride: int, group_w: int, se_r: float) -> None:
        super().__init__()
        w_se = int(round(w_in * se_r))
        self.a = _conv(w_in, w_out, 1)
        self.a_bn = _norm(w_out)
        self.a_af = _activation()
        self.b = _conv(w_out, w_out, 3, stride=stride, groups=w_out // group_w)
        self.b_bn = _norm(w_out)
        self.b_af = _activation()
        self.se = SE(w_out, w_se)
        self.c = _conv(w_out, w_out, 1)
        self.c_bn = _norm(w_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.b_af(self.b_bn(self.b(self.a_af(self.a_bn(self.a(x))))))
        return self.c_bn(self.c(self.se(x)))


class ResBottleneckBlock(nn.Module):
    """Residual bottleneck block: ReLU(x + F(x)), with a 1x1 projection when shapes change."""

    def __init__(self, w_in: int, w_out: int, stride: int, group_w: int, se_r: float) -> None:
        super().__init__()
        project = w_in != w_out or stride != 1
        self.proj = _conv(w_in, w_out, 1, stride=stride) if project else None
        self.bn = _norm(w_out) if project else None
        self.f = BottleneckTransform(w_in, w_out, stride, group_w, se_r)
        self.af = _activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_p = x if self.proj is None or self.bn is None else self.bn(self.proj(x))
        return self.af(x_p + self.f(x))


class AnyHead(nn.Module):
    """Global average pool and a biased linear classifier."""

    def __init__(self, w_in: int, num_classes: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(w_in, num_classes, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avg_pool(x), 1))


class RegNet(nn.Module):
    """The RegNet of one EA-HAS-Bench configuration.

    Args:
        params: A configuration of :class:`~optuna_eahas.space.SearchSpace` (validated; the
            hyperparameters are ignored) or a :class:`~optuna_eahas.space.RegNetComplexity`
            whose stage widths, depths and group widths define the network.
        dataset: ``"cifar10"`` (stem width 16, 10 classes) or ``"tinyimagenet"`` (stem width
            32, 200 classes).
        zero_init_final_gamma: Start the last BatchNorm scale of each block at zero (pycls's
            ``BN.ZERO_INIT_FINAL_GAMMA``, off in EA-HAS-Bench).

    ``self.complexity`` holds the analytic complexity: ``sum(p.numel())`` over the
    parameters equals ``complexity.params``.
    """

    def __init__(
        self,
        params: Mapping[str, Any] | RegNetComplexity,
        *,
        dataset: str = "cifar10",
        zero_init_final_gamma: bool = False,
    ) -> None:
        super().__init__()
        space = SearchSpace(dataset)
        if isinstance(params, RegNetComplexity):
            self.complexity = params
        else:
            self.complexity = space.complexity(space.validate(params))
        settings = space.settings
        self.stem = ResStemCifar(3, space.stem_width)
        w_in = space.stem_width
        stages = zip(
            self.complexity.depths,
            self.complexity.widths,
            self.complexity.group_widths,
            strict=True,
        )
        for i, (depth, w_out, group_w) in enumerate(stages, start=1):
            stage = nn.Sequential()
            for j in range(1, depth + 1):
                stride = settings.stage_stride if j == 1 else 1
                block = ResBottleneckBlock(w_in, w_out, stride, group_w, settings.se_ratio)
                stage.add_module(f"b{j}", block)
                w_in = w_out
            self.add_module(f"s{i}", stage)
        self.head = AnyHead(w_in, space.num_classes)
        self.apply(_init_weights)
        if zero_init_final_gamma:
            for module in self.modules():
                if isinstance(module, BottleneckTransform):
                    nn.init.zeros_(module.c_bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self.children():
            x = module(x)
        return x


def _init_weights(module: nn.Module) -> None:
    """pycls's ``init_weights`` (the SE convolutions keep PyTorch's default bias init)."""
    if isinstance(module, nn.Conv2d):
        fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
        nn.init.normal_(module.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.01)
        nn.init.zeros_(module.bias)
