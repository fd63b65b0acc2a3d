from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from optuna_eahas.space import ARCHITECTURE_PARAMS
from optuna_eahas.space import SearchSpace

# log10 complexity features are centred and scaled by these fixed constants, so that features
# of a configuration never depend on which records a model was fitted on.
_LOG_CENTRE = {"flops": 8.0, "params": 6.0, "acts": 6.0}
ARCH_FEATURES = (*ARCHITECTURE_PARAMS, "log_flops", "log_params", "log_acts", "num_stages")
_N_COMPLEXITY = len(ARCH_FEATURES) - len(ARCHITECTURE_PARAMS)


def surrogate_features(
    space: SearchSpace, columns: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, int]:
    """Model inputs: the paper's 26-dimensional encoding plus exact complexity features.

    Columns are the five min-max normalised architecture values, log10 FLOPs, parameters and
    activations, the number of stages, then the hyperparameter one-hots. Returns the float32
    matrix and the number of architecture columns (the BCS architecture encoder's input).
    The parts are written straight into one preallocated matrix: for a single configuration
    the per-call overhead of stacking and concatenating would cost more than the arithmetic.
    """
    encoding = space.encode(columns)
    n_arch = len(ARCHITECTURE_PARAMS)
    cx = space.batch_complexity(columns)
    features = np.empty((len(encoding), encoding.shape[1] + _N_COMPLEXITY), dtype=np.float32)
    features[:, :n_arch] = encoding[:, :n_arch]
    # Computed in float64 and rounded once to float32, as the model was fitted.
    features[:, n_arch] = np.log10(cx.flops) - _LOG_CENTRE["flops"]
    features[:, n_arch + 1] = np.log10(cx.params) - _LOG_CENTRE["params"]
    features[:, n_arch + 2] = np.log10(cx.acts) - _LOG_CENTRE["acts"]
    features[:, n_arch + 3] = cx.num_stages - 2.0
    features[:, n_arch + _N_COMPLEXITY :] = encoding[:, n_arch:]
    return features, n_arch + _N_COMPLEXITY
