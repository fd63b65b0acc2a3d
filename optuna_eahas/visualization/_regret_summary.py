from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import optuna
from optuna.trial import TrialState
import plotly.graph_objects as go

from optuna_eahas.visualization._common import J_PER_KWH
from optuna_eahas.visualization._common import SearchTrace
from optuna_eahas.visualization._common import as_studies
from optuna_eahas.visualization._common import best_at
from optuna_eahas.visualization._common import budget_j
from optuna_eahas.visualization._common import group_by_method
from optuna_eahas.visualization._common import resolve_optimum
from optuna_eahas.visualization._common import search_trace


def plot_regret_summary(
    study: optuna.Study | Sequence[optuna.Study],
    *,
    optimum: float | None = None,
    regret_levels: Sequence[float] = (1.0, 0.3, 0.1),
) -> go.Figure:
    """A table per method: test regret at the search-energy budget (median and interquartile
    range over seeds) and the search energy each method needed to reach given regrets
    (EA-HAS-Bench, Section 5, reads its figures this way).

    Regret at the budget is the best accuracy among trials that ended within it. When the
    studies stored no budget, the point of comparison is the least energy any study spent.
    The energy to reach a regret is the median over seeds, counting a seed that never reached
    it as infinite: "not reached" when most seeds did not.

    Args:
        study: A study or studies (seeds of methods, grouped by the ``eahas:method`` attribute).
        optimum: The benchmark's best accuracy (%); default: the one the studies stored.
        regret_levels: Regrets (accuracy points) whose energy to reach is tabulated.

    Returns:
        A :class:`plotly.graph_objects.Figure` holding a ``go.Table``.
    """
    if any(not level > 0 for level in regret_levels):
        raise ValueError(f"regret_levels must be positive, got {list(regret_levels)}.")
    studies = as_studies(study)
    optimum = resolve_optimum(studies, optimum)
    groups = group_by_method(studies)
    traces = {method: [search_trace(s) for s in group] for method, group in groups.items()}
    budget = budget_j(studies)
    at_j = budget if budget is not None else min(_total(t) for g in traces.values() for t in g)
    at_kwh = f"{at_j / J_PER_KWH:.3g} kWh"
    header = [
        "method",
        "seeds",
        "trials (complete / pruned)",
        "search energy spent (kWh, median)",
        f"regret at {'the budget, ' if budget is not None else ''}{at_kwh} "
        "(median [IQR], accuracy points)",
        *(f"kWh to regret <= {level:g} (median; seeds reaching it)" for level in regret_levels),
    ]
    rows = []
    for method, group in traces.items():
        states = [t.state for s in groups[method] for t in s.get_trials(deepcopy=False)]
        regret = np.maximum(
            optimum
            - np.array([best_at(t, "energy", np.array([at_j]), hold=True)[0] for t in group]),
            0.0,
        )
        short = sum(_total(t) < at_j for t in group)
        rows.append(
            [
                method,
                str(len(group)),
                f"{states.count(TrialState.COMPLETE)} / {states.count(TrialState.PRUNED)}",
                f"{np.median([_total(t) for t in group]) / J_PER_KWH:.3g}",
                _quartiles(regret) + (f" ({short} short of it)" if short else ""),
                *(_energy_to_reach(group, optimum, level) for level in regret_levels),
            ]
        )
    figure = go.Figure(
        go.Table(
            header={"values": header, "align": "left"},
            cells={
                "values": [list(column) for column in zip(*rows, strict=True)],
                "align": "left",
            },
        )
    )
    figure.update_layout(title=f"Summary (test regret from the optimum {optimum:.2f}%)")
    return figure


def _total(trace: SearchTrace) -> float:
    return float(trace.energy_j[-1]) if trace.n_trials else 0.0


def _quartiles(values: np.ndarray) -> str:
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return "no completed trial"
    low, median, high = np.percentile(values, [25, 50, 75])
    return f"{median:.3g} [{low:.3g}, {high:.3g}]"


def _energy_to_reach(traces: Sequence[SearchTrace], optimum: float, level: float) -> str:
    needed = []
    for trace in traces:
        reached = np.flatnonzero(optimum - trace.best <= level)
        needed.append(trace.energy_j[reached[0]] if len(reached) else np.inf)
    median = float(np.median(needed))
    count = f"{int(np.isfinite(needed).sum())}/{len(traces)}"
    if not np.isfinite(median):
        return f"not reached ({count})"
    return f"{median / J_PER_KWH:.3g} ({count})"
