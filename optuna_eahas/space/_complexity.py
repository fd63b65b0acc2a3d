from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from optuna_eahas.space._settings import TrainingSettings

_SETTINGS = TrainingSettings()
_MAX_DEPTH = 15


@dataclass(frozen=True)
class RegNetComplexity:
    """Complexity of one RegNet as pycls counts it.

    ``flops`` are multiply-adds of one forward pass on one image, ``params`` the trainable
    parameters (convolution and linear weights and biases, BatchNorm scale and shift) and
    ``acts`` the sizes of all layer outputs, following ``pycls.models.blocks.*_cx``.
    ``widths``, ``depths`` and ``group_widths`` describe the stages after pycls's
    ``generate_regnet`` and ``adjust_block_compatibility``.
    """

    flops: int
    params: int
    acts: int
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    group_widths: tuple[int, ...]

    @property
    def num_stages(self) -> int:
        return len(self.widths)

    def to_dict(self) -> dict[str, Any]:
        return {
            "flops": self.flops,
            "params": self.params,
            "acts": self.acts,
            "widths": list(self.widths),
            "depths": list(self.depths),
            "group_widths": list(self.group_widths),
        }


@dataclass(frozen=True)
class BatchComplexity:
    """Complexity of many RegNets at once, as arrays (one entry per configuration)."""

    flops: np.ndarray
    params: np.ndarray
    acts: np.ndarray
    num_stages: np.ndarray
    block_widths: np.ndarray
    block_group_widths: np.ndarray
    block_stages: np.ndarray
    depth: np.ndarray

    def __len__(self) -> int:
        return len(self.flops)

    def item(self, index: int) -> RegNetComplexity:
        depth = int(self.depth[index])
        widths = self.block_widths[index, :depth]
        groups = self.block_group_widths[index, :depth]
        stages = self.block_stages[index, :depth]
        first = np.flatnonzero(np.r_[True, stages[1:] != stages[:-1]])
        return RegNetComplexity(
            flops=int(self.flops[index]),
            params=int(self.params[index]),
            acts=int(self.acts[index]),
            widths=tuple(int(w) for w in widths[first]),
            depths=tuple(int(d) for d in np.diff(np.r_[first, depth])),
            group_widths=tuple(int(g) for g in groups[first]),
        )


def _block_widths(
    depth: np.ndarray, w0: np.ndarray, wa: np.ndarray, wm: np.ndarray, quantum: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-block quantised widths and stage indices (pycls ``generate_regnet``).

    Widths grow linearly (``w0 + j * wa``), are snapped to powers of ``wm`` times ``w0`` and
    rounded to multiples of ``quantum``; consecutive blocks of equal width form a stage.
    """
    blocks = np.arange(_MAX_DEPTH)
    valid = blocks[None, :] < depth[:, None]
    widths_cont = blocks[None, :] * wa[:, None] + w0[:, None]
    exponents = np.round(np.log(widths_cont / w0[:, None]) / np.log(wm[:, None]))
    widths = w0[:, None] * np.power(wm[:, None], exponents)
    widths = (np.round(widths / quantum) * quantum).astype(np.int64)
    changes = np.zeros_like(widths)
    changes[:, 1:] = (widths[:, 1:] != widths[:, :-1]) & valid[:, 1:]
    stages = np.cumsum(changes, axis=1)
    return widths, stages, valid


def _adjust_compatibility(
    widths: np.ndarray, group_width: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """pycls ``adjust_block_compatibility`` for bottleneck ratio 1.0.

    The group width is capped at the block width and the width is rounded to a multiple of
    the group width, so that every grouped convolution divides evenly.
    """
    groups = np.minimum(group_width[:, None], widths)
    adjusted = np.maximum(groups, np.round(widths / groups).astype(np.int64) * groups)
    return adjusted, groups


def batch_complexity(
    *,
    depth: np.ndarray,
    w0: np.ndarray,
    wa: np.ndarray,
    wm: np.ndarray,
    group_width: np.ndarray,
    stem_width: int,
    num_classes: int,
    settings: TrainingSettings = _SETTINGS,
) -> BatchComplexity:
    """FLOPs, parameters and activations of many RegNets, vectorised over configurations.

    Follows pycls's ``AnyNet.complexity`` for EA-HAS-Bench's model: ``res_stem_cifar`` (3x3
    convolution, stride 1), residual bottleneck blocks with grouped 3x3 convolutions and
    squeeze-excitation, stride 2 at the first block of each stage, and a linear head.
    """
    depth = np.asarray(depth, dtype=np.int64)
    w0 = np.asarray(w0, dtype=np.float64)
    wa = np.asarray(wa, dtype=np.float64)
    wm = np.asarray(wm, dtype=np.float64)
    group_width = np.asarray(group_width, dtype=np.int64)
    n = len(depth)

    widths, stages, valid = _block_widths(depth, w0, wa, wm, settings.width_quantum)
    widths, groups = _adjust_compatibility(widths, group_width)

    size = settings.image_size
    flops = np.full(n, 9 * 3 * stem_width * size * size, dtype=np.int64)
    params = np.full(n, 9 * 3 * stem_width + 2 * stem_width, dtype=np.int64)
    acts = np.full(n, stem_width * size * size, dtype=np.int64)

    width_in = np.full(n, stem_width, dtype=np.int64)
    side_in = np.full(n, size, dtype=np.int64)
    for block in range(_MAX_DEPTH):
        mask = valid[:, block]
        width_out = widths[:, block]
        first_of_stage = (block == 0) | (stages[:, block] != stages[:, max(block - 1, 0)])
        stride = np.where(first_of_stage, settings.stage_stride, 1)
        side_out = (side_in - 1) // stride + 1
        area_in, area_out = side_in * side_in, side_out * side_out
        width_se = np.round(width_in * settings.se_ratio).astype(np.int64)
        group = groups[:, block]

        has_projection = (width_in != width_out) | (stride != 1)
        block_flops = np.where(has_projection, width_in * width_out * area_out, 0)
        block_params = np.where(has_projection, width_in * width_out + 2 * width_out, 0)
        block_acts = np.where(has_projection, width_out * area_out, 0)
        # 1x1 reduction, grouped 3x3, squeeze-excitation (two biased 1x1 on 1x1 maps), 1x1.
        block_flops = block_flops + width_in * width_out * area_in
        block_flops = block_flops + 9 * width_out * group * area_out
        block_flops = block_flops + 2 * width_out * width_se + width_se + width_out
        block_flops = block_flops + width_out * width_out * area_out
        block_params = block_params + width_in * width_out + 2 * width_out
        block_params = block_params + 9 * width_out * group + 2 * width_out
        block_params = block_params + 2 * width_out * width_se + width_se + width_out
        block_params = block_params + width_out * width_out + 2 * width_out
        block_acts = block_acts + width_out * area_in + width_out * area_out
        block_acts = block_acts + width_se + width_out + width_out * area_out

        flops += np.where(mask, block_flops, 0)
        params += np.where(mask, block_params, 0)
        acts += np.where(mask, block_acts, 0)
        width_in = np.where(mask, width_out, width_in)
        side_in = np.where(mask, side_out, side_in)

    flops += width_in * num_classes + num_classes
    params += width_in * num_classes + num_classes
    acts += num_classes
    num_stages = stages[np.arange(n), depth - 1] + 1
    return BatchComplexity(
        flops=flops,
        params=params,
        acts=acts,
        num_stages=num_stages,
        block_widths=widths,
        block_group_widths=groups,
        block_stages=stages,
        depth=depth,
    )


def regnet_complexity(
    params: Mapping[str, Any], *, stem_width: int, num_classes: int
) -> RegNetComplexity:
    """Complexity of the RegNet of one configuration (see :func:`batch_complexity`)."""
    batch = batch_complexity(
        depth=np.array([params["depth"]]),
        w0=np.array([params["w0"]]),
        wa=np.array([params["wa"]]),
        wm=np.array([params["wm"]]),
        group_width=np.array([params["group_width"]]),
        stem_width=stem_width,
        num_classes=num_classes,
    )
    return batch.item(0)
