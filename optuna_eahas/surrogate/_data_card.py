from __future__ import annotations

from typing import TYPE_CHECKING

from optuna_eahas.surrogate._metrics import format_report_table

if TYPE_CHECKING:
    from optuna_eahas.surrogate._fit import FittedSurrogate

_CURVE_MODELS = {"bcs": "BCS (this benchmark)", "svd_lightgbm": "SVD + LightGBM", "pow3": "pow3"}


def surrogate_data_card(fitted: FittedSurrogate) -> str:
    """The data card stored in an artifact: where its records come from, how it was fitted and
    how well it predicts held-out records, including where a baseline beats BCS."""
    sources = ", ".join(f"{count} {source}" for source, count in sorted(fitted.sources.items()))
    simulated = set(fitted.sources) == {"simulated"}
    metrics = fitted.metrics
    lines = [
        f"# Data card: {fitted.dataset} surrogate benchmark",
        "",
        f"Fitted on {fitted.n_records} run records ({sources}).",
        "",
    ]
    if simulated:
        lines += [
            "**Every record behind this benchmark is simulated, not measured.** They come from "
            "this project's reference simulator, calibrated to published figures (EA-HAS-Bench's "
            "accuracy distribution, Zeus and EC-NAS-Bench energy measurements; see "
            "docs/data-card-simulator.md). Its energies and times are V100-class estimates. Do "
            "not cite a number from this benchmark as a measurement.",
            "",
        ]
    elif "simulated" in fitted.sources:
        lines += ["Some records are simulated: see the counts above.", ""]
    split = metrics["split"]
    lines += [
        "## Fit",
        "",
        f"- BCS ensemble of {len(fitted.members)} networks; hyperparameters chosen with Optuna "
        f"on a validation split: {fitted.hyperparameters}",
        "- LightGBM models (log targets) for steady per-epoch training energy and time, the "
        "first epoch's extra, and the test pass (inference energy and time).",
        f"- Split (seed {split['seed']}): {split['train']} train, {split['validation']} "
        f"validation, {split['test']} test records.",
        f"- Bezier fit of the records' own curves: R² {metrics['bezier_fit_r2']:.4f}.",
        "",
        "## Validation on held-out records",
        "",
        "```",
        format_report_table(
            {label: metrics[name] for name, label in _CURVE_MODELS.items() if name in metrics}
        ),
        "```",
        "",
        f"Energy and time (R²): total training energy {metrics['energy']['tec_r2']:.4f}, "
        f"inference energy {metrics['energy']['iec_r2']:.4f}, "
        f"training time {metrics['energy']['runtime_r2']:.4f}.",
        "",
    ]
    bcs = metrics["bcs"]["overall"]
    for name in ("svd_lightgbm", "pow3"):
        if name not in metrics:
            continue
        other = metrics[name]["overall"]
        for key, label in (("curve_r2", "curve R²"), ("final_kendall_tau", "Kendall tau")):
            if other[key] is not None and bcs[key] is not None and other[key] > bcs[key]:
                lines.append(
                    f"- The {_CURVE_MODELS[name]} baseline beats BCS on overall {label} "
                    f"({other[key]:.4f} vs {bcs[key]:.4f})."
                )
    return "\n".join(lines) + "\n"
