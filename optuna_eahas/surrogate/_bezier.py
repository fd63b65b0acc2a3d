"""Quartic Bézier curves of learning curves (EA-HAS-Bench, Dou et al. ICLR 2023, Section 4.2).

A learning curve is the accuracy ``y_1 .. y_E`` (in percent) at the epochs ``x = 1 .. E``. The
Bézier-curve surrogate (BCS) fits it with a quartic Bézier curve ``C(t) = sum_k B_k(t) P_k``
whose end points are the first and last observations, ``P0 = (1, y_1)`` and ``P4 = (E, y_E)``,
and predicts the curve through the label vector
``[y_start, y_end, x1 / E, y1, x2 / E, y2, x3 / E, y3]`` of the interior control points.

The accuracy at epoch ``e`` is the curve's ``y`` where its ``x`` equals ``e``. For this to be a
function of the epoch, ``x(t)`` must be monotone. It is whenever the ``x`` coordinates of the
control points are non-decreasing (the derivative of a Bernstein polynomial is a non-negative
combination of the differences of its coefficients), so the interior ``x`` coordinates are
projected onto ``x0 <= x1 <= x2 <= x3 <= x4`` both in the output of :func:`fit_bezier` and
before :func:`sample_bezier` evaluates a curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import numpy as np
from numpy.typing import ArrayLike

_DEGREE = 4
_NUM_LABELS = 8
# Accuracies are in percent; the fit works on ``x / E`` and ``y / 100`` so both axes span [0, 1].
_ACCURACY_SCALE = 100.0
# Ridge towards the straight line between the end points; it only matters for curves of fewer
# than five epochs, whose interior control points the data do not determine.
_RIDGE = 1e-9
# Tolerance in normalised x (x / epochs) of the solution of x(t) = e.
_X_TOL = 1e-12
_MAX_SOLVE_STEPS = 100
_LOOKUP_CELLS = 32  # A power of two, for the binary search.
_BLOCK_POINTS = 25_000
# Sampling (see _sample_block): cells of the uniform t-grid that locates each epoch, plain
# Newton steps from the linear interpolation in its cell, and curve points per block of rows,
# few enough for the working arrays to stay in cache. 64 cells and two steps settle all but
# about one point in 1,500 of the benchmark's learning curves, and one more step nearly all
# of those.
_SAMPLE_CELLS = 64
_SAMPLE_GRID = np.linspace(0.0, 1.0, _SAMPLE_CELLS + 1)
_SAMPLE_NEWTON_STEPS = 2
_SAMPLE_BLOCK_POINTS = 16_384
_TINY = np.finfo(np.float64).tiny  # Floor of slopes and cell widths, against division by 0.
# Label columns of y_start, y1, y2, y3, y_end, in control-point order.
_Y_LABELS = [0, 3, 5, 7, 1]
_BINOMIALS = np.array([comb(_DEGREE, j) for j in range(_DEGREE + 1)], dtype=np.float64)
_INITIAL_DAMPING = 1e-3
_DAMPING_RANGE = (1e-12, 1e12)
# Row j holds the coefficients of t**j in the Bernstein polynomials B_0 .. B_4.
_TO_POWER = np.array(
    [
        [
            (-1) ** (j - k) * comb(_DEGREE, j) * comb(j, k) if k <= j else 0
            for k in range(_DEGREE + 1)
        ]
        for j in range(_DEGREE + 1)
    ],
    dtype=np.float64,
)


def fit_bezier(curves: ArrayLike, *, n_corrections: int = 10) -> np.ndarray:
    """Fit quartic Bézier curves to learning curves of equal length (Section 4.2).

    Args:
        curves:
            Accuracies of shape ``(..., E)``; ``curves[..., i]`` is the accuracy after epoch
            ``i + 1``.
        n_corrections:
            Parameter-correction iterations after the chord-length fit. Each projects every
            point onto the curve along the epoch axis (``t_i`` with ``x(t_i) = i``, by Newton's
            method) and takes a damped Gauss-Newton step on the interior control points that
            accounts for how ``t_i`` moves with them, then refits their ``y`` by least squares.
            A curve keeps a correction only if it lowers its squared error at the epochs.

    Returns:
        Control points of shape ``(..., 5, 2)`` with ``P0 = (1, y_1)``, ``P4 = (E, y_E)`` and
        interior ``x`` coordinates projected to be monotone.

    The interior control points start as the linear least-squares fit under chord-length
    parameterisation, the cumulative distance between consecutive points in ``(x / E, y / 100)``.
    """
    accuracies = np.asarray(curves, dtype=np.float64)
    if accuracies.ndim == 0 or accuracies.shape[-1] == 0:
        raise ValueError("curves must have at least one epoch on their last axis.")
    if not np.isfinite(accuracies).all():
        raise ValueError("curves must be finite.")
    if n_corrections < 0:
        raise ValueError(f"n_corrections must be non-negative, got {n_corrections}.")
    batch_shape, n_epochs = accuracies.shape[:-1], accuracies.shape[-1]
    accuracies = accuracies.reshape(-1, n_epochs)
    n_curves = len(accuracies)
    # Blocks of curves small enough for the working arrays to stay in cache.
    block = max(1, _BLOCK_POINTS // n_epochs)
    control = np.empty((n_curves, _DEGREE + 1, 2))
    for start in range(0, n_curves, block):
        y = accuracies[start : start + block] / _ACCURACY_SCALE
        control[start : start + block] = _fit_normalised(y, n_corrections)
    control *= np.array([n_epochs, _ACCURACY_SCALE])
    control[:, 0] = np.stack([np.ones(n_curves), accuracies[:, 0]], axis=-1)
    control[:, -1] = np.stack([np.full(n_curves, n_epochs), accuracies[:, -1]], axis=-1)
    return control.reshape(*batch_shape, _DEGREE + 1, 2)


def fit_bezier_list(curves: Sequence[ArrayLike], *, n_corrections: int = 10) -> np.ndarray:
    """Fit learning curves of different lengths with :func:`fit_bezier`, grouped by length.

    Returns control points of shape ``(len(curves), 5, 2)``; row ``i`` ends at
    ``x = len(curves[i])``, which is the ``max_epoch`` of its labels.
    """
    arrays = [np.asarray(curve, dtype=np.float64) for curve in curves]
    if any(array.ndim != 1 for array in arrays):
        raise ValueError("Each curve must be one-dimensional.")
    lengths = np.array([len(array) for array in arrays], dtype=np.int64)
    control = np.empty((len(arrays), _DEGREE + 1, 2))
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        group = np.stack([arrays[row] for row in rows])
        control[rows] = fit_bezier(group, n_corrections=n_corrections)
    return control


def bezier_labels(control_points: ArrayLike, max_epoch: ArrayLike) -> np.ndarray:
    """BCS label vectors ``[y_start, y_end, x1/E, y1, x2/E, y2, x3/E, y3]`` (Section 4.2).

    ``control_points`` has shape ``(..., 5, 2)`` and ``max_epoch`` (``E``) broadcasts against
    its batch shape. The end points' ``x`` are implied (``1`` and ``E``) and not stored.
    """
    control = np.asarray(control_points, dtype=np.float64)
    if control.shape[-2:] != (_DEGREE + 1, 2):
        raise ValueError(f"control_points must have shape (..., 5, 2), got {control.shape}.")
    interior = control[..., 1:4, :].copy()
    interior[..., 0] /= np.asarray(max_epoch, dtype=np.float64)[..., None]
    ends = np.stack([control[..., 0, 1], control[..., -1, 1]], axis=-1)
    return np.concatenate([ends, interior.reshape(*interior.shape[:-2], 6)], axis=-1)


def control_points_from_labels(labels: ArrayLike, max_epoch: ArrayLike) -> np.ndarray:
    """Inverse of :func:`bezier_labels`: control points ``(..., 5, 2)`` ending at ``max_epoch``.

    The interior ``x`` are stretched to ``max_epoch``, so labels fitted on ``E`` epochs give the
    same curve shape over any length. The result is not projected to monotone ``x``.
    """
    values = np.asarray(labels, dtype=np.float64)
    if values.shape[-1] != _NUM_LABELS:
        raise ValueError(f"labels must have shape (..., 8), got {values.shape}.")
    epochs = np.broadcast_to(np.asarray(max_epoch, dtype=np.float64), values.shape[:-1])
    interior = values[..., 2:].reshape(*values.shape[:-1], 3, 2).copy()
    interior[..., 0] *= epochs[..., None]
    start = np.stack([np.ones_like(epochs), values[..., 0]], axis=-1)
    end = np.stack([epochs, values[..., 1]], axis=-1)
    return np.concatenate([start[..., None, :], interior, end[..., None, :]], axis=-2)


def sample_bezier(curves: ArrayLike, epochs: int) -> np.ndarray:
    """Accuracies at the epochs ``1 .. epochs`` of Bézier learning curves (Section 4.2).

    Args:
        curves:
            Label vectors of shape ``(..., 8)`` or control points of shape ``(..., 5, 2)``.
            Control points are first turned into labels with their own ``x4`` as max epoch.
        epochs:
            The length ``L`` to sample. Labels hold ``x`` relative to the max epoch, so the
            curve is stretched to run from epoch ``1`` to ``L`` whatever length it was fitted on.

    Returns:
        Accuracies of shape ``(..., L)``: the curve's ``y`` where ``x(t) = e``, after projecting
        the ``x`` control points to be monotone; ``t`` solves ``x(t) = e`` to ``_X_TOL`` in
        ``x / L`` (``2e-10`` epochs for ``L = 200``; see :func:`_sample_interior`). A curve
        samples bitwise the same alone as in a batch.
        Epoch ``1`` gives ``y_start`` and epoch ``L`` gives ``y_end`` exactly; for ``L = 1``,
        whose only epoch is both, the result is ``y_end``, the accuracy after training.
    """
    values = np.asarray(curves, dtype=np.float64)
    if values.shape[-2:] == (_DEGREE + 1, 2):
        values = bezier_labels(values, values[..., -1, 0])
    elif values.shape[-1] != _NUM_LABELS:
        raise ValueError(f"curves must have shape (..., 8) or (..., 5, 2), got {values.shape}.")
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    batch_shape = values.shape[:-1]
    labels = values.reshape(-1, _NUM_LABELS)
    accuracies = np.empty((len(labels), epochs))
    accuracies[:, 0] = labels[:, 0]
    accuracies[:, -1] = labels[:, 1]
    if epochs > 2:
        _sample_interior(labels, accuracies[:, 1:-1])
    return accuracies.reshape(*batch_shape, epochs)


def _sample_interior(labels: np.ndarray, out: np.ndarray) -> None:
    """Write the accuracies of the curves ``labels`` (n, 8) at the epochs ``2 .. L - 1`` into
    ``out`` (n, L - 2).

    The rows share these targets, so rather than :func:`_solve_x` from a per-target binary
    search, blocks of rows small enough to stay in cache go through :func:`_sample_block`,
    which solves nearly all targets with plain Newton steps. The rare rest are refined
    together by the safeguarded :func:`_solve_x`. Every step is elementwise, so a row's
    result does not depend on the other rows.
    """
    n, epochs = len(out), out.shape[1] + 2
    targets = np.arange(2, epochs) / epochs
    block = max(1, _SAMPLE_BLOCK_POINTS // epochs)
    pending = []
    for start in range(0, n, block):
        rows, columns, t = _sample_block(labels[start : start + block], targets, out[start:])
        pending.append((rows + start, columns, t))
    rows, columns, t = (np.concatenate(parts) for parts in zip(*pending, strict=True))
    if len(rows):
        x_coef, y_coef, _ = _sampling_polynomials(labels[rows], epochs)
        t = _solve_x(x_coef, targets[columns, None], t[:, None])
        out[rows, columns] = _eval(y_coef, t)[0][:, 0]


def _sample_block(
    labels: np.ndarray, targets: np.ndarray, out: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Write the accuracies of the curves ``labels`` (n, 8) at ``targets`` (``e / L``, the
    epochs ``2 .. L - 1``) into the first ``n`` rows of ``out``.

    1. Tabulate ``x(t)`` on a uniform grid of ``_SAMPLE_CELLS`` cells and find every target's
       cell at once (:func:`_sample_cells`).
    2. Interpolate ``t`` linearly in the cell and take ``_SAMPLE_NEWTON_STEPS`` Newton steps,
       each clipped to the cell, which holds the root.
    3. Accept where the last step guarantees ``|x(t) - e| <= _X_TOL`` (:func:`_unsettled`),
       and give the few others one more step (about one target in 1,500 of the benchmark's
       curves, of which nearly all are then accepted).

    Returns the rows, columns and current ``t`` of the targets not accepted, whose entries of
    ``out`` are still to be written.
    """
    n, epochs = len(labels), len(targets) + 2
    x_coef, y_coef, x = _sampling_polynomials(labels, epochs)
    table = _horner(x_coef, _SAMPLE_GRID, np.empty((n, _SAMPLE_CELLS + 1)))
    cell = _sample_cells(table, epochs)
    index = cell + np.arange(0, table.size, _SAMPLE_CELLS + 1)[:, None]
    low = table.take(index)
    width = table.take(index + 1)
    width -= low
    np.maximum(width, _TINY, out=width)
    t = np.subtract(targets, low, out=low)
    t /= width
    t += cell
    t *= 1.0 / _SAMPLE_CELLS
    t_low = np.multiply(cell, 1.0 / _SAMPLE_CELLS, out=width)
    t_high = t_low + 1.0 / _SAMPLE_CELLS
    offset = x_coef[:, :1] - targets
    step = _newton_steps(x_coef, offset, t, t_low, t_high, _SAMPLE_NEWTON_STEPS)
    rows, columns = np.nonzero(_unsettled(step, x))
    if len(rows):  # One more step for the few others, within their cells.
        entries = rows, columns
        t_left = t[entries][:, None]
        bracket = t_low[entries][:, None], t_high[entries][:, None]
        step = _newton_steps(x_coef[rows], offset[entries][:, None], t_left, *bracket, 1)
        t[entries] = t_left[:, 0]
        left = _unsettled(step, x[rows])[:, 0]
        rows, columns = rows[left], columns[left]
    _horner(y_coef, t, out[:n])
    return rows, columns, t[rows, columns]


def _newton_steps(
    x_coef: np.ndarray,
    offset: np.ndarray,
    t: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    n_steps: int,
) -> np.ndarray:
    """Take ``n_steps`` Newton steps on ``x(t) = e`` in place of ``t``, each clipped to
    ``[low, high]``, which must hold the root; return the last (unclipped) step.

    ``offset`` is ``x``'s constant coefficient minus ``e``, so that Horner's scheme gives
    ``x(t) - e`` directly. Slopes are floored at the smallest normal number.
    """
    slope_coef = x_coef[:, 1:] * np.arange(1, _DEGREE + 1)
    step, slope = np.empty_like(t), np.empty_like(t)
    for _ in range(n_steps):
        _horner(x_coef, t, step, constant=offset)
        _horner(slope_coef, t, slope)
        np.maximum(slope, _TINY, out=slope)
        step /= slope
        t -= step
        np.maximum(t, low, out=t)
        np.minimum(t, high, out=t)
    return step


def _unsettled(step: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Where the last Newton ``step`` (n, m) may leave ``|x(t) - e| > _X_TOL``; consumes ``step``.

    After a Newton step ``d``, ``|x(t) - e| <= max |x''| d**2 / 2`` (Taylor), and clipping to
    a bracket of the root only moves ``x(t)`` closer to ``e``. ``max |x''|`` is at most 12
    times the largest second difference of the control ``x`` (n, 5) (``x''`` in Bernstein
    form).
    """
    second_differences = x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]
    curvature = 12 * np.abs(second_differences).max(axis=1, keepdims=True)
    step *= step
    step *= curvature
    return ~(step <= 2 * _X_TOL)  # Also catches NaN.


def _sampling_polynomials(
    labels: np.ndarray, epochs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power-basis coefficients ``(n, 5)`` of ``x / L`` and ``y`` of the curves ``labels``
    ``(n, 8)`` stretched to ``L`` epochs, and their monotone control ``x / L`` ``(n, 5)``."""
    control = np.empty((len(labels), 2, _DEGREE + 1))
    x = control[:, 0]
    x[:, 0], x[:, -1] = 1.0 / epochs, 1.0
    x[:, 1:-1] = labels[:, 2::2]
    x[:, 1:-1] = _monotone_interior(x)
    control[:, 1] = labels[:, _Y_LABELS]
    x_coef, y_coef = _power_by_differences(control).transpose(1, 0, 2)
    return x_coef, y_coef, x


def _sample_cells(table: np.ndarray, epochs: int) -> np.ndarray:
    """Cells of the epochs ``2 .. L - 1`` in the rows of a monotone table ``(n, C + 1)``.

    Epoch ``e``'s cell is the number of interior entries with ``x <= e / L``, i.e. with
    ``ceil(L x) <= e``: a histogram of ``ceil(L x)`` per row, accumulated over the epochs.
    One pass over the table and one over the output, where a binary search would take
    ``log2(C)`` passes over the output.
    """
    n = len(table)
    first_epoch = np.ceil(table[:, 1:-1] * epochs).astype(np.intp)
    np.maximum(first_epoch, 0, out=first_epoch)
    np.minimum(first_epoch, epochs, out=first_epoch)
    first_epoch += np.arange(0, n * (epochs + 1), epochs + 1)[:, None]
    counts = np.bincount(first_epoch.ravel(), minlength=n * (epochs + 1))
    return np.cumsum(counts.reshape(n, epochs + 1), axis=1)[:, 2:epochs]


def _power_by_differences(points: np.ndarray) -> np.ndarray:
    """Power-basis coefficients of Bézier coordinates ``points`` (..., 5), elementwise.

    The coefficient of ``t**j`` is ``comb(4, j)`` times the ``j``-th forward difference of
    the control points. Unlike :func:`_power`'s ``einsum``, whose summation order can depend
    on the arrays' memory alignment, this rounds every row the same way in any batch.
    """
    coef = np.empty_like(points)
    differences = points
    for j in range(_DEGREE + 1):
        coef[..., j] = differences[..., 0]
        differences = differences[..., 1:] - differences[..., :-1]
    coef *= _BINOMIALS
    return coef


def _horner(
    coef: np.ndarray, t: np.ndarray, out: np.ndarray, constant: np.ndarray | None = None
) -> np.ndarray:
    """Write the polynomials ``coef`` (n, k) at ``t`` (broadcasting to ``out``) into ``out``.

    ``constant`` replaces the constant coefficients; it broadcasts to ``out`` too.
    """
    np.multiply(coef[:, -1:], t, out=out)
    for j in range(coef.shape[1] - 2, 0, -1):
        out += coef[:, j : j + 1]
        out *= t
    out += coef[:, :1] if constant is None else constant
    return out


def _fit_normalised(y: np.ndarray, n_corrections: int) -> np.ndarray:
    """:func:`fit_bezier` of accuracies ``y`` (n, E) scaled to [0, 1], at ``x = i / E``."""
    n_epochs = y.shape[1]
    x = np.broadcast_to(np.arange(1, n_epochs + 1) / n_epochs, y.shape)
    points = np.stack([x, y], axis=-1)
    control = np.concatenate(
        [
            points[:, :1],
            _interior_least_squares(_bernstein(_chord_parameters(points)), points),
            points[:, -1:],
        ],
        axis=1,
    )
    control = _project_monotone(control)
    x_coef = _power(control[..., 0])
    t = _solve_x(x_coef, x, _initial_parameters(x_coef, x))
    residual = _eval(_power(control[..., 1]), t)[0] - y
    error = np.sum(residual**2, axis=1)
    damping = np.full(len(y), _INITIAL_DAMPING)
    for _ in range(n_corrections):
        candidate = _project_monotone(_gauss_newton_step(control, t, residual, damping))
        candidate_t = _solve_x(_power(candidate[..., 0]), x, t)
        basis = _bernstein(candidate_t)
        candidate[:, 1:4, 1:] = _interior_least_squares(basis, y[..., None])
        candidate_residual = (basis @ candidate[..., 1:])[..., 0] - y
        candidate_error = np.sum(candidate_residual**2, axis=1)
        better = candidate_error < error
        control = np.where(better[:, None, None], candidate, control)
        t = np.where(better[:, None], candidate_t, t)
        residual = np.where(better[:, None], candidate_residual, residual)
        error = np.where(better, candidate_error, error)
        damping = np.clip(np.where(better, damping / 10, damping * 10), *_DAMPING_RANGE)
    return control


def _bernstein(t: np.ndarray) -> np.ndarray:
    """Quartic Bernstein basis ``B_0(t) .. B_4(t)`` on a new last axis."""
    s = 1.0 - t
    t2, s2 = t * t, s * s
    return np.stack([s2 * s2, 4 * t * s2 * s, 6 * t2 * s2, 4 * t2 * t * s, t2 * t2], axis=-1)


def _power(coordinates: np.ndarray) -> np.ndarray:
    """Power-basis coefficients ``(n, 5)`` of one coordinate of the curves ``(n, 5)``.

    A per-row product rather than one matrix product, whose rounding depends on the batch size:
    a curve must fit and sample the same alone as in a batch.
    """
    return np.einsum("nk,jk->nj", coordinates, _TO_POWER)


def _eval(coef: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Value and derivative at ``t`` (n, m) of the polynomials ``coef`` (n, 5), by Horner."""
    value = np.broadcast_to(coef[:, -1:], t.shape)
    slope = np.zeros_like(t)
    for j in range(_DEGREE - 1, -1, -1):
        slope = slope * t + value
        value = value * t + coef[:, j : j + 1]
    return value, slope


def _chord_parameters(points: np.ndarray) -> np.ndarray:
    """Chord-length parameters in [0, 1] of points ``(n, E, 2)``; zeros for a single point."""
    lengths = np.linalg.norm(np.diff(points, axis=1), axis=-1)
    cumulative = np.concatenate([np.zeros((len(points), 1)), np.cumsum(lengths, axis=1)], axis=1)
    total = cumulative[:, -1:]
    return np.divide(cumulative, total, out=np.zeros_like(cumulative), where=total > 0)


def _interior_least_squares(basis: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Interior control points ``(n, 3, d)`` fitting ``targets`` ``(n, E, d)`` given fixed ends.

    The end points are the first and last target; ``basis`` ``(n, E, 5)`` holds ``B_k(t_i)``.
    """
    start, end = targets[:, :1], targets[:, -1:]
    interior = basis[..., 1:4]
    rhs = targets - basis[..., :1] * start - basis[..., 4:] * end
    line = start + (np.arange(1, 4) / _DEGREE)[None, :, None] * (end - start)
    gram = np.swapaxes(interior, 1, 2) @ interior + _RIDGE * np.eye(3)
    return np.linalg.solve(gram, np.swapaxes(interior, 1, 2) @ rhs + _RIDGE * line)


def _project_monotone(control: np.ndarray) -> np.ndarray:
    """Project the interior ``x`` of control points ``(n, 5, 2)`` onto ``x0 <= .. <= x4``."""
    projected = control.copy()
    projected[:, 1:4, 0] = _monotone_interior(control[..., 0])
    return projected


def _monotone_interior(x: np.ndarray) -> np.ndarray:
    """The interior of the control ``x`` ``(n, 5)`` projected onto ``x0 <= .. <= x4``, (n, 3).

    This is the Euclidean projection: the isotonic regression of ``(x1, x2, x3)``, by the
    max-min formula over block means, clipped to ``[x0, x4]``.
    """
    a, b, c = x[:, 1], x[:, 2], x[:, 3]
    ab, bc, abc = (a + b) / 2, (b + c) / 2, (a + b + c) / 3
    first = np.minimum(np.minimum(a, ab), abc)
    second = np.maximum(np.minimum(ab, abc), np.minimum(b, bc))
    third = np.maximum(np.maximum(abc, bc), c)
    return np.minimum(np.maximum(np.stack([first, second, third], axis=-1), x[:, :1]), x[:, -1:])


def _initial_parameters(x_coef: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Initial ``t`` for :func:`_solve_x` from a lookup table of ``x(t)`` on a uniform grid.

    A vectorised binary search over the monotone table finds each target's cell, in which ``t``
    is interpolated linearly; every row is searched in its own table only.
    """
    cells = _LOOKUP_CELLS
    grid = np.broadcast_to(np.linspace(0.0, 1.0, cells + 1), (len(x_coef), cells + 1))
    table = _eval(x_coef, grid)[0]
    cell = np.zeros(targets.shape, dtype=np.int64)
    step = cells // 2
    while step:
        probe = cell + step
        cell = np.where(np.take_along_axis(table, probe, axis=1) <= targets, probe, cell)
        step //= 2
    low = np.take_along_axis(table, cell, axis=1)
    width = np.take_along_axis(table, cell + 1, axis=1) - low
    fraction = np.divide(targets - low, width, out=np.zeros_like(width), where=width > 0)
    return (cell + np.clip(fraction, 0.0, 1.0)) / cells


def _solve_x(x_coef: np.ndarray, targets: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Solve the monotone ``x(t) = target`` for ``t`` in [0, 1], vectorised (rtsafe).

    Newton steps from ``start`` keep a bracket of the root and fall back to bisection whenever a
    step leaves the bracket or fails to halve the previous one, until ``|x(t) - target|`` is
    below ``_X_TOL`` (``x`` normalised to at most 1). Each step only touches unsolved entries.
    """
    solution = start.ravel().copy()
    index = np.arange(solution.size)
    t = solution.copy()
    target = np.broadcast_to(targets, start.shape).ravel()
    coef = np.repeat(x_coef, start.shape[1], axis=0)
    low, high = np.zeros_like(t), np.ones_like(t)
    previous_step = np.ones_like(t)
    for _ in range(_MAX_SOLVE_STEPS):
        value, slope = _eval(coef, t[:, None])
        error = value[:, 0] - target
        active = np.abs(error) > _X_TOL
        solution[index[~active]] = t[~active]
        if not active.any():
            break
        index, t, target, coef = index[active], t[active], target[active], coef[active]
        error, slope = error[active], slope[active, 0]
        low = np.where(error < 0, t, low[active])
        high = np.where(error > 0, t, high[active])
        step = np.divide(error, slope, out=np.full_like(error, np.inf), where=slope > 0)
        newton = t - step
        in_bracket = (newton > low) & (newton < high)
        use_newton = in_bracket & (np.abs(step) <= previous_step[active] / 2)
        updated = np.where(use_newton, newton, (low + high) / 2)
        previous_step = np.abs(updated - t)
        t = updated
    solution[index] = t  # Entries still unsolved after _MAX_SOLVE_STEPS.
    return solution.reshape(start.shape)


def _gauss_newton_step(
    control: np.ndarray, t: np.ndarray, residual: np.ndarray, damping: np.ndarray
) -> np.ndarray:
    """Levenberg-Marquardt step on the interior control points for the error at the epochs.

    With ``t_i`` defined by ``x(t_i) = x_i``, moving ``x_k`` moves ``t_i`` by
    ``-B_k(t_i) / x'(t_i)``, so the residual ``y(t_i) - y_i`` has the derivatives
    ``-y'(t_i) / x'(t_i) * B_k(t_i)`` in ``x_k`` and ``B_k(t_i)`` in ``y_k``.
    """
    basis = _bernstein(t)[..., 1:4]
    x_slope = _eval(_power(control[..., 0]), t)[1]
    y_slope = _eval(_power(control[..., 1]), t)[1]
    ratio = np.divide(y_slope, x_slope, out=np.zeros_like(t), where=x_slope > 0)
    jacobian = np.concatenate([-ratio[..., None] * basis, basis], axis=-1)
    normal = np.swapaxes(jacobian, 1, 2) @ jacobian
    # The floor keeps the system regular for curves too short to involve an interior point.
    diagonal = np.maximum(np.diagonal(normal, axis1=1, axis2=2), _DAMPING_RANGE[0])
    normal = normal + damping[:, None, None] * diagonal[:, :, None] * np.eye(6)
    gradient = np.swapaxes(jacobian, 1, 2) @ residual[..., None]
    delta = np.linalg.solve(normal, -gradient)[..., 0]
    stepped = control.copy()
    stepped[:, 1:4] += np.stack([delta[:, :3], delta[:, 3:]], axis=-1)
    return stepped
