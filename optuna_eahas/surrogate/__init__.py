"""EA-HAS-Bench's surrogate models (Dou et al. ICLR 2023, Section 4.2)."""

from optuna_eahas.surrogate._baselines import Pow3CurveModel
from optuna_eahas.surrogate._baselines import SVDLightGBMCurveModel
from optuna_eahas.surrogate._bezier import bezier_labels
from optuna_eahas.surrogate._bezier import control_points_from_labels
from optuna_eahas.surrogate._bezier import fit_bezier
from optuna_eahas.surrogate._bezier import fit_bezier_list
from optuna_eahas.surrogate._bezier import sample_bezier
from optuna_eahas.surrogate._metrics import curve_r2
from optuna_eahas.surrogate._metrics import final_kendall_tau
from optuna_eahas.surrogate._metrics import format_report_table
from optuna_eahas.surrogate._metrics import r2
from optuna_eahas.surrogate._metrics import validation_report
from optuna_eahas.surrogate._trees import TreeEnsemble

__all__ = [
    "Pow3CurveModel",
    "SVDLightGBMCurveModel",
    "TreeEnsemble",
    "bezier_labels",
    "control_points_from_labels",
    "curve_r2",
    "final_kendall_tau",
    "fit_bezier",
    "fit_bezier_list",
    "format_report_table",
    "r2",
    "sample_bezier",
    "validation_report",
]
