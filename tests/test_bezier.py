from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from optuna_eahas.surrogate import _bezier
from optuna_eahas.surrogate import bezier_labels
from optuna_eahas.surrogate import control_points_from_labels
from optuna_eahas.surrogate import fit_bezier
from optuna_eahas.surrogate import fit_bezier_list
from optuna_eahas.surrogate import sample_bezier
from optuna_eahas.surrogate._bezier import _eval
from optuna_eahas.surrogate._bezier import _initial_parameters
from optuna_eahas.surrogate._bezier import _power
from optuna_eahas.surrogate._bezier import _project_monotone
from optuna_eahas.surrogate._bezier import _solve_x

# Learning-curve shapes as labels [y_start, y_end, x1/E, y1, x2/E, y2, x3/E, y3]: fast rise,
# slow rise, S-shape, rise then decline, late jump (learning-rate decay), moderate rise.
SHAPES = np.array(
    [
        [20.0, 88.0, 0.12, 60.0, 0.2, 75.0, 0.4, 85.0],
        [10.0, 80.0, 0.3, 30.0, 0.5, 50.0, 0.75, 70.0],
        [10.0, 88.0, 0.3, 12.0, 0.4, 60.0, 0.6, 85.0],
        [25.0, 72.0, 0.1, 65.0, 0.4, 90.0, 0.7, 70.0],
        [20.0, 93.0, 0.2, 70.0, 0.7, 70.0, 0.9, 75.0],
        [15.0, 91.0, 0.15, 55.0, 0.35, 80.0, 0.6, 86.0],
    ]
)


def _learning_curves(rng: np.random.Generator, n: int, n_epochs: int) -> np.ndarray:
    """Noise-free ``a - b * exp(-e / tau)`` accuracies of ``n`` runs."""
    epochs = np.arange(1, n_epochs + 1)
    final = rng.uniform(60.0, 95.0, (n, 1))
    gain = rng.uniform(30.0, 55.0, (n, 1))
    tau = rng.uniform(0.05, 0.3, (n, 1)) * n_epochs
    return final - gain * np.exp(-epochs / tau)


def _random_labels(rng: np.random.Generator, n: int) -> np.ndarray:
    """Rising learning-curve labels with interior x at least a tenth of the length apart."""
    x = np.sort(rng.uniform(0.05, 0.95, (4 * n, 3)), axis=1)
    x = x[np.diff(x, axis=1).min(axis=1) >= 0.1][:n]
    y = np.sort(rng.uniform(10.0, 95.0, (n, 5)), axis=1)
    labels = np.empty((n, 8))
    labels[:, 0], labels[:, 1] = y[:, 0], y[:, 4]
    labels[:, 2::2], labels[:, 3::2] = x, y[:, 1:4]
    return labels


def _r2(fitted: np.ndarray, data: np.ndarray) -> np.ndarray:
    residual = np.sum((fitted - data) ** 2, axis=-1)
    total = np.sum((data - data.mean(axis=-1, keepdims=True)) ** 2, axis=-1)
    return 1.0 - residual / total


@pytest.mark.parametrize("n_epochs", [10, 20, 50, 100, 200])
def test_fit_recovers_known_curves(n_epochs: int) -> None:
    truth = sample_bezier(SHAPES, n_epochs)
    control = fit_bezier(truth, n_corrections=100)
    assert np.abs(sample_bezier(control, n_epochs) - truth).max() < 1e-3
    np.testing.assert_allclose(bezier_labels(control, n_epochs), SHAPES, atol=1e-4)


@pytest.mark.parametrize("n_epochs", [10, 50, 200])
def test_fit_recovers_random_curves(n_epochs: int) -> None:
    labels = _random_labels(np.random.default_rng(n_epochs), 100)
    truth = sample_bezier(labels, n_epochs)
    error = np.abs(sample_bezier(fit_bezier(truth, n_corrections=100), n_epochs) - truth)
    # A few curves have near-degenerate control points, along which the fit creeps slowly.
    assert np.mean(error.max(axis=1) < 1e-3) >= 0.9
    default_error = np.abs(sample_bezier(fit_bezier(truth), n_epochs) - truth).max(axis=1)
    assert np.median(default_error) < 1e-6


@pytest.mark.parametrize("n_epochs", [50, 100, 200])
def test_fit_noisy_learning_curves(n_epochs: int) -> None:
    rng = np.random.default_rng(n_epochs)
    paper = 90.0 - 80.0 * np.exp(-np.arange(1, n_epochs + 1) / 15.0)
    noisy = paper + rng.normal(0.0, 1.0, (100, n_epochs))
    assert _r2(sample_bezier(fit_bezier(noisy), n_epochs), noisy).min() > 0.98

    clean = _learning_curves(rng, 100, n_epochs)
    noisy = clean + rng.normal(0.0, 1.0, clean.shape)
    fitted = sample_bezier(fit_bezier(noisy), n_epochs)
    # Flat curves cannot reach R^2 = 0.98 under unit noise; the fit is as good as the truth.
    assert np.all(_r2(fitted, noisy) > _r2(clean, noisy) - 0.01)
    assert np.sqrt(np.mean((fitted - clean) ** 2)) < 0.5


def test_parameter_correction_lowers_error() -> None:
    rng = np.random.default_rng(0)
    clean = _learning_curves(rng, 200, 100)
    noisy = clean + rng.normal(0.0, 1.0, clean.shape)
    chord = sample_bezier(fit_bezier(noisy, n_corrections=0), 100)
    corrected = sample_bezier(fit_bezier(noisy), 100)

    def rmse(fitted: np.ndarray, target: np.ndarray) -> np.ndarray:
        return np.sqrt(np.mean((fitted - target) ** 2, axis=-1))

    assert np.all(rmse(corrected, noisy) <= rmse(chord, noisy) + 1e-9)
    assert rmse(corrected, noisy).mean() < rmse(chord, noisy).mean() - 0.1
    assert rmse(corrected, clean).mean() < 0.6 * rmse(chord, clean).mean()


def test_fit_output_is_monotone_with_fixed_ends() -> None:
    rng = np.random.default_rng(1)
    curves = rng.uniform(0.0, 100.0, (50, 30))
    control = fit_bezier(curves)
    np.testing.assert_array_equal(control[:, 0], np.stack([np.ones(50), curves[:, 0]], 1))
    np.testing.assert_array_equal(control[:, 4], np.stack([np.full(50, 30.0), curves[:, -1]], 1))
    assert np.all(np.diff(control[..., 0], axis=1) >= 0)


@pytest.mark.parametrize("n_epochs", [1, 2, 3, 4])
def test_fit_short_curves(n_epochs: int) -> None:
    curve = 90.0 - 80.0 * np.exp(-np.arange(1, n_epochs + 1) / 3.0)
    control = fit_bezier(curve)
    assert control.shape == (5, 2)
    np.testing.assert_allclose(sample_bezier(control, n_epochs), curve, atol=1e-6)


@pytest.mark.parametrize("length", [1, 7, 50, 100, 200, 500])
def test_sample_lengths(length: int) -> None:
    labels = np.vstack([SHAPES, _random_labels(np.random.default_rng(2), 20)])
    samples = sample_bezier(labels, length)
    assert samples.shape == (len(labels), length)
    assert np.isfinite(samples).all()
    # Epoch L is y_end; for L = 1 the only epoch is both start and end and gives y_end.
    np.testing.assert_array_equal(samples[:, -1], labels[:, 1])
    if length > 1:
        np.testing.assert_array_equal(samples[:, 0], labels[:, 0])


@pytest.mark.parametrize("length", [2, 7, 50, 500])
def test_solve_x_is_exact_and_monotone(length: int) -> None:
    labels = _random_labels(np.random.default_rng(3), 20)
    labels[:5, 2::2] = [[0.8, 0.2, 0.5], [-0.3, 0.4, 1.7], [0.0, 0.0, 0.0], [1, 1, 1], [0, 0, 1]]
    control = _project_monotone(control_points_from_labels(labels, length))
    x = control[..., 0] / length
    targets = np.broadcast_to(np.arange(1, length + 1) / length, (len(labels), length))
    t = _solve_x(_power(x), targets, _initial_parameters(_power(x), targets))
    assert np.abs(_eval(_power(control[..., 0]), t)[0] - np.arange(1, length + 1)).max() < 1e-6
    assert np.all(np.diff(t, axis=1) > 0)
    assert np.all((t >= 0) & (t <= 1))


def test_sample_projects_non_monotone_x() -> None:
    labels = np.array([[20.0, 80.0, 0.8, 60.0, 0.2, 70.0, 0.5, 75.0]])
    projected = np.array([[20.0, 80.0, 0.5, 60.0, 0.5, 70.0, 0.5, 75.0]])
    np.testing.assert_allclose(sample_bezier(labels, 40), sample_bezier(projected, 40))
    outside = np.array([[20.0, 80.0, -0.5, 60.0, 0.5, 70.0, 1.5, 75.0]])
    clipped = np.array([[20.0, 80.0, 1.0 / 40, 60.0, 0.5, 70.0, 1.0, 75.0]])
    np.testing.assert_allclose(sample_bezier(outside, 40), sample_bezier(clipped, 40))


def test_sample_stretches_labels() -> None:
    control = fit_bezier(_learning_curves(np.random.default_rng(4), 10, 50))
    labels = bezier_labels(control, 50)
    np.testing.assert_array_equal(sample_bezier(control, 50), sample_bezier(labels, 50))
    np.testing.assert_array_equal(sample_bezier(control, 200), sample_bezier(labels, 200))
    # Labels do not depend on the length: a curve sampled at 200 epochs fits back to them.
    stretched = sample_bezier(SHAPES, 200)
    refitted = bezier_labels(fit_bezier(stretched, n_corrections=100), 200)
    np.testing.assert_allclose(refitted, SHAPES, atol=1e-4)


def test_batch_equals_rows() -> None:
    rng = np.random.default_rng(5)
    curves = _learning_curves(rng, 1500, 40) + rng.normal(0.0, 1.0, (1500, 40))
    control = fit_bezier(curves)
    # Bitwise: sloppy fits would amplify rounding differences between batch sizes.
    np.testing.assert_array_equal(control[:8], np.stack([fit_bezier(row) for row in curves[:8]]))
    parts = [fit_bezier(curves[start:stop]) for start, stop in [(0, 1), (1, 700), (700, 1500)]]
    np.testing.assert_array_equal(control, np.concatenate(parts))
    labels = bezier_labels(control, 40)
    samples = sample_bezier(labels, 60)
    np.testing.assert_array_equal(
        samples[:8], np.stack([sample_bezier(row, 60) for row in labels[:8]])
    )
    grid = curves[:8].reshape(2, 4, 40)
    np.testing.assert_array_equal(fit_bezier(grid), control[:8].reshape(2, 4, 5, 2))
    np.testing.assert_array_equal(
        sample_bezier(labels[:8].reshape(2, 4, 8), 60), samples[:8].reshape(2, 4, 60)
    )


def test_fit_list_groups_by_length() -> None:
    rng = np.random.default_rng(6)
    curves = [_learning_curves(rng, 1, length)[0] for length in (30, 50, 30, 7, 50)]
    control = fit_bezier_list(curves)
    np.testing.assert_allclose(control, np.stack([fit_bezier(curve) for curve in curves]))
    np.testing.assert_array_equal(control[:, 4, 0], [30, 50, 30, 7, 50])


def test_labels_round_trip() -> None:
    labels = _random_labels(np.random.default_rng(7), 10)
    max_epoch = np.arange(10, 110, 10)
    control = control_points_from_labels(labels, max_epoch)
    np.testing.assert_array_equal(control[:, 4, 0], max_epoch)
    np.testing.assert_array_equal(control[:, 0, 0], 1.0)
    np.testing.assert_allclose(bezier_labels(control, max_epoch), labels)
    fitted = fit_bezier(_learning_curves(np.random.default_rng(8), 5, 60))
    np.testing.assert_allclose(control_points_from_labels(bezier_labels(fitted, 60), 60), fitted)


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError):
        fit_bezier(np.empty((3, 0)))
    with pytest.raises(ValueError):
        fit_bezier([1.0, np.nan, 3.0])
    with pytest.raises(ValueError):
        fit_bezier([1.0, 2.0], n_corrections=-1)
    with pytest.raises(ValueError):
        fit_bezier_list([np.ones((2, 3))])
    with pytest.raises(ValueError):
        sample_bezier(np.ones((2, 7)), 10)
    with pytest.raises(ValueError):
        sample_bezier(SHAPES, 0)
    with pytest.raises(ValueError):
        bezier_labels(np.ones((4, 2)), 10)
    with pytest.raises(ValueError):
        control_points_from_labels(np.ones(7), 10)


def test_surrogate_does_not_import_torch() -> None:
    code = "import sys, optuna_eahas.surrogate; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("length", [2, 3, 7, 50, 200, 1000])
def test_sample_agrees_with_exact_solver(length: int) -> None:
    # The sampling path may solve x(t) = e its own way; it must land within 1e-6 epochs of the
    # safeguarded solver's t, i.e. within 1e-6 epochs times the local slope dy/dx in accuracy.
    rng = np.random.default_rng(8)
    labels = np.vstack([SHAPES, _random_labels(rng, 300)])
    wild = rng.uniform(-0.2, 1.2, (300, 8))
    wild[:, [0, 1, 3, 5, 7]] *= 100.0
    labels = np.vstack([labels, wild])
    labels[:5, 2::2] = [[0.8, 0.2, 0.5], [-0.3, 0.4, 1.7], [0.0, 0.0, 0.0], [1, 1, 1], [0, 0, 1]]
    control = _project_monotone(control_points_from_labels(labels, length))
    x_coef, y_coef = _power(control[..., 0] / length), _power(control[..., 1])
    targets = np.broadcast_to(np.arange(1, length + 1) / length, (len(labels), length))
    t = _solve_x(x_coef, targets, _initial_parameters(x_coef, targets))
    expected, y_slope = _eval(y_coef, t)
    expected[:, 0], expected[:, -1] = labels[:, 0], labels[:, 1]
    x_slope = _eval(x_coef, t)[1] * length  # Epochs per unit t.
    tolerance = 1e-6 * np.abs(y_slope) / np.maximum(x_slope, 1e-300) + 1e-9
    error = np.abs(sample_bezier(labels, length) - expected)
    assert np.all(error <= tolerance), np.max(error - tolerance)


@pytest.mark.parametrize(("cells", "newton_steps"), [(64, 2), (64, 1), (4, 1)])
def test_sample_fallbacks_keep_x_exact(
    monkeypatch: pytest.MonkeyPatch, cells: int, newton_steps: int
) -> None:
    # Coarser grids and fewer Newton steps leave more targets to the extra Newton step and to
    # the safeguarded solver; every path must solve x(t) = e, and a row must sample bitwise
    # the same alone as in a batch.
    monkeypatch.setattr(_bezier, "_SAMPLE_CELLS", cells)
    monkeypatch.setattr(_bezier, "_SAMPLE_GRID", np.linspace(0.0, 1.0, cells + 1))
    monkeypatch.setattr(_bezier, "_SAMPLE_NEWTON_STEPS", newton_steps)
    length = 200
    rng = np.random.default_rng(9)
    labels = np.vstack([SHAPES, _random_labels(rng, 50), rng.uniform(-0.2, 1.2, (50, 8))])
    labels[:5, 2::2] = [[0.8, 0.2, 0.5], [-0.3, 0.4, 1.7], [0.0, 0.0, 0.0], [1, 1, 1], [0, 0, 1]]
    solved = []
    solve_x = _bezier._solve_x

    def spy(x_coef: np.ndarray, targets: np.ndarray, start: np.ndarray) -> np.ndarray:
        t = solve_x(x_coef, targets, start)
        solved.append(np.abs(_eval(x_coef, t)[0] - targets))
        return t

    monkeypatch.setattr(_bezier, "_solve_x", spy)
    samples = sample_bezier(labels, length)
    if cells == 4:
        assert solved
    assert all(residual.max() <= _bezier._X_TOL for residual in solved)
    rows = np.stack([sample_bezier(row, length) for row in labels])
    np.testing.assert_array_equal(samples, rows)
    control = _project_monotone(control_points_from_labels(labels, length))
    x_coef, y_coef = _power(control[..., 0] / length), _power(control[..., 1])
    targets = np.broadcast_to(np.arange(1, length + 1) / length, (len(labels), length))
    expected = _eval(y_coef, _solve_x(x_coef, targets, _initial_parameters(x_coef, targets)))[0]
    np.testing.assert_allclose(samples[:, 1:-1], expected[:, 1:-1], rtol=0, atol=1e-6)
