"""What the figures share: grouping studies by method, best-so-far traces against search energy
and time, and their quantiles over seeds on a common grid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import optuna
from optuna.study import StudyDirection
from plotly.colors import qualitative

from optuna_eahas import energy
from optuna_eahas.objective import SearchEnergyLedger
from optuna_eahas.visualization import _study_attrs

J_PER_KWH = 3.6e6
S_PER_HOUR = 3600.0
REGRET_FLOOR = 1e-3
"""Regrets below this (in accuracy points; zero included) are drawn at it on log axes."""
GRID_POINTS = 256
"""Points of the common x grid on which the seeds' best-so-far curves are compared."""

Axis = Literal["energy", "time"]

LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0.0}
"""Legends go under the plot, so that narrow panels (optuna-dashboard's) keep the plot wide."""


def as_studies(study: optuna.Study | Sequence[optuna.Study]) -> list[optuna.Study]:
    studies = [study] if isinstance(study, optuna.Study) else list(study)
    if not studies:
        raise ValueError("No study given: pass a study or a non-empty sequence of studies.")
    for s in studies:
        if s.directions != [StudyDirection.MAXIMIZE]:
            raise ValueError(
                f"Study {s.study_name!r} is not a single-objective maximisation of accuracy; "
                "regret, Pareto and learning-curve figures need one."
            )
    return studies


def method_of(study: optuna.Study) -> str:
    """The method that ran a study (stored by ``eahas compare``), else the study's name."""
    return str(study.user_attrs.get(_study_attrs.METHOD, study.study_name))


def group_by_method(studies: Sequence[optuna.Study]) -> dict[str, list[optuna.Study]]:
    """Studies by method, in the order methods first appear (each study is one seed)."""
    groups: dict[str, list[optuna.Study]] = {}
    for study in studies:
        groups.setdefault(method_of(study), []).append(study)
    return groups


def method_colors(methods: Sequence[str]) -> dict[str, str]:
    palette = qualitative.Plotly
    return {method: palette[i % len(palette)] for i, method in enumerate(methods)}


def translucent(color: str, alpha: float = 0.2) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def resolve_optimum(studies: Sequence[optuna.Study], optimum: float | None) -> float:
    """``optimum`` if given, else the one optimum the studies stored (``eahas compare``)."""
    if optimum is not None:
        return float(optimum)
    stored = {
        float(s.user_attrs[_study_attrs.OPTIMUM_ACCURACY])
        for s in studies
        if _study_attrs.OPTIMUM_ACCURACY in s.user_attrs
    }
    if len(stored) == 1:
        return stored.pop()
    if not stored:
        raise ValueError(
            "Test regret needs the benchmark's optimum: pass optimum= (the accuracy in %, e.g. "
            "optuna_eahas.benchmark.estimate_optimum(benchmark).accuracy); studies run by "
            "'eahas compare' store it."
        )
    raise ValueError(
        f"The studies store different optima ({sorted(stored)}): they ran on different "
        "benchmarks. Plot one benchmark at a time or pass optimum=."
    )


def budget_j(studies: Sequence[optuna.Study]) -> float | None:
    """The smallest search-energy budget the studies stored, or None if none stored one."""
    budgets = [s.user_attrs.get(_study_attrs.BUDGET_J) for s in studies]
    known = [float(b) for b in budgets if b is not None]
    return min(known) if known else None


@dataclass(frozen=True)
class SearchTrace:
    """A study's best accuracy so far after each trial, in the order trials started, against
    the cumulative search energy (J) and training time (s) its trials had spent by then.

    Every trial counts towards the energy and time, pruned and failed ones included
    (:class:`~optuna_eahas.SearchEnergyLedger`); ``best`` is NaN until a trial completes.
    """

    energy_j: np.ndarray
    time_s: np.ndarray
    best: np.ndarray

    def x(self, axis: Axis) -> np.ndarray:
        return self.energy_j if axis == "energy" else self.time_s

    @property
    def n_trials(self) -> int:
        return len(self.best)


def search_trace(study: optuna.Study) -> SearchTrace:
    entries = SearchEnergyLedger(study).entries
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    times = [float(trials[e.number].user_attrs.get(energy.TIME_S, 0.0)) for e in entries]
    return SearchTrace(
        energy_j=np.array([e.cumulative_energy_j for e in entries], dtype=float),
        time_s=np.cumsum(times, dtype=float),
        best=np.array([np.nan if e.best_value is None else e.best_value for e in entries]),
    )


def best_at(trace: SearchTrace, axis: Axis, grid: np.ndarray, *, hold: bool) -> np.ndarray:
    """Best-so-far at each grid point (step interpolation): the best after the last trial that
    ended at or before it. NaN before the study's first trial ended; after its last, NaN too
    unless ``hold`` keeps the final best."""
    x = trace.x(axis)
    if len(x) == 0:
        return np.full(len(grid), np.nan)
    index = np.searchsorted(x, grid, side="right") - 1
    values = np.where(index >= 0, trace.best[np.maximum(index, 0)], np.nan)
    if not hold:
        values[grid > x[-1]] = np.nan
    return values


def regret_quantiles(
    traces: Sequence[SearchTrace], optimum: float, axis: Axis, grid: np.ndarray
) -> np.ndarray:
    """The 25th, 50th and 75th percentiles of test regret over the traces (seeds) at each grid
    point, shape (3, len(grid)); NaN where a seed has no completed trial yet or has ended."""
    best = np.array([best_at(t, axis, grid, hold=False) for t in traces])
    regret = np.maximum(optimum - best, 0.0)
    quantiles = np.full((3, len(grid)), np.nan)
    defined = ~np.isnan(regret).any(axis=0)
    if defined.any():
        quantiles[:, defined] = np.percentile(regret[:, defined], [25, 50, 75], axis=0)
    return quantiles


def common_grid(traces: Sequence[SearchTrace], axis: Axis) -> np.ndarray:
    """Evenly spaced points from zero to the furthest any trace went."""
    end = max((float(t.x(axis)[-1]) for t in traces if t.n_trials), default=0.0)
    return np.linspace(0.0, end, GRID_POINTS)
