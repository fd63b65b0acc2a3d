"""Validation metrics of learning-curve surrogates (EA-HAS-Bench, Dou et al. ICLR 2023, Sec. 5).

EA-HAS-Bench compares surrogates on held-out records by the coefficient of determination (R²)
of the predicted learning curves and by Kendall's tau between true and predicted final
accuracies, and by the R² of scalar targets such as the total and per-epoch energy costs
(TEC, IEC) and the runtime.

Curves may have different lengths (a configuration's ``max_epoch``). :func:`curve_r2` pools the
values of all epochs of all curves, so ``R² = 1 - SSE / SST`` with ``SST`` taken around the mean
of the pooled true values: a 200-epoch curve weighs four times as much as a 50-epoch one.

The metric functions return ``nan`` where a metric is undefined (no values, constant true
values for R², fewer than two items or a constant input for Kendall's tau);
:func:`validation_report` turns such values into ``None`` so that its result is valid JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import math

import numpy as np
from numpy.typing import ArrayLike
import scipy.stats

__all__ = [
    "curve_r2",
    "final_kendall_tau",
    "format_report_table",
    "r2",
    "validation_report",
]

_OVERALL = "overall"


def r2(true: ArrayLike, predicted: ArrayLike) -> float:
    """Coefficient of determination ``1 - SSE / SST`` of scalar predictions.

    Args:
        true:
            True values, of shape ``(n,)``.
        predicted:
            Predicted values, of the same shape.

    Returns:
        The R², or ``nan`` if there are no values or the true values are all equal.
    """
    y = np.asarray(true, dtype=np.float64)
    y_hat = np.asarray(predicted, dtype=np.float64)
    if y.ndim != 1 or y.shape != y_hat.shape:
        raise ValueError(
            f"Expected two 1-D arrays of the same shape, got {y.shape} and {y_hat.shape}."
        )
    if y.size == 0:
        return math.nan
    sst = float(np.sum((y - y.mean()) ** 2))
    if sst == 0.0:
        return math.nan
    return 1.0 - float(np.sum((y - y_hat) ** 2)) / sst


def curve_r2(
    true_curves: Sequence[ArrayLike] | np.ndarray,
    predicted_curves: Sequence[ArrayLike] | np.ndarray,
) -> float:
    """R² over all epoch values of whole learning curves.

    Args:
        true_curves:
            True curves, one 1-D array per configuration (lengths may differ), or a 2-D array.
        predicted_curves:
            Predicted curves, each of the same length as the corresponding true curve.

    Returns:
        The R² of the pooled values (see the module docstring).
    """
    y, y_hat = _pool(true_curves, predicted_curves)
    return r2(y, y_hat)


def final_kendall_tau(true_final: ArrayLike, predicted_final: ArrayLike) -> float:
    """Kendall's tau-b (:func:`scipy.stats.kendalltau`) between true and predicted values.

    Args:
        true_final:
            True final accuracies, of shape ``(n,)``.
        predicted_final:
            Predicted final accuracies, of the same shape.

    Returns:
        The rank correlation, or ``nan`` for fewer than two items or a constant input.
    """
    y = np.asarray(true_final, dtype=np.float64)
    y_hat = np.asarray(predicted_final, dtype=np.float64)
    if y.ndim != 1 or y.shape != y_hat.shape:
        raise ValueError(
            f"Expected two 1-D arrays of the same shape, got {y.shape} and {y_hat.shape}."
        )
    if y.size < 2 or np.all(y == y[0]) or np.all(y_hat == y_hat[0]):
        return math.nan
    return float(scipy.stats.kendalltau(y, y_hat).statistic)


def validation_report(
    true_curves: Sequence[ArrayLike] | np.ndarray,
    predicted_curves: Sequence[ArrayLike] | np.ndarray,
    max_epochs: ArrayLike,
) -> dict[str, dict[str, float | int | None]]:
    """Curve R² and final-accuracy Kendall's tau per ``max_epoch`` group and overall.

    The final accuracy of a curve is its last value.

    Args:
        true_curves:
            True curves, one 1-D array per configuration.
        predicted_curves:
            Predicted curves, each of the same length as the corresponding true curve.
        max_epochs:
            The ``max_epoch`` of each configuration, of shape ``(n,)``; it only groups rows.

    Returns:
        ``{group: {"n": rows, "curve_r2": ..., "final_kendall_tau": ...}}`` with a group
        ``str(max_epoch)`` for each distinct ``max_epoch`` in increasing order, then
        ``"overall"``. Undefined metrics are ``None``.
    """
    true_list = [np.asarray(c, dtype=np.float64) for c in true_curves]
    predicted_list = [np.asarray(c, dtype=np.float64) for c in predicted_curves]
    epochs = np.asarray(max_epochs)
    if epochs.shape != (len(true_list),):
        raise ValueError(f"Expected max_epochs of shape ({len(true_list)},), got {epochs.shape}.")
    # Validates the number and the lengths of the curves before any grouping.
    _pool(true_list, predicted_list)
    if any(c.size == 0 for c in true_list):
        raise ValueError("Every curve needs at least one epoch.")

    groups = [(str(int(e)), np.flatnonzero(epochs == e)) for e in np.unique(epochs)]
    groups.append((_OVERALL, np.arange(len(true_list))))
    report: dict[str, dict[str, float | int | None]] = {}
    for name, rows in groups:
        true_group = [true_list[i] for i in rows]
        predicted_group = [predicted_list[i] for i in rows]
        report[name] = {
            "n": len(rows),
            "curve_r2": _finite_or_none(curve_r2(true_group, predicted_group)),
            "final_kendall_tau": _finite_or_none(
                final_kendall_tau([c[-1] for c in true_group], [c[-1] for c in predicted_group])
            ),
        }
    return report


def format_report_table(
    reports: Mapping[str, Mapping[str, Mapping[str, float | int | None]]],
    *,
    digits: int = 4,
) -> str:
    """Format reports of :func:`validation_report` as an aligned text table.

    Args:
        reports:
            Model name to its report.
        digits:
            Digits after the decimal point of the metrics.

    Returns:
        The table (columns model, group, n, curve R², Kendall tau), without a final newline.
    """
    header = ("model", "group", "n", "curve R²", "Kendall tau")
    rows = [
        (
            model,
            group,
            str(metrics["n"]),
            _format_number(metrics["curve_r2"], digits),
            _format_number(metrics["final_kendall_tau"], digits),
        )
        for model, report in reports.items()
        for group, metrics in report.items()
    ]
    widths = [max(len(row[j]) for row in [header, *rows]) for j in range(len(header))]
    # Text columns are left-aligned, numeric columns right-aligned.
    lines = [
        "  ".join(
            cell.ljust(width) if j < 2 else cell.rjust(width)
            for j, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _pool(
    true_curves: Sequence[ArrayLike] | np.ndarray,
    predicted_curves: Sequence[ArrayLike] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    true_list = [np.asarray(c, dtype=np.float64) for c in true_curves]
    predicted_list = [np.asarray(c, dtype=np.float64) for c in predicted_curves]
    if len(true_list) != len(predicted_list):
        raise ValueError(
            f"Got {len(true_list)} true curves but {len(predicted_list)} predicted curves."
        )
    for i, (y, y_hat) in enumerate(zip(true_list, predicted_list, strict=True)):
        if y.ndim != 1 or y.shape != y_hat.shape:
            raise ValueError(
                f"Curve {i}: expected two 1-D arrays of the same length, "
                f"got shapes {y.shape} and {y_hat.shape}."
            )
    if not true_list:
        return np.empty(0), np.empty(0)
    return np.concatenate(true_list), np.concatenate(predicted_list)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _format_number(value: float | int | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
