from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import optuna
import plotly.graph_objects as go

from optuna_eahas.visualization._common import J_PER_KWH
from optuna_eahas.visualization._common import LEGEND_BELOW
from optuna_eahas.visualization._common import REGRET_FLOOR
from optuna_eahas.visualization._common import S_PER_HOUR
from optuna_eahas.visualization._common import Axis
from optuna_eahas.visualization._common import as_studies
from optuna_eahas.visualization._common import budget_j
from optuna_eahas.visualization._common import common_grid
from optuna_eahas.visualization._common import group_by_method
from optuna_eahas.visualization._common import method_colors
from optuna_eahas.visualization._common import regret_quantiles
from optuna_eahas.visualization._common import resolve_optimum
from optuna_eahas.visualization._common import search_trace
from optuna_eahas.visualization._common import translucent

_X_TITLES = {
    "energy": "search energy (kWh, cumulative training energy of all trials)",
    "time": "search time (h, cumulative training time of all trials)",
}
_X_SCALES = {"energy": J_PER_KWH, "time": S_PER_HOUR}
_X_UNITS = {"energy": "kWh", "time": "h"}


def plot_regret_vs_energy(
    study: optuna.Study | Sequence[optuna.Study], *, optimum: float | None = None
) -> go.Figure:
    """Plot test regret against the search energy spent, per method: the median and the
    interquartile band over seeds (EA-HAS-Bench, Section 5, Figures 5 and 6).

    Each study is one seed of a method (the ``eahas:method`` study attribute that
    ``eahas compare`` writes; else the study's name). A study's best accuracy so far is a step
    function of the cumulative training energy of all its trials, pruned ones included; the
    seeds are compared on a common energy grid, and a method's curve ends where its shortest
    seed ends. Regret is drawn on a log scale, with zero (and anything below 0.001 accuracy
    points) drawn at 0.001.

    Args:
        study: A study or studies that ``eahas_objective`` (or ``energy.record``) recorded
            energy into; single-objective, maximising accuracy (%).
        optimum: The benchmark's best accuracy (%) regret is measured from (see
            ``optuna_eahas.benchmark.estimate_optimum``); default: the one the studies stored.

    Returns:
        A :class:`plotly.graph_objects.Figure`.
    """
    return _plot_regret(study, axis="energy", optimum=optimum)


def _plot_regret(
    study: optuna.Study | Sequence[optuna.Study], *, axis: Axis, optimum: float | None
) -> go.Figure:
    studies = as_studies(study)
    optimum = resolve_optimum(studies, optimum)
    groups = group_by_method(studies)
    traces = {method: [search_trace(s) for s in group] for method, group in groups.items()}
    grid = common_grid([t for group in traces.values() for t in group], axis)
    # Rounded (5 decimals of kWh or h, 6 significant digits of regret) to keep figures small.
    x = np.round(grid / _X_SCALES[axis], 5)
    colors = method_colors(list(groups))
    figure = go.Figure()
    for method, group in traces.items():
        quantiles = np.maximum(regret_quantiles(group, optimum, axis, grid), REGRET_FLOOR)
        low, median, high = (np.array([float(f"{v:.6g}") for v in q]) for q in quantiles)
        color = colors[method]
        common = {"x": x, "mode": "lines", "line_shape": "hv", "legendgroup": method}
        figure.add_trace(
            go.Scatter(
                y=high,
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
                name=method,
                **common,
            )
        )
        figure.add_trace(
            go.Scatter(
                y=low,
                line={"width": 0},
                fill="tonexty",
                fillcolor=translucent(color),
                showlegend=False,
                hoverinfo="skip",
                name=method,
                **common,
            )
        )
        figure.add_trace(
            go.Scatter(
                y=median,
                line={"color": color, "width": 2},
                name=f"{method} (median of {len(group)} seed{'s' * (len(group) > 1)})",
                hovertemplate=(
                    f"{method}<br>%{{x:.3g}} {_X_UNITS[axis]}<br>median regret %{{y:.3g}}"
                    "<extra></extra>"
                ),
                **common,
            )
        )
    budget = budget_j(studies)
    if axis == "energy" and budget is not None:
        figure.add_vline(
            x=budget / J_PER_KWH,
            line={"dash": "dot", "color": "grey"},
            annotation_text=f"budget {budget / J_PER_KWH:.3g} kWh",
        )
    figure.update_layout(
        title=(
            f"Test regret vs search {'energy' if axis == 'energy' else 'time'} "
            "(median and interquartile range over seeds)"
        ),
        xaxis_title=_X_TITLES[axis],
        yaxis_title=f"test regret (% points, log; 0 drawn at {REGRET_FLOOR:g})",
        yaxis_type="log",
        legend_title_text=f"method (optimum {optimum:.2f}%)",
        template="plotly_white",
        legend=LEGEND_BELOW,
    )
    return figure
