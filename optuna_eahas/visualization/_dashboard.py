from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import TrialState
import optuna_dashboard

from optuna_eahas import energy
from optuna_eahas.objective import search_energy
from optuna_eahas.visualization import _study_attrs
from optuna_eahas.visualization._common import J_PER_KWH
from optuna_eahas.visualization._common import as_studies
from optuna_eahas.visualization._common import method_of
from optuna_eahas.visualization._common import resolve_optimum
from optuna_eahas.visualization._learning_curves import plot_learning_curves
from optuna_eahas.visualization._pareto_front_energy import plot_pareto_front_energy
from optuna_eahas.visualization._regret_summary import plot_regret_summary
from optuna_eahas.visualization._regret_vs_energy import plot_regret_vs_energy
from optuna_eahas.visualization._regret_vs_time import plot_regret_vs_time


def save_dashboard_figures(
    study: optuna.Study | Sequence[optuna.Study], *, optimum: float | None = None
) -> None:
    """Save the comparison's figures and notes into each study, for optuna-dashboard.

    Every study gets the comparison of all the given studies (regret against search energy
    and time, the summary table), its own Pareto front and learning curves
    (``optuna_dashboard.save_plotly_graph_object``, under fixed ids, so saving again
    replaces them) and a note with its run's settings and results
    (``optuna_dashboard.save_note``). Pass the studies of one benchmark.

    Args:
        study: The studies of one comparison (seeds of methods on one benchmark).
        optimum: The benchmark's best accuracy (%); default: the one the studies stored.
    """
    studies = as_studies(study)
    optimum = resolve_optimum(studies, optimum)
    comparison = {
        "eahas-comparison-regret-vs-energy": plot_regret_vs_energy(studies, optimum=optimum),
        "eahas-comparison-regret-vs-time": plot_regret_vs_time(studies, optimum=optimum),
        "eahas-comparison-summary": plot_regret_summary(studies, optimum=optimum),
    }
    for s in studies:
        own = {
            "eahas-pareto-front-energy": plot_pareto_front_energy(s),
            "eahas-learning-curves": plot_learning_curves(s, n_best=3),
        }
        for graph_object_id, figure in {**comparison, **own}.items():
            # Without the template (~7 kB of styling): every kB is a storage write per study.
            figure.update_layout(template=None)
            optuna_dashboard.save_plotly_graph_object(s, figure, graph_object_id=graph_object_id)
        optuna_dashboard.save_note(s, _note(s, optimum=optimum, n_compared=len(studies)))


def _note(study: optuna.Study, *, optimum: float, n_compared: int) -> str:
    attrs = study.user_attrs
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = max((t.values[0] for t in complete), default=None)
    identity: dict[str, Any] = attrs.get(energy.BENCHMARK) or next(
        (t.user_attrs[energy.BENCHMARK] for t in trials if energy.BENCHMARK in t.user_attrs), {}
    )
    budget = attrs.get(_study_attrs.BUDGET_J)
    lines = [
        f"## {study.study_name}",
        "",
        f"- **method**: `{method_of(study)}` (sampler `{attrs.get(_study_attrs.SAMPLER, '?')}`, "
        f"pruner `{attrs.get(_study_attrs.PRUNER, '?')}`), seed {attrs.get(_study_attrs.SEED)}",
        f"- **benchmark**: {identity.get('name')} ({identity.get('dataset')}, version "
        f"{identity.get('version')})"
        + (
            ": **simulated**, fitted on records of a reference simulator; its accuracies and "
            "energies are predictions, not measurements"
            if identity.get("simulated")
            else ""
        ),
        "- **budget**: "
        + ("none" if budget is None else f"{float(budget) / J_PER_KWH:.4g} kWh of search energy")
        + f"; spent {search_energy(study) / J_PER_KWH:.4g} kWh over {len(trials)} trials "
        f"({states.count(TrialState.COMPLETE)} complete, {states.count(TrialState.PRUNED)} "
        "pruned, all counted)",
        "- **best accuracy**: "
        + (
            "none yet"
            if best is None
            else f"{best:.2f}%, test regret {max(optimum - best, 0):.3g}"
        )
        + f" (from the optimum {optimum:.2f}%)",
        f"- **report interval**: {attrs.get(_study_attrs.REPORT_INTERVAL, '?')} epochs",
    ]
    if _study_attrs.PROTOCOL in attrs:
        lines.append(f"- **protocol**: {attrs[_study_attrs.PROTOCOL]}")
    lines += [
        "",
        f"The comparison figures cover {n_compared} studies (methods x seeds) of this storage on "
        "this benchmark: median and interquartile range over seeds. Per-trial energy, time and "
        "complexity are in the trials' user attributes (`eahas:*`).",
    ]
    return "\n".join(lines)
