"""A real training run behind the Optuna objective, in place of the surrogate's answer."""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
import os
from typing import Any

import torch

from optuna_eahas.objective._objective import EpochResult
from optuna_eahas.train._data import ImageDataset
from optuna_eahas.train._loop import EpochMetrics
from optuna_eahas.train._loop import resolve_meter
from optuna_eahas.train._loop import train_run


class TrainingRun:
    """Epochs of one configuration, trained for real and measured by an energy meter.

    The same interface as the objective's surrogate run: :meth:`epochs` yields an
    :class:`~optuna_eahas.objective.EpochResult` per epoch (EMA test accuracy, training energy
    and time), and the inference energy and time are those of the last test pass. Training
    happens as the epochs are consumed, so a pruned trial that stops consuming (and closes the
    iterator) stops training. ``history`` keeps every epoch's full metrics.

    Args:
        config: A configuration of the dataset's space.
        dataset: ``"cifar10"`` or ``"tinyimagenet"``.
        data_dir: The data (a folder or a loaded dataset; see
            :func:`~optuna_eahas.train._loop.train_run`).
        device: The torch device to train on (default CUDA when available, else CPU).
        meter: The energy meter (default: the best available).
        epochs: Stop after this many epochs.
        subset: Fraction of the training set to train on.
        seed: The training seed.
        batch_size: Images per step (default: the paper's 1024).
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        dataset: str,
        data_dir: str | os.PathLike[str] | ImageDataset,
        device: str | torch.device | None = None,
        meter: Any = None,
        epochs: int | None = None,
        subset: float = 1.0,
        seed: int = 0,
        batch_size: int | None = None,
    ) -> None:
        meter = resolve_meter(meter)
        # The meter's flags before any epoch, from an empty window, so that a trial records
        # them before training (as the surrogate's run does).
        with meter.measure() as probe:
            pass
        self.energy_estimated = bool(probe.result.estimated)
        self.energy_source = str(probe.result.source)
        self.history: list[EpochMetrics] = []
        self._metrics = train_run(
            config,
            dataset=dataset,
            dataset_dir=data_dir,
            device=device,
            meter=meter,
            epochs=epochs,
            subset=subset,
            seed=seed,
            batch_size=batch_size,
        )

    def epochs(self) -> Iterator[EpochResult]:
        try:
            for metrics in self._metrics:
                self.history.append(metrics)
                self.energy_estimated = any(m.energy_estimated for m in self.history)
                self.energy_source = metrics.energy_source
                yield EpochResult(
                    metrics.test_accuracy, metrics.train_energy_j, metrics.train_time_s
                )
        finally:
            self._metrics.close()

    @property
    def inference_energy_j(self) -> float:
        return self.history[-1].test_energy_j

    @property
    def inference_time_s(self) -> float:
        return self.history[-1].test_time_s
