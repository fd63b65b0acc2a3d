from __future__ import annotations

from importlib import resources
from pathlib import Path


def benchmark_dir(dataset: str) -> Path:
    """The directory of a default benchmark shipped in the package."""
    return Path(str(resources.files("optuna_eahas.data").joinpath(dataset)))
