"""Plotly figures of energy-aware searches, in the style of ``optuna.visualization``."""

__all__: list[str] = []
