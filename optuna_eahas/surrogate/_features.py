from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from optuna_eahas.space import ARCHITECTURE_PARAMS
from optuna_eahas.space import SearchSpace

# log10 complexity features are centred and scaled by these fixed constants, so that features
# of a configuration never depend on which records a model was fitted on.
_LOG_CENTRE = {"flops": 8.0, "params": 6.0, "acts": 6.0}
ARCH_FEATURES = (*ARCHITECTURE_PARAMS, "log_flops", "log_params", "log_acts", "num_stages")


def surrogate_features(
    space: SearchSpace, columns: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, int]:
    """Model inputs: the paper's 26-dimensional encoding plus exact complexity features.

    Columns are the five min-max normalised architecture values, log10 FLOPs, parameters and
    activations, the number of stages, then the hyperparameter one-hots. Returns the float32
    matrix and the number of architecture columns (the BCS architecture encoder's input).
    """
    encoding = space.encode(columns)
    n_arch = len(ARCHITECTURE_PARAMS)
    cx = space.batch_complexity(columns)
    complexity = np.stack(
        [
            np.log10(cx.flops) - _LOG_CENTRE["flops"],
            np.log10(cx.params) - _LOG_CENTRE["params"],
            np.log10(cx.acts) - _LOG_CENTRE["acts"],
            cx.num_stages - 2.0,
        ],
        axis=1,
    ).astype(np.float32)
    features = np.concatenate([encoding[:, :n_arch], complexity, encoding[:, n_arch:]], axis=1)
    return features, n_arch + complexity.shape[1]
