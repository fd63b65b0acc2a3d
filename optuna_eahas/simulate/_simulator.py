from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.signal import lfilter

from optuna_eahas.records import Provenance
from optuna_eahas.records import RunRecord
from optuna_eahas.simulate._expected import ExpectedRuns
from optuna_eahas.simulate._expected import expected_accuracy
from optuna_eahas.simulate._expected import expected_energy
from optuna_eahas.simulate._parameters import ACCURACY_MODELS
from optuna_eahas.simulate._parameters import ENERGY_MODELS
from optuna_eahas.simulate._parameters import AccuracyModel
from optuna_eahas.simulate._parameters import EnergyModel
from optuna_eahas.space import SearchSpace

SIMULATOR_DEVICE = "reference simulator (V100-class calibration, not a measurement)"
_CHUNK = 4096


class ReferenceSimulator:
    """A generative model of EA-HAS-Bench runs, calibrated to published figures.

    It stands in for the paper's training data, which cannot be obtained here: every record it
    writes is marked ``source: simulated`` and ``energy_estimated: true``. The expected curve
    and energy of a configuration are deterministic; a run's seed only draws its noise.
    ``docs/data-card-simulator.md`` lists the facts it reproduces and which parameters they
    fix.

    Args:
        dataset: ``"cifar10"`` or ``"tinyimagenet"``.
        accuracy_model: Overrides the calibrated learning-curve parameters.
        energy_model: Overrides the calibrated energy and time parameters.
    """

    def __init__(
        self,
        dataset: str = "cifar10",
        *,
        accuracy_model: AccuracyModel | None = None,
        energy_model: EnergyModel | None = None,
    ) -> None:
        self.space = SearchSpace(dataset)
        self.accuracy_model = accuracy_model or ACCURACY_MODELS[dataset]
        self.energy_model = energy_model or ENERGY_MODELS[dataset]

    @property
    def dataset(self) -> str:
        return self.space.dataset

    def expected(self, configs: Sequence[Mapping[str, Any]]) -> ExpectedRuns:
        """Noise-free curves, energy and time of validated configurations."""
        columns = self.space.columns(configs)
        cx = self.space.batch_complexity(columns)
        test, train, loss, factors, diverged = expected_accuracy(
            columns,
            cx,
            model=self.accuracy_model,
            settings=self.space.settings,
            num_classes=self.space.num_classes,
        )
        energy = expected_energy(columns, cx, model=self.energy_model)
        return ExpectedRuns(
            test_accuracy=test,
            train_accuracy=train,
            train_loss=loss,
            lr_factors=factors,
            diverged=diverged,
            **energy,
        )

    def simulate(
        self, configs: Sequence[Mapping[str, Any]], *, seeds: Sequence[int]
    ) -> list[RunRecord]:
        """One simulated run record per configuration, its noise drawn from its seed."""
        return list(self.iter_simulate(configs, seeds=seeds))

    def iter_simulate(
        self, configs: Sequence[Mapping[str, Any]], *, seeds: Sequence[int]
    ) -> Iterator[RunRecord]:
        if len(configs) != len(seeds):
            raise ValueError(f"Got {len(configs)} configurations but {len(seeds)} seeds.")
        validated = [self.space.validate(c) for c in configs]
        provenance = Provenance.create(
            source="simulated", device=SIMULATOR_DEVICE, energy_meter="simulator"
        )
        for start in range(0, len(validated), _CHUNK):
            chunk = validated[start : start + _CHUNK]
            expected = self.expected(chunk)
            complexity = self.space.batch_complexity(self.space.columns(chunk))
            for i, config in enumerate(chunk):
                seed = int(seeds[start + i])
                arrays = self._noisy_run(expected, i, config["max_epoch"], seed)
                yield RunRecord(
                    dataset=self.dataset,
                    config=config,
                    seed=seed,
                    epochs=config["max_epoch"],
                    complexity={
                        "flops": int(complexity.flops[i]),
                        "params": int(complexity.params[i]),
                        "acts": int(complexity.acts[i]),
                    },
                    provenance=provenance,
                    test_accuracy=arrays["test_accuracy"],
                    train_accuracy=arrays["train_accuracy"],
                    train_loss=arrays["train_loss"],
                    train_energy_j=arrays["train_energy_j"],
                    train_time_s=arrays["train_time_s"],
                    test_energy_j=arrays["test_energy_j"],
                    test_time_s=arrays["test_time_s"],
                )

    def _noisy_run(
        self, expected: ExpectedRuns, i: int, epochs: int, seed: int
    ) -> dict[str, np.ndarray]:
        """Add a run's noise: autocorrelated accuracy noise, larger early and at high rates,
        a run-level accuracy offset, and run- and epoch-level energy and time variation."""
        acc_model, energy_model = self.accuracy_model, self.energy_model
        rng = np.random.default_rng(seed)
        epoch = np.arange(epochs)
        factors = expected.lr_factors[i, :epochs]
        spread = (
            acc_model.noise_late
            + (acc_model.noise_early - acc_model.noise_late)
            * np.exp(-epoch / acc_model.noise_decay_epochs)
            + acc_model.noise_high_lr * factors
        )
        phi = acc_model.noise_autocorrelation
        shocks = rng.standard_normal((2, epochs)) * np.sqrt(1.0 - phi**2)
        walk = lfilter([1.0], [1.0, -phi], shocks, axis=1)
        offset = rng.normal(0.0, acc_model.run_offset)
        if expected.diverged[i]:
            spread = np.full(epochs, 0.1 * acc_model.noise_late)
            offset = 0.0
        test = expected.test_accuracy[i, :epochs] + offset + spread * walk[0]
        train = expected.train_accuracy[i, :epochs] + offset + 0.5 * spread * walk[1]
        floor = 0.0 if expected.diverged[i] else acc_model.chance_accuracy * 0.5
        test = np.clip(test, floor, 100.0)
        train = np.clip(train, floor, 100.0)

        run_time = rng.lognormal(0.0, energy_model.run_time_cv)
        run_energy = rng.lognormal(0.0, energy_model.run_energy_cv)
        jitter = 1.0 + energy_model.epoch_noise_cv * rng.standard_normal((4, epochs))
        seconds = np.full(epochs, expected.epoch_seconds[i])
        power = np.full(epochs, expected.power_w[i])
        seconds[0] = expected.first_epoch_seconds[i]
        power[0] = expected.first_epoch_power_w[i]
        train_time = seconds * run_time * jitter[0]
        train_energy = train_time * power * run_energy / run_time * jitter[1]
        test_time = expected.test_seconds[i] * run_time * jitter[2]
        test_energy = test_time * expected.test_power_w[i] * run_energy / run_time * jitter[3]
        return {
            "test_accuracy": test,
            "train_accuracy": train,
            "train_loss": expected.train_loss[i, :epochs],
            "train_energy_j": train_energy,
            "train_time_s": train_time,
            "test_energy_j": test_energy,
            "test_time_s": test_time,
        }

    def sample_configs(
        self, n: int, *, seed: int, constrained_fraction: float
    ) -> tuple[list[dict[str, Any]], list[int]]:
        """Configurations the way the paper sweeps the space, plus one run seed each.

        ``constrained_fraction`` of them satisfy the paper's CIFAR-10 complexity constraints
        (the paper's own sweep); the rest are uniform over the whole space, so that a
        benchmark fitted on them answers any configuration.
        """
        if not 0.0 <= constrained_fraction <= 1.0:
            raise ValueError(
                f"constrained_fraction must be in [0, 1], got {constrained_fraction}."
            )
        if self.space.constraints is None:
            constrained_fraction = 0.0
        rng = np.random.default_rng(seed)
        n_constrained = int(round(n * constrained_fraction))
        sample_seeds = rng.integers(0, 2**31, size=2)
        configs = self.space.sample(n - n_constrained, seed=int(sample_seeds[1]))
        if n_constrained:
            configs += self.space.sample(
                n_constrained, seed=int(sample_seeds[0]), constrained=True
            )
        order = rng.permutation(n)
        run_seeds = rng.integers(0, 2**31, size=n)
        return [configs[j] for j in order], [int(s) for s in run_seeds]
