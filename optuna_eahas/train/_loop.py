"""Training one EA-HAS-Bench configuration as pycls does, epoch by epoch, with energy meters.

The training settings are the ones EA-HAS-Bench fixes (Section 3.1 and its pycls
configuration; :class:`~optuna_eahas.space.TrainingSettings`). Each epoch's training and the
test pass after it are measured separately: the test pass is the paper's inference energy.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Mapping
import contextlib
import copy
from dataclasses import dataclass
import functools
import os
from pathlib import Path
import platform
from typing import Any

import numpy as np
import torch
from torch import nn

from optuna_eahas.simulate._schedule import lr_factors
from optuna_eahas.space import SearchSpace
from optuna_eahas.space import TrainingSettings
from optuna_eahas.train._data import ImageDataset
from optuna_eahas.train._data import augment
from optuna_eahas.train._data import load_dataset
from optuna_eahas.train._data import normalize
from optuna_eahas.train._regnet import RegNet

# pycls's BN.NUM_SAMPLES_PRECISE.
_PRECISE_BN_SAMPLES = 8192


@dataclass(frozen=True)
class EpochMetrics:
    """One trained epoch.

    Attributes:
        epoch: 1-based epoch number.
        test_accuracy: Top-1 accuracy of the EMA model on the test set, in percent.
        train_accuracy: Top-1 accuracy on the epoch's augmented training batches, in percent.
        train_loss: Mean label-smoothed cross-entropy over the epoch's training images.
        train_energy_j: Energy of the epoch's training, from the meter.
        train_time_s: Duration of the epoch's training.
        test_energy_j: Energy of the test pass after the epoch.
        test_time_s: Duration of that test pass.
        energy_estimated: Whether either energy is an estimate rather than a meter reading.
        energy_source: The meter's ``source`` (for example ``"nvml"``, ``"rapl"``,
            ``"estimate"``).
    """

    epoch: int
    test_accuracy: float
    train_accuracy: float
    train_loss: float
    train_energy_j: float
    train_time_s: float
    test_energy_j: float
    test_time_s: float
    energy_estimated: bool
    energy_source: str


def train_run(
    config: Mapping[str, Any],
    *,
    dataset: str = "cifar10",
    dataset_dir: str | os.PathLike[str] | ImageDataset,
    device: str | torch.device | None = None,
    meter: Any = None,
    epochs: int | None = None,
    subset: float = 1.0,
    seed: int = 0,
    batch_size: int | None = None,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
) -> Generator[EpochMetrics, None, None]:
    """Train a configuration and yield each epoch's :class:`EpochMetrics` as it ends.

    Follows pycls's trainer: SGD (momentum 0.9, Nesterov) or Adam or AdamW; weight decay 5e-4
    except on BatchNorm parameters and biases; label smoothing 0.1; a learning rate set at the
    start of each epoch from the configuration's policy with 5 linear warm-up epochs
    (:func:`~optuna_eahas.simulate._schedule.lr_factors`); an exponential moving average of
    the weights, updated every 32 iterations of an epoch with pycls's adjusted ``alpha`` (a
    plain copy during warm-up), whose test accuracy is reported; mixed precision and cuDNN
    autotuning on CUDA. After each epoch, pycls's precise BatchNorm statistics are computed
    for the model and its EMA (within the epoch's measured training).

    Training advances only as epochs are consumed: closing the generator (as a pruned trial
    does) trains nothing more.

    Args:
        config: A configuration of the dataset's :class:`~optuna_eahas.space.SearchSpace`.
        dataset: ``"cifar10"`` or ``"tinyimagenet"``.
        dataset_dir: Where the data lies (see :func:`~optuna_eahas.train._data.load_dataset`),
            or a dataset already loaded, so that many runs decode it once.
        device: ``"cuda"``, ``"cuda:1"``, ``"cpu"``, ...; by default CUDA when available.
        meter: An energy meter (``meter.measure()`` opens a measurement window); by default
            the best available one (NVML, RAPL or an estimate; see :func:`resolve_meter`).
        epochs: Stop after this many epochs (a run cut short); the schedule still spans
            ``config["max_epoch"]``.
        subset: Train on this fraction of the training set (reduced fidelity), chosen by
            ``seed``.
        seed: Seeds the weights, the subset, the batch order and the augmentation.
        batch_size: Images per step (default 1024, the paper's), at most the training set.
        on_epoch: Called with each epoch's metrics before they are yielded.
    """
    space = SearchSpace(dataset)
    config = space.validate(config)
    settings = space.settings
    device = resolve_device(device)
    cuda = device.type == "cuda"
    data = _prepared(dataset, dataset_dir, subset=subset, seed=seed)
    meter = resolve_meter(meter)
    max_epoch = config["max_epoch"]
    n_epochs = max_epoch if epochs is None else min(epochs, max_epoch)
    if n_epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    n_train = len(data.train_labels)
    batch = min(batch_size or settings.batch_size, n_train)
    iterations = n_train // batch

    torch.manual_seed(seed)
    model = RegNet(config, dataset=dataset).to(device)
    if cuda:
        torch.backends.cudnn.benchmark = True
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    ema = copy.deepcopy(model)
    optimizer = _optimizer(model, config, settings)
    criterion = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
    mixed = cuda and settings.mixed_precision
    scaler = torch.amp.GradScaler("cuda", enabled=mixed)
    autocast = functools.partial(torch.autocast, device.type, torch.float16, enabled=mixed)
    factors = lr_factors(
        np.array([config["lr_policy"]]), np.array([max_epoch]), settings, max_epoch
    )
    # pycls's update_model_ema: alpha scaled by batch size, epochs and update period.
    ema_alpha = min(1.0, settings.ema_alpha * batch / max_epoch * settings.ema_update_period)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    train_images = data.train_images.to(device)
    train_labels = data.train_labels.to(device)
    test_images = data.test_images.to(device)
    test_labels = data.test_labels.to(device)

    for epoch in range(n_epochs):
        for group in optimizer.param_groups:
            group["lr"] = config["learning_rate"] * float(factors[0, epoch])
        alpha = 1.0 if epoch < settings.warmup_epochs else ema_alpha
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        with meter.measure() as train_window:
            order = torch.randperm(n_train, device=device, generator=generator)
            for iteration in range(iterations):
                index = order[iteration * batch : (iteration + 1) * batch]
                x = _augmented(train_images[index], data, config["cutout"], generator, cuda)
                y = train_labels[index]
                with autocast():
                    logits = model(x)
                    loss = criterion(logits, y)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                loss_sum += loss.detach() * len(y)
                correct += (logits.detach().argmax(1) == y).sum()
                if iteration % settings.ema_update_period == 0:
                    _update_ema(model, ema, alpha)
            precise = min(_PRECISE_BN_SAMPLES // batch, iterations)
            order = torch.randperm(n_train, device=device, generator=generator)[: precise * batch]
            batches = [
                _augmented(train_images[index], data, config["cutout"], generator, cuda)
                for index in order.split(batch)
            ]
            for network in (model, ema):
                _precise_bn(network, batches, autocast)
            _synchronize(device)
        with meter.measure() as test_window:
            test_correct = _evaluate(ema, test_images, test_labels, data, batch, autocast, cuda)
            _synchronize(device)
        trained = iterations * batch
        train, test = train_window.result, test_window.result
        metrics = EpochMetrics(
            epoch=epoch + 1,
            test_accuracy=100.0 * test_correct / len(test_labels),
            train_accuracy=100.0 * float(correct) / trained,
            train_loss=float(loss_sum) / trained,
            train_energy_j=float(train.joules),
            train_time_s=float(train.seconds),
            test_energy_j=float(test.joules),
            test_time_s=float(test.seconds),
            energy_estimated=bool(train.estimated or test.estimated),
            energy_source=str(train.source),
        )
        if on_epoch is not None:
            on_epoch(metrics)
        yield metrics


def device_name(device: str | torch.device) -> str:
    """The hardware's name, for records: the GPU's, or the CPU's model name."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or device.type


def _prepared(
    dataset: str, source: str | os.PathLike[str] | ImageDataset, *, subset: float, seed: int
) -> ImageDataset:
    if not isinstance(source, ImageDataset):
        return load_dataset(dataset, source, subset=subset, seed=seed)
    if source.name != dataset:
        raise ValueError(f"The data given is {source.name}, not {dataset}.")
    return source if subset == 1 else source.subset(subset, seed=seed)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The torch device to train on: ``device``, or CUDA when available, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_meter(meter: Any) -> Any:
    """``meter``, or the best available energy meter (``optuna_eahas.energy``'s
    ``default_meter``: NVML, then RAPL, then an estimate)."""
    if meter is not None:
        return meter
    from optuna_eahas.energy._select import default_meter

    return default_meter()


def _optimizer(
    model: nn.Module, config: Mapping[str, Any], settings: TrainingSettings
) -> torch.optim.Optimizer:
    """pycls's ``construct_optimizer``: no weight decay on BatchNorm parameters (nor, here, on
    any bias: every one-dimensional parameter)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": settings.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    lr = config["learning_rate"]
    if config["optimizer"] == "sgd":
        return torch.optim.SGD(
            groups, lr=lr, momentum=settings.sgd_momentum, nesterov=settings.sgd_nesterov
        )
    if config["optimizer"] == "adam":
        return torch.optim.Adam(groups, lr=lr)
    return torch.optim.AdamW(groups, lr=lr)


def _augmented(
    images: torch.Tensor,
    data: ImageDataset,
    cutout: int,
    generator: torch.Generator,
    cuda: bool,
) -> torch.Tensor:
    x = augment(images, data, cutout=cutout, generator=generator)
    return x.contiguous(memory_format=torch.channels_last) if cuda else x


@torch.no_grad()
def _precise_bn(
    model: nn.Module,
    batches: list[torch.Tensor],
    autocast: Callable[[], contextlib.AbstractContextManager],
) -> None:
    """pycls's ``compute_precise_bn_stats``: BatchNorm statistics averaged over up to 8192
    training images with the final weights, instead of the running average over changing
    ones (pycls's ``BN.USE_PRECISE_STATS``, on by default, for the model and its EMA)."""
    model.train()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    means = [torch.zeros_like(bn.get_buffer("running_mean")) for bn in norms]
    variances = [torch.zeros_like(bn.get_buffer("running_var")) for bn in norms]
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.momentum = 1.0
    for x in batches:
        with autocast():
            model(x)
        for bn, mean, variance in zip(norms, means, variances, strict=True):
            mean += bn.get_buffer("running_mean") / len(batches)
            variance += bn.get_buffer("running_var") / len(batches)
    for bn, mean, variance, momentum in zip(norms, means, variances, momenta, strict=True):
        bn.get_buffer("running_mean").copy_(mean)
        bn.get_buffer("running_var").copy_(variance)
        bn.momentum = momentum


@torch.no_grad()
def _update_ema(model: nn.Module, ema: nn.Module, alpha: float) -> None:
    """pycls's ``update_model_ema``, over the whole state (BatchNorm statistics included)."""
    state = model.state_dict()
    for name, value in ema.state_dict().items():
        if value.is_floating_point():
            value.mul_(1.0 - alpha).add_(state[name], alpha=alpha)
        else:
            value.copy_(state[name])


@torch.no_grad()
def _evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    data: ImageDataset,
    batch: int,
    autocast: Callable[[], contextlib.AbstractContextManager],
    cuda: bool,
) -> int:
    model.eval()
    correct = torch.zeros((), device=images.device, dtype=torch.int64)
    for start in range(0, len(labels), batch):
        x = normalize(images[start : start + batch], data)
        if cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast():
            logits = model(x)
        correct += (logits.argmax(1) == labels[start : start + batch]).sum()
    return int(correct)


def _synchronize(device: torch.device) -> None:
    """Wait for the device, so that a measurement window holds all of its work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
