from __future__ import annotations

from collections.abc import Sequence

import optuna
import plotly.graph_objects as go

from optuna_eahas.visualization._regret_vs_energy import _plot_regret


def plot_regret_vs_time(
    study: optuna.Study | Sequence[optuna.Study], *, optimum: float | None = None
) -> go.Figure:
    """Plot test regret against the training time spent, per method (median and interquartile
    band over seeds), as :func:`plot_regret_vs_energy` does against energy.

    Set beside the energy figure it shows that time is not energy: configurations that train
    in the same time can draw very different power (EA-HAS-Bench, Dou et al. 2023, argues for
    energy as the search cost for this reason). With the default benchmarks the times are
    simulated.

    Args:
        study: A study or studies that recorded ``eahas:time_s`` (``eahas_objective`` does).
        optimum: The benchmark's best accuracy (%); default: the one the studies stored.

    Returns:
        A :class:`plotly.graph_objects.Figure`.
    """
    return _plot_regret(study, axis="time", optimum=optimum)
