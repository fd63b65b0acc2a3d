from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
import os
from pathlib import Path
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution

from optuna_eahas.space import DATASETS
from optuna_eahas.space import RegNetComplexity
from optuna_eahas.surrogate import Surrogate


@dataclass(frozen=True)
class QueryResult:
    """What the benchmark answers for one configuration. SI units: joules and seconds.

    ``test_accuracy``, ``train_energy_j`` and ``train_time_s`` have one value per epoch;
    ``test_energy_j`` and ``test_time_s`` are one test pass (the paper's inference energy).
    ``constraints`` are the paper's complexity constraints (feasible when every value <= 0).
    """

    params: dict[str, Any]
    test_accuracy: np.ndarray
    train_energy_j: np.ndarray
    train_time_s: np.ndarray
    test_energy_j: float
    test_time_s: float
    complexity: RegNetComplexity
    constraints: dict[str, float]

    @property
    def final_accuracy(self) -> float:
        return float(self.test_accuracy[-1])

    @property
    def total_train_energy_j(self) -> float:
        return float(self.train_energy_j.sum())

    @property
    def total_train_time_s(self) -> float:
        return float(self.train_time_s.sum())

    @property
    def feasible(self) -> bool:
        return all(value <= 0 for value in self.constraints.values())


class Benchmark:
    """A surrogate benchmark over EA-HAS-Bench's joint space (Dou et al., ICLR 2023).

    Load a default one by dataset name or any fitted artifact by path::

        bench = Benchmark.load("cifar10")
        result = bench.query(bench.sample(1, seed=0)[0])

    The default benchmarks are fitted on records from this project's reference simulator:
    ``identity["simulated"]`` says so, and so does :attr:`data_card`.
    """

    def __init__(self, surrogate: Surrogate, *, name: str) -> None:
        self.surrogate = surrogate
        self.space = surrogate.space
        self.name = name

    @classmethod
    def load(cls, name_or_path: str | os.PathLike[str] = "cifar10") -> Benchmark:
        """Load ``"cifar10"`` or ``"tinyimagenet"`` (shipped with the package) or an artifact
        directory written by ``eahas fit``."""
        if isinstance(name_or_path, str) and name_or_path in DATASETS:
            directory = resources.files("optuna_eahas.data") / name_or_path
            with resources.as_file(directory) as path:
                return cls(Surrogate.load(path), name=name_or_path)
        path = Path(name_or_path)
        if not path.is_dir():
            raise ValueError(
                f"No benchmark {str(name_or_path)!r}: give one of {', '.join(DATASETS)} or the "
                "directory of an artifact written by 'eahas fit'."
            )
        return cls(Surrogate.load(path), name=path.name)

    def __repr__(self) -> str:
        return f"Benchmark({self.name!r}, dataset={self.dataset!r})"

    @property
    def dataset(self) -> str:
        return self.space.dataset

    @property
    def search_space(self) -> dict[str, BaseDistribution]:
        """Optuna distributions of the ten parameters."""
        return self.space.distributions

    @property
    def data_card(self) -> str:
        return self.surrogate.data_card

    @property
    def identity(self) -> dict[str, Any]:
        """Name, dataset, version and provenance of the benchmark, as stored with each trial."""
        manifest = self.surrogate.manifest
        return {
            "name": self.name,
            "dataset": self.dataset,
            "version": manifest.get("version"),
            "simulated": bool(manifest.get("simulated")),
            "records": manifest.get("records"),
        }

    def sample(self, n: int, *, seed: int | None = None, constrained: bool = False) -> list[dict]:
        """Configurations sampled as the paper's sweep samples them (see ``SearchSpace``)."""
        return self.space.sample(n, seed=seed, constrained=constrained)

    def query(
        self,
        params: Mapping[str, Any],
        *,
        max_epoch: int | None = None,
        noise: bool = False,
        seed: int | None = None,
    ) -> QueryResult:
        """Answer one configuration (validated; errors name the bad parameter).

        Args:
            params: The ten parameters.
            max_epoch: Curve length; defaults to ``params["max_epoch"]``. The learning-rate
                schedule is the configuration's, stretched to this length (Section 4.2).
            noise: :obj:`False` for the deterministic mean; :obj:`True` for one realistic run.
            seed: Seeds the noise.
        """
        return self.query_many([params], max_epoch=max_epoch, noise=noise, seed=seed)[0]

    def query_many(
        self,
        params_list: Sequence[Mapping[str, Any]],
        *,
        max_epoch: int | None = None,
        noise: bool = False,
        seed: int | None = None,
    ) -> list[QueryResult]:
        """Answer many configurations at once (vectorised; much faster per configuration)."""
        if max_epoch is not None and (
            isinstance(max_epoch, bool)
            or not isinstance(max_epoch, (int, np.integer))
            or max_epoch < 1
        ):
            raise ValueError(f"max_epoch must be an integer of at least 1, got {max_epoch!r}.")
        configs = [self.space.validate(p) for p in params_list]
        if not configs:
            return []
        columns = self.space.columns(configs)
        lengths = columns["max_epoch"] if max_epoch is None else np.full(len(configs), max_epoch)
        cx = self.space.batch_complexity(columns)
        constraints = self.space.batch_constraint_values(columns)
        results: list[QueryResult | None] = [None] * len(configs)
        rng = np.random.default_rng(seed)
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            group = {name: values[rows] for name, values in columns.items()}
            group_seed = int(rng.integers(2**31)) if noise else None
            prediction = self.surrogate.predict(
                group, max_epoch=int(length), noise=noise, seed=group_seed
            )
            for j, i in enumerate(rows):
                results[i] = QueryResult(
                    params=configs[i],
                    test_accuracy=prediction.test_accuracy[j],
                    train_energy_j=prediction.train_energy_j[j],
                    train_time_s=prediction.train_time_s[j],
                    test_energy_j=float(prediction.test_energy_j[j]),
                    test_time_s=float(prediction.test_time_s[j]),
                    complexity=cx.item(int(i)),
                    constraints={name: float(v[i]) for name, v in constraints.items()},
                )
        return [r for r in results if r is not None]
