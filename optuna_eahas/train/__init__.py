"""Training EA-HAS-Bench configurations with PyTorch (needs the ``torch`` extra)."""

from optuna_eahas.train._collect import collect
from optuna_eahas.train._collect import run_record
from optuna_eahas.train._data import ImageDataset
from optuna_eahas.train._data import augment
from optuna_eahas.train._data import load_dataset
from optuna_eahas.train._data import normalize
from optuna_eahas.train._loop import EpochMetrics
from optuna_eahas.train._loop import train_run
from optuna_eahas.train._regnet import RegNet
from optuna_eahas.train._run import TrainingRun

__all__ = [
    "EpochMetrics",
    "ImageDataset",
    "RegNet",
    "TrainingRun",
    "augment",
    "collect",
    "load_dataset",
    "normalize",
    "run_record",
    "train_run",
]
