"""Baseline learning-curve surrogates that EA-HAS-Bench's BCS is compared with.

Both models map a feature matrix ``X`` (one row per configuration) to a learning curve of the
configuration's length ``max_epoch`` through a few scalar targets, one LightGBM regressor per
target:

* :class:`SVDLightGBMCurveModel` (NAS-Bench-x11, Yan et al. NeurIPS 2021): the targets are the
  coefficients of the curve on its leading singular vectors.
* :class:`Pow3CurveModel` (the ``pow3`` curve of Domhan et al. IJCAI 2015): the targets are the
  parameters of ``y(e) = c - a * e ** (-alpha)`` fitted to each curve.

Neither model adds ``max_epoch`` to the features by itself: the curves of a configuration
trained for 50 and for 200 epochs differ (the learning-rate schedule spans ``max_epoch``), so
``X`` must encode it. EA-HAS-Bench's encoding does (it has the one-hot of ``max_epoch``); for
other features pass ``append_max_epoch=True`` and ``max_epoch`` becomes one more column.

LightGBM is run deterministically (``deterministic=True``, ``force_row_wise=True``, a fixed
``seed``): the same data and options give the same predictions.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
from numpy.typing import ArrayLike

__all__ = ["Pow3CurveModel", "SVDLightGBMCurveModel"]

# Exponents tried per curve by the pow3 fit. Below 1e-2, ``e ** (-alpha)`` is affine in
# ``log(e)`` to within the noise of a learning curve (smaller exponents give the same shape);
# above 10, the curve is a step after the first epoch.
_POW3_ALPHAS = np.geomspace(1e-2, 1e1, 301)


class SVDLightGBMCurveModel:
    """Learning curves from truncated-SVD coefficients regressed by LightGBM (NAS-Bench-x11).

    As in NAS-Bench-x11 (Yan et al. NeurIPS 2021), the training curves are centred, a truncated
    SVD gives ``n_components`` basis curves, and one LightGBM regressor per component predicts
    the curve's coefficient from the features. A prediction is the mean curve plus the
    predicted combination of basis curves, cut to the row's ``max_epoch``.

    The SVD needs curves of one length, so every training curve is padded to the longest
    ``max_epoch`` seen in :meth:`fit` (200 epochs in EA-HAS-Bench) with its last value, as if
    its accuracy stayed at the final value. Only the first ``max_epoch`` values of a
    prediction are returned, so the padding shapes the basis but never reaches an output.

    Args:
        n_components:
            Number of singular vectors kept (at most the number of rows and of epochs).
        n_estimators:
            Boosting rounds of each LightGBM regressor.
        num_leaves:
            Maximum number of leaves of a LightGBM tree.
        learning_rate:
            LightGBM's shrinkage rate.
        append_max_epoch:
            Append ``max_epoch`` to the features (see the module docstring).
        seed:
            LightGBM's seed.
        n_jobs:
            LightGBM's number of threads.
    """

    def __init__(
        self,
        *,
        n_components: int = 8,
        n_estimators: int = 500,
        num_leaves: int = 31,
        learning_rate: float = 0.05,
        append_max_epoch: bool = False,
        seed: int = 0,
        n_jobs: int = 2,
    ) -> None:
        if n_components < 1:
            raise ValueError(f"n_components must be positive, got {n_components}.")
        self._n_components = n_components
        self._n_estimators = n_estimators
        self._params = _lightgbm_params(num_leaves, learning_rate, seed, n_jobs)
        self._append_max_epoch = append_max_epoch
        self._boosters: list[lgb.Booster] | None = None
        self._mean = np.empty(0)
        self._basis = np.empty((0, 0))

    def fit(
        self, X: ArrayLike, curves: Sequence[ArrayLike], max_epochs: ArrayLike
    ) -> SVDLightGBMCurveModel:
        """Fit the model.

        Args:
            X:
                Features of shape ``(n, d)``.
            curves:
                ``n`` learning curves; curve ``i`` is a 1-D array of length ``max_epochs[i]``.
            max_epochs:
                ``max_epoch`` of each row, of shape ``(n,)``.

        Returns:
            The model itself.
        """
        features, epochs = _check_features(X, max_epochs, self._append_max_epoch)
        curve_list = _check_curves(curves, epochs)
        length = int(epochs.max())
        padded = np.stack([np.pad(c, (0, length - c.size), mode="edge") for c in curve_list])
        self._mean = padded.mean(axis=0)
        u, s, vt = np.linalg.svd(padded - self._mean, full_matrices=False)
        k = min(self._n_components, s.size)
        self._basis = vt[:k]
        self._boosters = _train(features, u[:, :k] * s[:k], self._params, self._n_estimators)
        return self

    def predict(self, X: ArrayLike, max_epochs: ArrayLike) -> list[np.ndarray]:
        """Predict learning curves.

        Args:
            X:
                Features of shape ``(n, d)``, encoded as in :meth:`fit`.
            max_epochs:
                ``max_epoch`` of each row, of shape ``(n,)``; at most the longest ``max_epoch``
                seen in :meth:`fit`.

        Returns:
            ``n`` predicted curves; curve ``i`` has length ``max_epochs[i]``.
        """
        if self._boosters is None:
            raise RuntimeError("The model is not fitted; call fit first.")
        features, epochs = _check_features(X, max_epochs, self._append_max_epoch)
        if epochs.size and epochs.max() > self._mean.size:
            raise ValueError(
                f"max_epoch {int(epochs.max())} exceeds the fitted length {self._mean.size}."
            )
        padded = self._mean + _predict(self._boosters, features) @ self._basis
        return [row[:e] for row, e in zip(padded, epochs, strict=True)]


class Pow3CurveModel:
    """Learning curves of the ``pow3`` family with parameters regressed by LightGBM.

    Each training curve is fitted with ``y(e) = c - a * e ** (-alpha)`` (``pow3`` of Domhan et
    al. IJCAI 2015) by least squares over the epochs ``e = 1 .. max_epoch``. For a fixed
    ``alpha`` the curve is linear in ``(c, a)``, which then have a closed form, so the fit
    evaluates every ``alpha`` of a fixed geometric grid (``1e-2 .. 10``) for all curves of a
    length at once and keeps the best. There is no iterative optimisation that could fail to
    converge: a flat curve gets ``a = 0``, and the grid bounds ``alpha`` so that ``c`` and
    ``a`` stay finite.

    ``c`` and ``a`` are badly scaled regression targets (for small ``alpha`` they grow large
    and cancel), so the regressed parameters are the fitted accuracies at the first and at the
    last epoch, ``y(1)`` and ``y(max_epoch)``, and ``log(alpha)``. A predicted curve is
    ``y(e) = y(1) + (y(E) - y(1)) * (1 - e ** (-alpha)) / (1 - E ** (-alpha))`` with
    ``E = max_epoch``, which is the ``pow3`` curve through those two values; a predicted
    ``alpha`` is clipped to the grid's range.

    Args:
        n_estimators:
            Boosting rounds of each LightGBM regressor.
        num_leaves:
            Maximum number of leaves of a LightGBM tree.
        learning_rate:
            LightGBM's shrinkage rate.
        append_max_epoch:
            Append ``max_epoch`` to the features (see the module docstring).
        seed:
            LightGBM's seed.
        n_jobs:
            LightGBM's number of threads.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 500,
        num_leaves: int = 31,
        learning_rate: float = 0.05,
        append_max_epoch: bool = False,
        seed: int = 0,
        n_jobs: int = 2,
    ) -> None:
        self._n_estimators = n_estimators
        self._params = _lightgbm_params(num_leaves, learning_rate, seed, n_jobs)
        self._append_max_epoch = append_max_epoch
        self._boosters: list[lgb.Booster] | None = None

    def fit(
        self, X: ArrayLike, curves: Sequence[ArrayLike], max_epochs: ArrayLike
    ) -> Pow3CurveModel:
        """Fit the model.

        Args:
            X:
                Features of shape ``(n, d)``.
            curves:
                ``n`` learning curves; curve ``i`` is a 1-D array of length ``max_epochs[i]``.
            max_epochs:
                ``max_epoch`` of each row, of shape ``(n,)``.

        Returns:
            The model itself.
        """
        features, epochs = _check_features(X, max_epochs, self._append_max_epoch)
        targets = _fit_pow3(_check_curves(curves, epochs))
        self._boosters = _train(features, targets, self._params, self._n_estimators)
        return self

    def predict(self, X: ArrayLike, max_epochs: ArrayLike) -> list[np.ndarray]:
        """Predict learning curves.

        Args:
            X:
                Features of shape ``(n, d)``, encoded as in :meth:`fit`.
            max_epochs:
                ``max_epoch`` of each row, of shape ``(n,)``.

        Returns:
            ``n`` predicted curves; curve ``i`` has length ``max_epochs[i]``.
        """
        if self._boosters is None:
            raise RuntimeError("The model is not fitted; call fit first.")
        features, epochs = _check_features(X, max_epochs, self._append_max_epoch)
        params = _predict(self._boosters, features)
        log_alphas = np.clip(params[:, 2], np.log(_POW3_ALPHAS[0]), np.log(_POW3_ALPHAS[-1]))
        return [
            _pow3_curve(first, last, float(np.exp(log_alpha)), int(e))
            for first, last, log_alpha, e in zip(
                params[:, 0], params[:, 1], log_alphas, epochs, strict=True
            )
        ]


def _fit_pow3(curves: Sequence[np.ndarray]) -> np.ndarray:
    """Least-squares ``pow3`` fits, as rows ``(y(1), y(E), log(alpha))`` (see Pow3CurveModel)."""
    params = np.empty((len(curves), 3))
    lengths = np.array([c.size for c in curves])
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        y = np.stack([curves[i] for i in rows.tolist()])
        z = np.arange(1, length + 1, dtype=np.float64) ** -_POW3_ALPHAS[:, None]
        z_mean = z.mean(axis=1)
        z_centred = z - z_mean[:, None]
        s_zz = np.sum(z_centred**2, axis=1)
        y_mean = y.mean(axis=1)
        s_zy = (y - y_mean[:, None]) @ z_centred.T
        # For each alpha, the least-squares slope in z is s_zy / s_zz and it lowers the squared
        # error by s_zy**2 / s_zz. A one-epoch curve has s_zz = 0 and gets slope 0.
        slopes = np.divide(s_zy, s_zz, out=np.zeros_like(s_zy), where=s_zz > 0)
        best = np.argmax(slopes * s_zy, axis=1)
        slope = slopes[np.arange(rows.size), best]
        params[rows, 0] = y_mean + slope * (1.0 - z_mean[best])
        params[rows, 1] = y_mean + slope * (z[best, -1] - z_mean[best])
        params[rows, 2] = np.log(_POW3_ALPHAS[best])
    return params


def _pow3_curve(first: float, last: float, alpha: float, length: int) -> np.ndarray:
    rise = 1.0 - np.arange(1, length + 1, dtype=np.float64) ** -alpha
    if rise[-1] == 0.0:  # A one-epoch curve.
        return np.array([last])
    return first + (last - first) * rise / rise[-1]


def _lightgbm_params(
    num_leaves: int, learning_rate: float, seed: int, n_jobs: int
) -> dict[str, object]:
    return {
        "objective": "regression",
        "num_leaves": num_leaves,
        "learning_rate": learning_rate,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": n_jobs,
        "verbose": -1,
    }


def _train(
    features: np.ndarray, targets: np.ndarray, params: dict[str, object], n_estimators: int
) -> list[lgb.Booster]:
    return [
        lgb.train(
            params,
            lgb.Dataset(features, label=targets[:, j], params={"verbose": -1}),
            num_boost_round=n_estimators,
        )
        for j in range(targets.shape[1])
    ]


def _predict(boosters: Sequence[lgb.Booster], features: np.ndarray) -> np.ndarray:
    return np.stack([b.predict(features) for b in boosters], axis=1)


def _check_features(
    X: ArrayLike, max_epochs: ArrayLike, append_max_epoch: bool
) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(X, dtype=np.float64)
    epochs = np.asarray(max_epochs)
    if features.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {features.shape}.")
    if epochs.shape != (features.shape[0],):
        raise ValueError(
            f"Expected max_epochs of shape ({features.shape[0]},), got {epochs.shape}."
        )
    if epochs.size and (np.any(epochs != np.round(epochs)) or epochs.min() < 1):
        raise ValueError("max_epochs must be positive integers.")
    epochs = epochs.astype(np.int64)
    if append_max_epoch:
        features = np.column_stack([features, epochs])
    return features, epochs


def _check_curves(curves: Sequence[ArrayLike], epochs: np.ndarray) -> list[np.ndarray]:
    curve_list = [np.asarray(c, dtype=np.float64) for c in curves]
    if len(curve_list) != epochs.size:
        raise ValueError(f"Got {len(curve_list)} curves for {epochs.size} rows.")
    if not curve_list:
        raise ValueError("Need at least one curve to fit.")
    for i, (curve, e) in enumerate(zip(curve_list, epochs, strict=True)):
        if curve.shape != (e,):
            raise ValueError(f"Curve {i} has shape {curve.shape}, expected ({e},) (max_epoch).")
        if not np.all(np.isfinite(curve)):
            raise ValueError(f"Curve {i} has non-finite values.")
    return curve_list
