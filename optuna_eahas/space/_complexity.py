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


def _side_table(size: int, stride: int) -> np.ndarray:
    """Feature-map side after ``k`` strided stages, for ``k = 0 .. _MAX_DEPTH``.

    A convolution of stride ``s`` (padding ``k // 2``) maps side ``h`` to ``(h - 1) // s + 1``;
    a table lets every block look up its input and output side at once.
    """
    sides = [size]
    for _ in range(_MAX_DEPTH):
        sides.append((sides[-1] - 1) // stride + 1)
    return np.array(sides, dtype=np.int64)


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
    Every block's terms are computed at once on ``(n, _MAX_DEPTH)`` arrays and summed over the
    blocks each configuration has.
    """
    depth = np.asarray(depth, dtype=np.int64)
    w0 = np.asarray(w0, dtype=np.float64)
    wa = np.asarray(wa, dtype=np.float64)
    wm = np.asarray(wm, dtype=np.float64)
    group_width = np.asarray(group_width, dtype=np.int64)

    widths, stages, valid = _block_widths(depth, w0, wa, wm, settings.width_quantum)
    widths, groups = _adjust_compatibility(widths, group_width)

    size = settings.image_size
    # A block's input is the previous block's output, or the stem's for the first block.
    width_in = np.empty_like(widths)
    width_in[:, 0] = stem_width
    width_in[:, 1:] = widths[:, :-1]
    first_of_stage = np.empty_like(valid)
    first_of_stage[:, 0] = True
    first_of_stage[:, 1:] = stages[:, 1:] != stages[:, :-1]
    strided = first_of_stage & (settings.stage_stride != 1)
    sides = _side_table(size, settings.stage_stride)
    strided_so_far = np.cumsum(strided, axis=1)
    side_out = sides[strided_so_far]
    side_in = sides[strided_so_far - strided]
    area_in, area_out = side_in * side_in, side_out * side_out
    width_se = np.round(width_in * settings.se_ratio).astype(np.int64)

    has_projection = (width_in != widths) | strided
    in_out = width_in * widths
    out_out = widths * widths
    # Projection shortcut, 1x1 reduction, grouped 3x3, squeeze-excitation (two biased 1x1 on
    # 1x1 maps), 1x1 expansion; BatchNorm adds two parameters per output channel of each.
    se_terms = 2 * widths * width_se + width_se + widths
    block_flops = (
        has_projection * (in_out * area_out)
        + in_out * area_in
        + 9 * widths * groups * area_out
        + se_terms
        + out_out * area_out
    )
    block_params = (
        has_projection * (in_out + 2 * widths)
        + in_out
        + 9 * widths * groups
        + se_terms
        + out_out
        + 6 * widths
    )
    block_acts = (
        has_projection * (widths * area_out)
        + widths * area_in
        + 2 * widths * area_out
        + width_se
        + widths
    )

    last = (depth - 1)[:, None]
    width_last = np.take_along_axis(widths, last, axis=1)[:, 0]
    head = width_last * num_classes + num_classes
    flops = 9 * 3 * stem_width * size * size + np.sum(block_flops * valid, axis=1) + head
    params = 9 * 3 * stem_width + 2 * stem_width + np.sum(block_params * valid, axis=1) + head
    acts = stem_width * size * size + np.sum(block_acts * valid, axis=1) + num_classes
    num_stages = np.take_along_axis(stages, last, axis=1)[:, 0] + 1
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
