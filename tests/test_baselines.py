"""Validation metrics and the baseline learning-curve surrogates (SVD + LightGBM, pow3)."""

from __future__ import annotations

from collections.abc import Callable
import json
import math
from typing import Any

import numpy as np
import pytest

from optuna_eahas.surrogate import Pow3CurveModel
from optuna_eahas.surrogate import SVDLightGBMCurveModel
from optuna_eahas.surrogate import curve_r2
from optuna_eahas.surrogate import final_kendall_tau
from optuna_eahas.surrogate import format_report_table
from optuna_eahas.surrogate import r2
from optuna_eahas.surrogate import validation_report
from optuna_eahas.surrogate._baselines import _fit_pow3

_EPOCHS = (50, 100, 200)
# One thread: OpenMP threads that wait for each other are slow on a busy machine.
_FAST: dict[str, Any] = {"n_estimators": 100, "learning_rate": 0.1, "num_leaves": 15, "n_jobs": 1}


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Curves ``c(x) - a(x) * e ** (-alpha(x)) + noise`` of smooth ``c, a, alpha`` of 5 features,
    with X = the features and the one-hot of max_epoch (as in EA-HAS-Bench's encoding)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 5))
    max_epochs = rng.choice(_EPOCHS, size=n)
    c = 70.0 + 15.0 * np.sin(2.0 * x[:, 0]) + 8.0 * x[:, 1] * x[:, 2]
    a = 40.0 + 15.0 * x[:, 2] - 10.0 * x[:, 3] ** 2
    alpha = 0.3 + 0.6 * x[:, 4] + 0.2 * x[:, 0]
    curves = [
        c[i] - a[i] * np.arange(1, e + 1) ** -alpha[i] + rng.normal(scale=0.5, size=e)
        for i, e in enumerate(max_epochs)
    ]
    one_hot = (max_epochs[:, None] == np.array(_EPOCHS)).astype(np.float64)
    return np.column_stack([x, one_hot]).astype(np.float32), curves, max_epochs


def test_r2_values() -> None:
    assert r2([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0
    # SSE = 1, SST = 2.
    assert r2([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]) == pytest.approx(0.5)
    assert r2([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]) == pytest.approx(0.0)
    assert r2([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]) < 0.0
    assert math.isnan(r2([1.0, 1.0], [1.0, 2.0]))
    assert math.isnan(r2([], []))
    with pytest.raises(ValueError):
        r2([1.0, 2.0], [1.0])


def test_curve_r2_pools_curves_of_different_lengths() -> None:
    assert curve_r2([[1.0, 2.0], [3.0]], [[1.0, 2.0], [4.0]]) == pytest.approx(0.5)
    true = [np.linspace(10.0, 90.0, 50), np.linspace(20.0, 60.0, 100)]
    assert curve_r2(true, true) == 1.0
    mean = np.concatenate(true).mean()
    assert curve_r2(true, [np.full(c.size, mean) for c in true]) == pytest.approx(0.0)
    assert curve_r2(true, [np.full(c.size, 95.0) for c in true]) < 0.0
    assert curve_r2(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 2.0], [3.0, 3.0]])) == (
        pytest.approx(1.0 - 1.0 / 5.0)
    )
    with pytest.raises(ValueError):
        curve_r2([[1.0, 2.0]], [[1.0]])
    with pytest.raises(ValueError):
        curve_r2([[1.0, 2.0]], [])


def test_final_kendall_tau_values() -> None:
    assert final_kendall_tau([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]) == 1.0
    assert final_kendall_tau([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == -1.0
    # Two concordant pairs and one discordant pair.
    assert final_kendall_tau([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]) == pytest.approx(1.0 / 3.0)
    assert math.isnan(final_kendall_tau([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))
    assert math.isnan(final_kendall_tau([1.0], [1.0]))


def test_validation_report_groups_and_table() -> None:
    true = [np.array([1.0, 2.0]), np.array([3.0, 5.0]), np.array([1.0, 2.0, 3.0, 4.0])]
    predicted = [np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.array([1.0, 2.0, 3.0, 4.0])]
    report = validation_report(true, predicted, [2, 2, 4])
    assert list(report) == ["2", "4", "overall"]
    # Group "2": values 1, 2, 3, 5 (mean 2.75, SST 8.75), SSE 1.
    assert report["2"] == {
        "n": 2,
        "curve_r2": pytest.approx(1.0 - 1.0 / 8.75),
        "final_kendall_tau": 1.0,
    }
    assert report["4"] == {"n": 1, "curve_r2": 1.0, "final_kendall_tau": None}
    assert report["overall"]["n"] == 3
    # Final values 2, 5, 4 and 2, 4, 4: two concordant pairs and a tie in the predictions.
    assert report["overall"]["final_kendall_tau"] == pytest.approx(2.0 / math.sqrt(3.0 * 2.0))
    json.dumps(report, allow_nan=False)

    table = format_report_table({"bcs": report, "svd-lgb": report}, digits=3)
    lines = table.splitlines()
    assert lines[0].split() == ["model", "group", "n", "curve", "R²", "Kendall", "tau"]
    assert len(lines) == 2 + 6
    assert lines[3].split() == ["bcs", "4", "1", "1.000", "-"]
    assert len({len(line) for line in lines[1:]}) == 1
    with pytest.raises(ValueError):
        validation_report(true, predicted, [2, 2])


def test_fit_pow3_recovers_parameters() -> None:
    epochs = np.arange(1, 101, dtype=np.float64)
    curves = [
        80.0 - 50.0 * epochs**-0.5,
        60.0 - 10.0 * epochs[:50] ** -2.0,
        np.full(20, 42.0),
        np.array([7.0]),
    ]
    params = _fit_pow3(curves)
    np.testing.assert_allclose(params[0], [30.0, 75.0, np.log(0.5)], atol=0.05)
    np.testing.assert_allclose(params[1], [50.0, 60.0 - 10.0 / 2500.0, np.log(2.0)], atol=0.05)
    np.testing.assert_allclose(params[2, :2], [42.0, 42.0])
    np.testing.assert_allclose(params[3, :2], [7.0, 7.0])


@pytest.mark.parametrize(
    "model_factory",
    [
        lambda seed: SVDLightGBMCurveModel(n_components=6, seed=seed, **_FAST),
        lambda seed: Pow3CurveModel(seed=seed, **_FAST),
    ],
    ids=["svd-lightgbm", "pow3"],
)
def test_baseline_fits_held_out_curves(
    model_factory: Callable[[int], SVDLightGBMCurveModel | Pow3CurveModel],
) -> None:
    X, curves, max_epochs = _synthetic(300, seed=0)
    X_test, curves_test, max_epochs_test = _synthetic(100, seed=1)

    model = model_factory(0).fit(X, curves, max_epochs)
    predicted = model.predict(X_test, max_epochs_test)
    assert [c.size for c in predicted] == list(max_epochs_test)
    report = validation_report(curves_test, predicted, max_epochs_test)
    overall = report["overall"]
    assert isinstance(overall["curve_r2"], float) and overall["curve_r2"] > 0.9
    assert isinstance(overall["final_kendall_tau"], float) and overall["final_kendall_tau"] > 0.7

    again = model_factory(0).fit(X, curves, max_epochs).predict(X_test, max_epochs_test)
    for c, d in zip(predicted, again, strict=True):
        np.testing.assert_array_equal(c, d)


def test_baselines_append_max_epoch() -> None:
    X, curves, max_epochs = _synthetic(60, seed=2)
    features = X[:, :5]
    for model in (
        SVDLightGBMCurveModel(append_max_epoch=True, n_estimators=5, n_jobs=1),
        Pow3CurveModel(append_max_epoch=True, n_estimators=5, n_jobs=1),
    ):
        predicted = model.fit(features, curves, max_epochs).predict(features[:3], [200, 50, 7])
        assert [c.size for c in predicted] == [200, 50, 7]
        assert all(np.all(np.isfinite(c)) for c in predicted)


def test_baselines_reject_bad_input() -> None:
    X, curves, max_epochs = _synthetic(30, seed=3)
    model = SVDLightGBMCurveModel(n_estimators=5, n_jobs=1)
    with pytest.raises(RuntimeError):
        model.predict(X, max_epochs)
    with pytest.raises(ValueError):
        model.fit(X, [curves[0][:-1], *curves[1:]], max_epochs)
    with pytest.raises(ValueError):
        model.fit(X, [*curves[:-1], np.full(max_epochs[-1], np.nan)], max_epochs)
    model.fit(X, curves, max_epochs)
    with pytest.raises(ValueError):
        model.predict(X[:1], [int(max_epochs.max()) + 1])
