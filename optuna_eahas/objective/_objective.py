from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
import contextlib
from dataclasses import dataclass
import os
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

from optuna_eahas import energy
from optuna_eahas.benchmark import Benchmark
from optuna_eahas.space import PARAM_NAMES
from optuna_eahas.space import InvalidParameterError
from optuna_eahas.space import SearchSpace

if TYPE_CHECKING:
    import torch

    from optuna_eahas.train._data import ImageDataset

_J_PER_KWH = 3.6e6
ConstraintMode = Literal["record", "skip", "ignore"]
Mode = Literal["surrogate", "train"]


@dataclass(frozen=True)
class EpochResult:
    """One trained epoch: EMA test accuracy and the epoch's training energy and time."""

    accuracy: float
    energy_j: float
    time_s: float


class _SurrogateRun:
    """Epochs of one configuration answered by the surrogate benchmark.

    Real training (``optuna_eahas.train.TrainingRun``) yields the same :class:`EpochResult`
    stream, so the objective's reporting, pruning and energy accounting do not depend on the
    mode.
    """

    def __init__(
        self, benchmark: Benchmark, config: dict[str, Any], *, noise: bool, seed: int | None
    ):
        self.result = benchmark.query(config, noise=noise, seed=seed)
        self.energy_estimated = True
        self.energy_source = "surrogate"

    def epochs(self) -> Iterator[EpochResult]:
        r = self.result
        for accuracy, joules, seconds in zip(
            r.test_accuracy.tolist(),
            r.train_energy_j.tolist(),
            r.train_time_s.tolist(),
            strict=True,
        ):
            yield EpochResult(accuracy, joules, seconds)

    @property
    def inference_energy_j(self) -> float:
        return self.result.test_energy_j

    @property
    def inference_time_s(self) -> float:
        return self.result.test_time_s


class EahasObjective:
    """An Optuna objective that trains (by default: asks the surrogate about) a configuration
    of EA-HAS-Bench's joint space. See :func:`eahas_objective` for the options.

    With ``mode="train"``, ``benchmark`` is :obj:`None` and ``training`` holds the keyword
    arguments of ``optuna_eahas.train.TrainingRun`` (``dataset`` and ``data_dir`` at least).
    """

    def __init__(
        self,
        benchmark: Benchmark | None,
        *,
        seed: int | None,
        noise: bool,
        report_interval: int,
        constraints: ConstraintMode,
        multi_objective: bool,
        search_space: Mapping[str, Any] | None,
        mode: Mode = "surrogate",
        training: Mapping[str, Any] | None = None,
    ) -> None:
        if mode not in ("surrogate", "train"):
            raise ValueError(f"mode must be 'surrogate' or 'train', got {mode!r}.")
        if (mode == "train") != (benchmark is None) or (mode == "train") != (training is not None):
            raise ValueError("mode='train' takes training options and no benchmark.")
        if report_interval < 1:
            raise ValueError(f"report_interval must be at least 1, got {report_interval}.")
        if constraints not in ("record", "skip", "ignore"):
            raise ValueError(
                f"constraints must be 'record', 'skip' or 'ignore', got {constraints!r}."
            )
        self.benchmark = benchmark
        self.mode = mode
        self.training = dict(training or {})
        self.space: SearchSpace = (
            benchmark.space if benchmark is not None else SearchSpace(self.training["dataset"])
        )
        self.seed = seed
        self.noise = noise
        self.report_interval = report_interval
        self.constraints = constraints
        self.multi_objective = multi_objective
        self.distributions, self.fixed = _resolve_search_space(self.space, search_space or {})
        self._identity = (
            benchmark.identity if benchmark is not None else _training_identity(self.training)
        )

    @property
    def directions(self) -> list[str]:
        """Study directions matching the returned values."""
        return ["maximize", "minimize"] if self.multi_objective else ["maximize"]

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Suggest the searched parameters and merge the fixed ones; return the configuration."""
        config = dict(self.fixed)
        for name, distribution in self.distributions.items():
            config[name] = _suggest(trial, name, distribution)
        return self.space.validate(config)

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        config = self.suggest(trial)
        if self.fixed:
            trial.set_user_attr("eahas:fixed_params", dict(self.fixed))
        trial.set_user_attr(energy.BENCHMARK, self._identity)
        complexity = self.space.complexity(config)
        trial.set_user_attr(energy.FLOPS, complexity.flops)
        trial.set_user_attr(energy.PARAMS, complexity.params)
        trial.set_user_attr(energy.ACTS, complexity.acts)
        feasible = self._apply_constraints(trial, config)
        if not feasible and self.constraints == "skip":
            energy.record(trial, 0.0, seconds=0.0, epochs=0, estimated=True, source="surrogate")
            trial.set_user_attr(energy.SKIPPED_INFEASIBLE, True)
            raise optuna.TrialPruned("Configuration breaks the paper's complexity constraints.")

        run = self._run(trial, config)
        energy.record(
            trial,
            0.0,
            seconds=0.0,
            epochs=0,
            estimated=run.energy_estimated,
            source=run.energy_source,
        )
        joules = seconds = 0.0
        accuracy = 0.0
        last = min(config["max_epoch"], self.training.get("epochs") or config["max_epoch"])
        flags = (run.energy_estimated, run.energy_source)
        with contextlib.closing(run.epochs()) as results:
            for epoch, result in enumerate(results, start=1):
                joules += result.energy_j
                seconds += result.time_s
                accuracy = result.accuracy
                if epoch % self.report_interval and epoch != last:
                    continue
                # Energy is recorded before reporting, so a trial pruned or killed now has paid.
                # The flags were written above; a report rewrites them only when they change.
                trial.set_user_attr(energy.ENERGY_J, joules)
                trial.set_user_attr(energy.TIME_S, seconds)
                trial.set_user_attr(energy.EPOCHS, epoch)
                if (run.energy_estimated, run.energy_source) != flags:
                    # A meter may fall back to an estimate mid-run (real training only).
                    flags = (run.energy_estimated, run.energy_source)
                    trial.set_user_attr(energy.ENERGY_ESTIMATED, flags[0])
                    trial.set_user_attr(energy.ENERGY_SOURCE, flags[1])
                if self.multi_objective:
                    continue
                trial.report(accuracy, step=epoch)
                # At the last epoch the whole run is paid for: pruning it would only discard it.
                if epoch != last and trial.should_prune():
                    raise optuna.TrialPruned(f"Pruned at epoch {epoch}.")
        trial.set_user_attr(energy.INFERENCE_ENERGY_J, run.inference_energy_j)
        trial.set_user_attr(energy.INFERENCE_TIME_S, run.inference_time_s)
        if self.multi_objective:
            return accuracy, joules / _J_PER_KWH
        return accuracy

    def _run(self, trial: optuna.Trial, config: dict[str, Any]) -> Any:
        if self.benchmark is not None:
            seed = self._run_seed(trial)
            return _SurrogateRun(self.benchmark, config, noise=self.noise, seed=seed)
        from optuna_eahas.train._run import TrainingRun

        return TrainingRun(config, seed=self.seed or 0, **self.training)

    def _apply_constraints(self, trial: optuna.Trial, config: dict[str, Any]) -> bool:
        if self.constraints == "ignore" or self.space.constraints is None:
            return True
        values = self.space.constraint_values(config)
        for name, value in values.items():
            trial.set_constraint(name, value)
            trial.set_user_attr(energy.CONSTRAINT_PREFIX + name, value)
        feasible = all(value <= 0 for value in values.values())
        trial.set_user_attr(energy.FEASIBLE, feasible)
        return feasible

    def _run_seed(self, trial: optuna.Trial) -> int | None:
        if not self.noise or self.seed is None:
            # Without a seed every noisy run draws fresh entropy (as Optuna's samplers do).
            return None
        return int(np.random.SeedSequence([self.seed, trial.number]).generate_state(1)[0])


def _suggest(trial: optuna.Trial, name: str, distribution: BaseDistribution) -> Any:
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    raise TypeError(f"Unsupported distribution for {name!r}: {distribution!r}.")


def _resolve_search_space(
    space: SearchSpace, overrides: Mapping[str, Any]
) -> tuple[dict[str, BaseDistribution], dict[str, Any]]:
    """Split user overrides into narrowed distributions and fixed values, checking both.

    A distribution narrows a parameter and must stay inside the space (its bounds or choices
    are validated); any other value fixes the parameter.
    """
    full = space.distributions
    distributions: dict[str, BaseDistribution] = {}
    fixed: dict[str, Any] = {}
    for name, override in overrides.items():
        if isinstance(override, BaseDistribution):
            _check_inside(space, name, override)
            distributions[name] = override
        else:
            fixed[name] = space.validate_value(name, override)
    for name in PARAM_NAMES:
        if name not in fixed and name not in distributions:
            distributions[name] = full[name]
    return distributions, fixed


# A numeric distribution narrowing a parameter may suggest at most this many values; the
# finest grid of the space (wm's) has 501 points, so a finer distribution must leave it.
_MAX_GRID_POINTS = 10_000


def _check_inside(space: SearchSpace, name: str, distribution: BaseDistribution) -> None:
    """Check that every value ``distribution`` can suggest lies in the space (on its grid)."""
    if isinstance(distribution, CategoricalDistribution):
        values = list(distribution.choices)
    elif isinstance(distribution, (IntDistribution, FloatDistribution)):
        low, high, step = distribution.low, distribution.high, distribution.step
        space.validate_value(name, low)
        space.validate_value(name, high)
        points = 1 if high == low else None if step is None else round((high - low) / step) + 1
        if points is None or points > _MAX_GRID_POINTS:
            raise InvalidParameterError(
                name,
                f"{distribution!r} for {name!r} suggests values off the space's grid: expected "
                f"{space.allowed(name)}. Give a step on that grid or a CategoricalDistribution.",
            )
        values = [low + k * step for k in range(points)] if step is not None else [low]
    else:
        raise TypeError(f"Unsupported distribution for {name!r}: {distribution!r}.")
    for value in values:
        space.validate_value(name, value)


def eahas_objective(
    dataset: str = "cifar10",
    *,
    benchmark: Benchmark | None = None,
    seed: int | None = None,
    noise: bool = False,
    report_interval: int = 1,
    constraints: ConstraintMode = "record",
    multi_objective: bool = False,
    search_space: Mapping[str, Any] | None = None,
    mode: Mode = "surrogate",
    data_dir: str | os.PathLike[str] | ImageDataset | None = None,
    device: str | torch.device | None = None,
    meter: Any = None,
    subset: float = 1.0,
    epochs: int | None = None,
    batch_size: int | None = None,
) -> EahasObjective:
    """An objective for ``study.optimize`` that searches EA-HAS-Bench's joint space.

    It suggests the ten parameters, reports the EMA test accuracy after every
    ``report_interval`` epochs (so Optuna's pruners work), and records in user attributes the
    energy and time consumed so far (``optuna_eahas.energy``): a trial pruned at epoch 12 has
    paid for 12 epochs. The report at a trial's last epoch is never pruned: the run is paid for
    by then. Returns the final test accuracy (maximise it).

    With ``mode="train"`` each trial trains its configuration for real with PyTorch
    (``optuna_eahas.train``; the ``torch`` extra) and records the energy an energy meter
    measured; a pruned trial stops training. The trials' user attributes are the same in both
    modes.

    Args:
        dataset: ``"cifar10"`` or ``"tinyimagenet"``: loads the default benchmark.
        benchmark: A loaded :class:`Benchmark` (overrides ``dataset``; surrogate mode only).
        seed: With ``noise``, makes each trial's simulated run reproducible (without a seed,
            every run draws fresh noise). With ``mode="train"``: every trial's training seed
            (default 0).
        noise: :obj:`False` answers the surrogate's mean curve; :obj:`True` a realistic single
            run (per-epoch noise, one ensemble member).
        report_interval: Report every this many epochs (and at the last).
        constraints: ``"record"`` sets the paper's CIFAR-10 complexity constraints with
            ``trial.set_constraint`` (and mirrors them in user attributes for
            optuna-dashboard); ``"skip"`` also prunes infeasible configurations at zero energy
            instead of evaluating them; ``"ignore"`` does neither.
        multi_objective: Return ``(accuracy, training energy in kWh)`` for multi-objective
            samplers (directions ``["maximize", "minimize"]``). Optuna cannot prune
            multi-objective studies, so nothing is reported then; energy is still recorded.
        search_space: Narrow or fix parameters: a distribution narrows one (every value it
            can suggest must lie inside the space, on its grid), any other value fixes it. For
            example, search only the hyperparameters of a fixed architecture by fixing
            ``depth``, ``w0``, ``wa``, ``wm``, ``group_width``.
        mode: ``"surrogate"`` asks the benchmark; ``"train"`` trains (the options below).
        data_dir: Training only, required: the dataset's folder (see
            ``optuna_eahas.train.load_dataset``; nothing is downloaded), decoded into memory
            once, or an ``optuna_eahas.train.ImageDataset`` already loaded.
        device: Training only: the torch device (default CUDA when available, else CPU).
        meter: Training only: the energy meter (default: NVML, RAPL or an estimate, the best
            available).
        subset: Training only: train on this fraction of the training set (the same images
            in every trial, chosen by ``seed``).
        epochs: Training only: stop each trial after this many epochs.
        batch_size: Training only: images per step (default the paper's 1024).
    """
    training = None
    if mode == "train":
        if benchmark is not None:
            raise ValueError("benchmark is for mode='surrogate'; mode='train' trains.")
        if data_dir is None:
            raise ValueError("mode='train' needs data_dir, the dataset's folder.")
        from optuna_eahas.train._data import ImageDataset
        from optuna_eahas.train._data import load_dataset

        # Decoded once for all trials (and a missing dataset fails here, not in a trial).
        if isinstance(data_dir, ImageDataset):
            data = data_dir if subset == 1 else data_dir.subset(subset, seed=seed or 0)
        else:
            data = load_dataset(dataset, data_dir, subset=subset, seed=seed or 0)
        training = {
            "dataset": dataset,
            "data_dir": data,
            "device": device,
            "meter": meter,
            "epochs": epochs,
            "batch_size": batch_size,
        }
        bench = None
    else:
        bench = benchmark if benchmark is not None else Benchmark.load(dataset)
    return EahasObjective(
        bench,
        seed=seed,
        noise=noise,
        report_interval=report_interval,
        constraints=constraints,
        multi_objective=multi_objective,
        search_space=search_space,
        mode=mode,
        training=training,
    )


def _training_identity(training: Mapping[str, Any]) -> dict[str, Any]:
    """The ``eahas:benchmark`` attribute of trials that train: the keys of
    :attr:`Benchmark.identity`, saying that nothing is simulated."""
    return {
        "name": "train",
        "dataset": training["dataset"],
        "version": None,
        "simulated": False,
        "records": None,
    }
