from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import optuna
from optuna.trial import TrialState
import plotly.graph_objects as go

from optuna_eahas import energy
from optuna_eahas.visualization._common import J_PER_KWH
from optuna_eahas.visualization._common import LEGEND_BELOW
from optuna_eahas.visualization._common import as_studies
from optuna_eahas.visualization._common import group_by_method
from optuna_eahas.visualization._common import method_colors


def plot_pareto_front_energy(study: optuna.Study | Sequence[optuna.Study]) -> go.Figure:
    """Plot final accuracy against total training energy of every completed configuration,
    coloured by method, with the Pareto front of all of them (the configurations no other one
    beats on both accuracy and energy: the trade-off EA-HAS-Bench analyses, Section 4).

    Pruned trials are left out: they have no final accuracy. Energy is the trial's recorded
    ``eahas:energy_j`` (the whole training run for a completed trial).

    Args:
        study: A study or studies that recorded energy; single-objective, maximising accuracy.

    Returns:
        A :class:`plotly.graph_objects.Figure`.
    """
    groups = group_by_method(as_studies(study))
    colors = method_colors(list(groups))
    figure = go.Figure()
    all_energy, all_accuracy = [], []
    for method, studies in groups.items():
        points = [
            (
                float(t.user_attrs[energy.ENERGY_J]),
                float(t.values[0]),
                f"{s.study_name} #{t.number}",
            )
            for s in studies
            for t in s.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if energy.ENERGY_J in t.user_attrs
        ]
        if not points:
            continue
        joules, accuracy, labels = (list(column) for column in zip(*points, strict=True))
        all_energy += joules
        all_accuracy += accuracy
        figure.add_trace(
            go.Scatter(
                x=np.array(joules) / J_PER_KWH,
                y=accuracy,
                text=labels,
                mode="markers",
                marker={"color": colors[method], "size": 5, "opacity": 0.5},
                name=f"{method} ({len(points)} configurations)",
                hovertemplate="%{text}<br>%{x:.3g} kWh<br>%{y:.2f}%<extra></extra>",
            )
        )
    if all_energy:
        front = _pareto_front(np.array(all_energy), np.array(all_accuracy))
        figure.add_trace(
            go.Scatter(
                x=np.array(all_energy)[front] / J_PER_KWH,
                y=np.array(all_accuracy)[front],
                mode="lines+markers",
                line={"shape": "hv", "color": "black"},
                marker={"size": 7, "color": "black"},
                name=f"Pareto front ({len(front)} configurations)",
                hovertemplate="%{x:.3g} kWh<br>%{y:.2f}%<extra>Pareto front</extra>",
            )
        )
    figure.update_layout(
        title="Final test accuracy vs training energy of every completed configuration",
        xaxis_title="training energy of the configuration (kWh, log scale)",
        yaxis_title="final test accuracy (%)",
        xaxis_type="log",
        template="plotly_white",
        legend=LEGEND_BELOW,
    )
    return figure


def _pareto_front(energy_j: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both (lower energy, higher accuracy), by
    increasing energy."""
    order = np.lexsort((-accuracy, energy_j))
    running_best = np.maximum.accumulate(accuracy[order])
    improves = np.r_[True, running_best[1:] > running_best[:-1]]
    return order[improves]
