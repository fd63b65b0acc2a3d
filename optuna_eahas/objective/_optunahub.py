from __future__ import annotations

import os
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import StudyDirection

from optuna_eahas import energy
from optuna_eahas.benchmark import Benchmark
from optuna_eahas.benchmark import QueryResult
from optuna_eahas.objective._objective import _suggest

try:
    from optunahub.benchmarks import BaseProblem as _ProblemBase
except ImportError:  # optunahub is optional: the problem works the same without it.
    _ProblemBase = object  # type: ignore[assignment,misc]

_J_PER_KWH = 3.6e6


class EAHASProblem(_ProblemBase):
    """EA-HAS-Bench as an `OptunaHub <https://hub.optuna.org>`__ benchmark problem.

    Implements ``optunahub.benchmarks.BaseProblem`` (and subclasses it when optunahub is
    installed): :attr:`search_space`, :attr:`directions`, :meth:`evaluate`,
    :meth:`evaluate_constraints`, and ``problem(trial)`` as an Optuna objective::

        problem = EAHASProblem("cifar10")
        study = optuna.create_study(directions=problem.directions)
        study.optimize(problem, n_trials=100)

    A black-box problem: it answers the final EMA test accuracy of the full training run
    and reports no learning curve, so pruners have nothing to act on; use
    :func:`~optuna_eahas.eahas_objective` for that. Called as an objective it also records
    the run's training energy under ``optuna_eahas.energy``, so
    :func:`~optuna_eahas.search_energy` works on the study.

    Args:
        dataset: ``"cifar10"`` or ``"tinyimagenet"``: loads the default benchmark.
        benchmark: A loaded :class:`~optuna_eahas.Benchmark` or the directory of an artifact
            written by ``eahas fit`` (overrides ``dataset``).
        multi_objective: Evaluate to ``(accuracy, training energy in kWh)`` with directions
            maximise and minimise, instead of the accuracy alone.
    """

    def __init__(
        self,
        dataset: str = "cifar10",
        *,
        benchmark: Benchmark | str | os.PathLike[str] | None = None,
        multi_objective: bool = False,
    ) -> None:
        if benchmark is None:
            benchmark = Benchmark.load(dataset)
        elif not isinstance(benchmark, Benchmark):
            benchmark = Benchmark.load(benchmark)
        self.benchmark = benchmark
        self.multi_objective = multi_objective

    def __repr__(self) -> str:
        return f"EAHASProblem({self.benchmark!r}, multi_objective={self.multi_objective})"

    @property
    def search_space(self) -> dict[str, BaseDistribution]:
        """Optuna distributions of the ten parameters of the joint space."""
        return self.benchmark.search_space

    @property
    def directions(self) -> list[StudyDirection]:
        """Maximise accuracy (and minimise training energy when multi-objective)."""
        if self.multi_objective:
            return [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE]
        return [StudyDirection.MAXIMIZE]

    def evaluate(self, params: dict[str, Any]) -> float | tuple[float, float]:
        """Final test accuracy in percent (and training energy in kWh) of ``params``."""
        return self._values(self.benchmark.query(params))

    def evaluate_constraints(self, params: dict[str, Any]) -> dict[str, float]:
        """The paper's complexity constraints by name, feasible when every value is <= 0.

        A dictionary, as optunahub 0.5 expects; empty for TinyImageNet, which has none.
        """
        return self.benchmark.space.constraint_values(self.benchmark.space.validate(params))

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        """Objective for ``study.optimize``: suggest, set constraints, record energy, evaluate."""
        params = {name: _suggest(trial, name, dist) for name, dist in self.search_space.items()}
        for name, value in self.evaluate_constraints(params).items():
            trial.set_constraint(name, value)
        result = self.benchmark.query(params)
        trial.set_user_attr(energy.BENCHMARK, self.benchmark.identity)
        energy.record(
            trial,
            result.total_train_energy_j,
            seconds=result.total_train_time_s,
            epochs=len(result.test_accuracy),
            estimated=True,
            source="surrogate",
        )
        return self._values(result)

    def _values(self, result: QueryResult) -> float | tuple[float, float]:
        if self.multi_objective:
            return result.final_accuracy, result.total_train_energy_j / _J_PER_KWH
        return result.final_accuracy
