"""Energy-aware pruners and search-energy budgets (installed as ``optuna_eahas.pruners``)."""

__all__: list[str] = []
