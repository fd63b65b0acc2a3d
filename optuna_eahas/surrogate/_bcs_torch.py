"""Training of the Bézier-curve surrogate (EA-HAS-Bench, Dou et al. ICLR 2023, Section 4.2).

This module imports PyTorch; import it lazily, only to fit. The fitted weights are plain NumPy
arrays (the format of :mod:`optuna_eahas.surrogate._bcs_numpy`), which
:class:`~optuna_eahas.surrogate.BCSEnsemble` evaluates without PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
import dataclasses
from dataclasses import dataclass
import itertools
import math
import os

import numpy as np
from numpy.typing import ArrayLike
import optuna
import torch

from optuna_eahas.surrogate._bcs_numpy import LABEL_SCALE
from optuna_eahas.surrogate._bcs_numpy import trunk_depth

__all__ = [
    "BCSHyperparameters",
    "BCSNetwork",
    "fit_bcs_ensemble",
    "search_bcs_hyperparameters",
]

_NUM_LABELS = 8
# Epochs without a better validation MSE after which training stops.
_PATIENCE = 30
# The logit of the ends' initial bias is taken of the mean target clipped to this range.
_MIN_PROBABILITY = 1e-3

ProgressCallback = Callable[[int, int, float, float | None], None]
_EpochCallback = Callable[[int, float, float | None], None]


@dataclass(frozen=True)
class BCSHyperparameters:
    """Hyperparameters of the BCS network and its training (Section 4.2).

    Training minimises the MSE of the scaled labels with AdamW (Adam with decoupled weight
    decay) and a cosine learning-rate schedule over ``epochs`` of shuffled mini-batches.
    """

    width: int = 256
    depth: int = 3
    learning_rate: float = 2e-3
    dropout: float = 0.0
    epochs: int = 300
    batch_size: int = 64
    weight_decay: float = 1e-4
    encoder_width: int = 64

    def __post_init__(self) -> None:
        for name in ("width", "epochs", "batch_size", "encoder_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}.")
        if self.depth < 0:
            raise ValueError(f"depth must be non-negative, got {self.depth}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}.")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}.")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be non-negative, got {self.weight_decay}.")


class _Standardize(torch.nn.Module):
    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("shift", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) * self.scale


class BCSNetwork(torch.nn.Module):
    """The BCS network (Section 4.2): encoders of the architecture and the hyperparameters,
    an MLP trunk, and heads for the end points and the interior control points.

    The input ``(n, arch_dim + hp_dim)`` holds the architecture features first. The output
    ``(n, 8)`` is in scaled label units: ``[y_start, y_end]`` / 100 through a sigmoid, then
    ``x1/E, y1/100, x2/E, y2/100, x3/E, y3/100`` linear.
    """

    def __init__(
        self,
        arch_dim: int,
        hp_dim: int,
        *,
        encoder_width: int = 64,
        width: int = 256,
        depth: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if arch_dim < 1 or hp_dim < 1:
            raise ValueError(f"arch_dim and hp_dim must be positive, got {arch_dim}, {hp_dim}.")
        self.arch_dim = arch_dim
        self.input = _Standardize(arch_dim + hp_dim)
        self.arch = torch.nn.Linear(arch_dim, encoder_width)
        self.hp = torch.nn.Linear(hp_dim, encoder_width)
        widths = [2 * encoder_width] + [width] * depth
        self.trunk = torch.nn.ModuleList(
            torch.nn.Linear(n_in, n_out) for n_in, n_out in itertools.pairwise(widths)
        )
        self.dropout = torch.nn.Dropout(dropout)
        self.ends = torch.nn.Linear(widths[-1], 2)
        self.interior = torch.nn.Linear(widths[-1], 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.input(x)
        arch = torch.relu(self.arch(z[:, : self.arch_dim]))
        hp = torch.relu(self.hp(z[:, self.arch_dim :]))
        h = torch.cat([arch, hp], dim=1)
        for layer in self.trunk:
            h = self.dropout(torch.relu(layer(h)))
        return torch.cat([torch.sigmoid(self.ends(h)), self.interior(h)], dim=1)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The network's weights as named float32 arrays (the ``.npz`` format)."""
        return {
            name: tensor.detach().cpu().numpy().astype(np.float32)
            for name, tensor in self.state_dict().items()
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], *, arch_dim: int) -> BCSNetwork:
        """The network with the weights of :meth:`to_arrays`."""
        depth = trunk_depth(arrays)
        encoder_width, hp_dim = np.shape(arrays["hp.weight"])
        network = cls(
            arch_dim,
            hp_dim,
            encoder_width=encoder_width,
            # Without a trunk the width is unused.
            width=np.shape(arrays["trunk.0.weight"])[0] if depth else 1,
            depth=depth,
        )
        network.load_state_dict(
            {name: torch.as_tensor(np.asarray(value)) for name, value in arrays.items()}
        )
        return network


def fit_bcs_ensemble(
    X: ArrayLike,
    Y: ArrayLike,
    *,
    arch_dim: int,
    hyperparameters: BCSHyperparameters | None = None,
    n_members: int = 5,
    seed: int = 0,
    validation: tuple[ArrayLike, ArrayLike] | None = None,
    progress: ProgressCallback | None = None,
    n_threads: int | None = None,
) -> list[dict[str, np.ndarray]]:
    """Train an ensemble of BCS networks (Section 4.2).

    Args:
        X:
            Features ``(n, d)``, the first ``arch_dim`` columns describing the architecture.
        Y:
            Labels ``(n, 8)`` of :func:`~optuna_eahas.surrogate.bezier_labels` (accuracies in
            percent).
        arch_dim:
            Number of architecture features.
        hyperparameters:
            Network and training hyperparameters; :class:`BCSHyperparameters` by default.
        n_members:
            Number of networks, each with its own seed for initialisation, dropout and
            shuffling.
        seed:
            Seed of the members' seeds. Training is deterministic for a seed and
            ``n_threads``.
        validation:
            ``(X, Y)`` to stop early on: each member keeps the weights of its epoch with the
            lowest validation MSE and stops after 30 epochs without improvement.
        progress:
            Called after every epoch with the member, the epoch, the training MSE and the
            validation MSE (``None`` without validation), all MSEs in scaled label units.
        n_threads:
            PyTorch's CPU threads while fitting; all CPUs available to the process by
            default. Small networks often train fastest on one.

    Returns:
        Each member's weights as named float32 arrays, for
        :meth:`~optuna_eahas.surrogate.BCSEnsemble.from_arrays`.
    """
    if n_members < 1:
        raise ValueError(f"n_members must be positive, got {n_members}.")
    hyperparameters = BCSHyperparameters() if hyperparameters is None else hyperparameters
    x, y = _training_data(X, Y, arch_dim=arch_dim)
    held_out = None if validation is None else _held_out_data(*validation, x=x, arch_dim=arch_dim)
    seeds = np.random.SeedSequence(seed).generate_state(n_members)
    with _reproducible(n_threads):
        return [
            _train_member(
                x,
                y,
                held_out,
                arch_dim=arch_dim,
                hyperparameters=hyperparameters,
                seed=int(member_seed),
                callback=None if progress is None else _member_progress(progress, k),
            )[0].to_arrays()
            for k, member_seed in enumerate(seeds)
        ]


def search_bcs_hyperparameters(
    X: ArrayLike,
    Y: ArrayLike,
    Xv: ArrayLike,
    Yv: ArrayLike,
    *,
    arch_dim: int,
    n_trials: int,
    seed: int,
    timeout: float | None = None,
    epochs: tuple[int, int] = (50, 500),
    n_threads: int | None = None,
) -> BCSHyperparameters:
    """Choose BCS hyperparameters with Optuna's TPE by the validation MSE of one network.

    Searches width, depth, learning rate, dropout, epochs (within ``epochs``) and batch size;
    the first trial evaluates the defaults (with epochs clipped to the range). The other
    fields keep their defaults. Every trial trains with the same seed; ``n_threads`` is as in
    :func:`fit_bcs_ensemble`.
    """
    x, y = _training_data(X, Y, arch_dim=arch_dim)
    held_out = _held_out_data(Xv, Yv, x=x, arch_dim=arch_dim)
    low, high = epochs
    if not 1 <= low <= high:
        raise ValueError(f"epochs must be a range 1 <= low <= high, got {epochs}.")
    defaults = BCSHyperparameters()

    def objective(trial: optuna.Trial) -> float:
        hyperparameters = dataclasses.replace(
            defaults,
            width=trial.suggest_categorical("width", (64, 128, 256, 512)),
            depth=trial.suggest_int("depth", 1, 4),
            learning_rate=trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
            dropout=trial.suggest_float("dropout", 0.0, 0.3),
            epochs=trial.suggest_int("epochs", low, high, log=True),
            batch_size=trial.suggest_categorical("batch_size", (32, 64, 128, 256)),
        )
        return _train_member(
            x, y, held_out, arch_dim=arch_dim, hyperparameters=hyperparameters, seed=seed
        )[1]

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(
        {
            "width": defaults.width,
            "depth": defaults.depth,
            "learning_rate": defaults.learning_rate,
            "dropout": defaults.dropout,
            "epochs": min(max(defaults.epochs, low), high),
            "batch_size": defaults.batch_size,
        }
    )
    with _reproducible(n_threads):
        study.optimize(objective, n_trials=n_trials, timeout=timeout)
    return dataclasses.replace(defaults, **study.best_params)


def _training_data(
    X: ArrayLike, Y: ArrayLike, *, arch_dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    x = np.asarray(X, dtype=np.float32)
    y = np.asarray(Y, dtype=np.float64)
    if x.ndim != 2 or not 0 < arch_dim < x.shape[1]:
        raise ValueError(
            f"X must have shape (n, d) with 0 < arch_dim < d, got {x.shape} and {arch_dim}."
        )
    if y.shape != (len(x), _NUM_LABELS):
        raise ValueError(f"Y must have shape ({len(x)}, {_NUM_LABELS}), got {y.shape}.")
    if len(x) == 0:
        raise ValueError("X must have at least one row.")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("X and Y must be finite.")
    return torch.from_numpy(x), torch.from_numpy((y / LABEL_SCALE).astype(np.float32))


def _held_out_data(
    X: ArrayLike, Y: ArrayLike, *, x: torch.Tensor, arch_dim: int
) -> tuple[torch.Tensor, torch.Tensor]:
    held_out = _training_data(X, Y, arch_dim=arch_dim)
    if held_out[0].shape[1] != x.shape[1]:
        raise ValueError(
            f"validation X has {held_out[0].shape[1]} columns, training X {x.shape[1]}."
        )
    return held_out


@contextmanager
def _reproducible(n_threads: int | None) -> Iterator[None]:
    """Deterministic algorithms and ``n_threads`` (by default all available) CPU threads,
    restoring the global RNG and settings afterwards."""
    if n_threads is None:
        n_threads = (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        ) or 1
    elif n_threads < 1:
        raise ValueError(f"n_threads must be positive, got {n_threads}.")
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(n_threads)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_num_threads(previous_threads)


def _member_progress(progress: ProgressCallback, member: int) -> _EpochCallback:
    return lambda epoch, train, held_out: progress(member, epoch, train, held_out)


def _train_member(
    x: torch.Tensor,
    y: torch.Tensor,
    held_out: tuple[torch.Tensor, torch.Tensor] | None,
    *,
    arch_dim: int,
    hyperparameters: BCSHyperparameters,
    seed: int,
    callback: _EpochCallback | None = None,
) -> tuple[BCSNetwork, float]:
    """Train one network; returns it in eval mode and its best validation MSE (the last
    training MSE without validation data)."""
    hp = hyperparameters
    torch.manual_seed(seed)
    network = BCSNetwork(
        arch_dim,
        x.shape[1] - arch_dim,
        encoder_width=hp.encoder_width,
        width=hp.width,
        depth=hp.depth,
        dropout=hp.dropout,
    )
    with torch.no_grad():
        std = x.double().std(dim=0, correction=0)
        network.input.shift.copy_(x.double().mean(dim=0))
        network.input.scale.copy_(torch.where(std > 0, 1 / std, torch.ones_like(std)))
        mean = y.double().mean(dim=0)
        network.ends.bias.copy_(
            torch.logit(mean[:2].clamp(_MIN_PROBABILITY, 1 - _MIN_PROBABILITY))
        )
        network.interior.bias.copy_(mean[2:])
    optimizer = torch.optim.AdamW(
        network.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay, fused=True
    )
    n_rows = len(x)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=hp.epochs * math.ceil(n_rows / hp.batch_size)
    )
    generator = torch.Generator().manual_seed(seed)
    best, best_state, since_best = math.inf, None, 0
    loss = math.inf
    for epoch in range(hp.epochs):
        network.train()
        total = 0.0
        for batch in torch.randperm(n_rows, generator=generator).split(hp.batch_size):
            batch_loss = torch.nn.functional.mse_loss(network(x[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            batch_loss.backward()
            optimizer.step()
            scheduler.step()
            total += batch_loss.item() * len(batch)
        loss = total / n_rows
        held_out_loss = None
        if held_out is not None:
            network.eval()
            with torch.no_grad():
                held_out_loss = torch.nn.functional.mse_loss(
                    network(held_out[0]), held_out[1]
                ).item()
            if held_out_loss < best:
                best, since_best = held_out_loss, 0
                best_state = {k: v.clone() for k, v in network.state_dict().items()}
            else:
                since_best += 1
        if callback is not None:
            callback(epoch, loss, held_out_loss)
        if since_best >= _PATIENCE:
            break
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    return network, best if held_out is not None else loss
