"""Plotly figures of energy-aware searches, in the style of ``optuna.visualization``, and their
optuna-dashboard integration."""

from optuna_eahas.visualization._dashboard import save_dashboard_figures
from optuna_eahas.visualization._learning_curves import plot_learning_curves
from optuna_eahas.visualization._pareto_front_energy import plot_pareto_front_energy
from optuna_eahas.visualization._regret_summary import plot_regret_summary
from optuna_eahas.visualization._regret_vs_energy import plot_regret_vs_energy
from optuna_eahas.visualization._regret_vs_time import plot_regret_vs_time

__all__ = [
    "plot_learning_curves",
    "plot_pareto_front_energy",
    "plot_regret_summary",
    "plot_regret_vs_energy",
    "plot_regret_vs_time",
    "save_dashboard_figures",
]
