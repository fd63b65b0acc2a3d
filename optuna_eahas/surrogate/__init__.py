"""EA-HAS-Bench's surrogate models (Dou et al. ICLR 2023, Section 4.2)."""

from optuna_eahas.surrogate._bezier import bezier_labels
from optuna_eahas.surrogate._bezier import control_points_from_labels
from optuna_eahas.surrogate._bezier import fit_bezier
from optuna_eahas.surrogate._bezier import fit_bezier_list
from optuna_eahas.surrogate._bezier import sample_bezier
from optuna_eahas.surrogate._trees import TreeEnsemble

__all__ = [
    "TreeEnsemble",
    "bezier_labels",
    "control_points_from_labels",
    "fit_bezier",
    "fit_bezier_list",
    "sample_bezier",
]
