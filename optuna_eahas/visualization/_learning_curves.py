from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.trial import TrialState
import plotly.graph_objects as go

from optuna_eahas.visualization._common import LEGEND_BELOW
from optuna_eahas.visualization._common import as_studies
from optuna_eahas.visualization._common import group_by_method
from optuna_eahas.visualization._common import method_colors


def plot_learning_curves(
    study: optuna.Study | Sequence[optuna.Study], *, n_best: int = 1
) -> go.Figure:
    """Plot the learning curves (reported test accuracy per epoch) of each method's best
    configurations over all its seeds, as EA-HAS-Bench's surrogate answers them (Section 3).

    Args:
        study: A study or studies whose trials reported intermediate accuracies.
        n_best: Curves drawn per method: its best ``n_best`` completed trials.

    Returns:
        A :class:`plotly.graph_objects.Figure`.
    """
    if n_best < 1:
        raise ValueError(f"n_best must be at least 1, got {n_best}.")
    groups = group_by_method(as_studies(study))
    colors = method_colors(list(groups))
    figure = go.Figure()
    for method, studies in groups.items():
        finished = [
            (s, t)
            for s in studies
            for t in s.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.intermediate_values
        ]
        finished.sort(key=lambda pair: pair[1].values[0], reverse=True)
        for rank, (s, trial) in enumerate(finished[:n_best]):
            epochs = sorted(trial.intermediate_values)
            figure.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[trial.intermediate_values[e] for e in epochs],
                    mode="lines",
                    line={"color": colors[method], "dash": "solid" if rank == 0 else "dot"},
                    legendgroup=method,
                    name=f"{method}: {trial.value:.2f}% ({s.study_name} #{trial.number})",
                )
            )
    figure.update_layout(
        title=f"Learning curves of the best {n_best} configuration{'s' * (n_best > 1)} per method",
        xaxis_title="epoch",
        yaxis_title="test accuracy (%)",
        template="plotly_white",
        legend=LEGEND_BELOW,
    )
    return figure
