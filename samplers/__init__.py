"""Energy-aware samplers (installed as ``optuna_eahas.samplers``)."""

__all__: list[str] = []
