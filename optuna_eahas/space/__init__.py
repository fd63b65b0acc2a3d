"""EA-HAS-Bench's joint search space and the analytic complexity of its RegNets."""

from optuna_eahas.space._complexity import BatchComplexity
from optuna_eahas.space._complexity import RegNetComplexity
from optuna_eahas.space._complexity import batch_complexity
from optuna_eahas.space._complexity import regnet_complexity
from optuna_eahas.space._errors import InvalidParameterError
from optuna_eahas.space._settings import TrainingSettings
from optuna_eahas.space._space import ARCHITECTURE_PARAMS
from optuna_eahas.space._space import CONSTRAINT_NAMES
from optuna_eahas.space._space import DATASETS
from optuna_eahas.space._space import HYPERPARAMETER_PARAMS
from optuna_eahas.space._space import PARAM_NAMES
from optuna_eahas.space._space import PaperConstraints
from optuna_eahas.space._space import SearchSpace

__all__ = [
    "ARCHITECTURE_PARAMS",
    "BatchComplexity",
    "CONSTRAINT_NAMES",
    "DATASETS",
    "HYPERPARAMETER_PARAMS",
    "InvalidParameterError",
    "PARAM_NAMES",
    "PaperConstraints",
    "RegNetComplexity",
    "SearchSpace",
    "TrainingSettings",
    "batch_complexity",
    "regnet_complexity",
]
