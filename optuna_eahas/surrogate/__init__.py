"""EA-HAS-Bench's surrogate models (Dou et al. ICLR 2023, Section 4).

Inference is NumPy only; fitting imports torch (the ``torch`` extra) and LightGBM lazily.
"""

from optuna_eahas.surrogate._artifact import Artifact
from optuna_eahas.surrogate._artifact import ArtifactError
from optuna_eahas.surrogate._artifact import ArtifactWriter
from optuna_eahas.surrogate._baselines import Pow3CurveModel
from optuna_eahas.surrogate._baselines import SVDLightGBMCurveModel
from optuna_eahas.surrogate._bcs_numpy import BCSEnsemble
from optuna_eahas.surrogate._bezier import bezier_labels
from optuna_eahas.surrogate._bezier import control_points_from_labels
from optuna_eahas.surrogate._bezier import fit_bezier
from optuna_eahas.surrogate._bezier import fit_bezier_list
from optuna_eahas.surrogate._bezier import sample_bezier
from optuna_eahas.surrogate._data_card import surrogate_data_card
from optuna_eahas.surrogate._energy_models import EnergyTimeModel
from optuna_eahas.surrogate._features import surrogate_features
from optuna_eahas.surrogate._fit import FittedSurrogate
from optuna_eahas.surrogate._fit import fit_surrogate
from optuna_eahas.surrogate._metrics import curve_r2
from optuna_eahas.surrogate._metrics import final_kendall_tau
from optuna_eahas.surrogate._metrics import format_report_table
from optuna_eahas.surrogate._metrics import r2
from optuna_eahas.surrogate._metrics import validation_report
from optuna_eahas.surrogate._surrogate import NoiseModel
from optuna_eahas.surrogate._surrogate import Surrogate
from optuna_eahas.surrogate._surrogate import SurrogatePrediction
from optuna_eahas.surrogate._trees import TreeEnsemble

__all__ = [
    "Artifact",
    "ArtifactError",
    "ArtifactWriter",
    "BCSEnsemble",
    "EnergyTimeModel",
    "FittedSurrogate",
    "NoiseModel",
    "Pow3CurveModel",
    "SVDLightGBMCurveModel",
    "Surrogate",
    "SurrogatePrediction",
    "TreeEnsemble",
    "bezier_labels",
    "control_points_from_labels",
    "curve_r2",
    "final_kendall_tau",
    "fit_bezier",
    "fit_bezier_list",
    "fit_surrogate",
    "format_report_table",
    "r2",
    "sample_bezier",
    "surrogate_data_card",
    "surrogate_features",
    "validation_report",
]
