from __future__ import annotations

import math

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
import optuna_dashboard
from optuna_dashboard._custom_plot_data import get_plotly_graph_objects
import pytest

from optuna_eahas import energy
from optuna_eahas.visualization import _study_attrs
from optuna_eahas.visualization import plot_learning_curves
from optuna_eahas.visualization import plot_pareto_front_energy
from optuna_eahas.visualization import plot_regret_summary
from optuna_eahas.visualization import plot_regret_vs_energy
from optuna_eahas.visualization import plot_regret_vs_time
from optuna_eahas.visualization import save_dashboard_figures

KWH = 3.6e6
OPTIMUM = 100.0


def _study(
    method: str,
    trials: list[tuple[float | None, float]],
    *,
    hours_per_kwh: float = 1.0,
    **attrs: object,
) -> optuna.Study:
    """A study of ``trials``, (final accuracy or None for pruned, energy in kWh), in order.

    Each trial trains ``hours_per_kwh`` hours per kWh and reports a curve rising to its
    accuracy.
    """
    study = optuna.create_study(direction="maximize")
    study.set_user_attr(_study_attrs.METHOD, method)
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    for i, (value, kwh) in enumerate(trials):
        final = value if value is not None else 50.0
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.COMPLETE if value is not None else TrialState.PRUNED,
                value=value,
                params={"x": float(i)},
                distributions={"x": FloatDistribution(0, 100)},
                user_attrs={
                    energy.ENERGY_J: kwh * KWH,
                    energy.TIME_S: kwh * hours_per_kwh * 3600.0,
                },
                intermediate_values={1: final / 2, 2: final},
            )
        )
    return study


def _seeds(hours_per_kwh: float = 1.0) -> list[optuna.Study]:
    # Regret after each 1-kWh trial: seed 0: 10, 5, 1; seed 1: 20, 3, 3; seed 2: 15, 15, 2.
    return [
        _study("A", [(90, 1), (95, 1), (99, 1)], hours_per_kwh=hours_per_kwh),
        _study("A", [(80, 1), (97, 1), (97, 1)], hours_per_kwh=hours_per_kwh),
        _study("A", [(85, 1), (85, 1), (98, 1)], hours_per_kwh=hours_per_kwh),
    ]


def _expected_a(kwh: float) -> tuple[float, float, float] | None:
    """Percentiles 25, 50, 75 of the three seeds' regrets after ``kwh`` of search energy."""
    if kwh < 1:
        return None
    regrets = {1: [10, 20, 15], 2: [5, 3, 15], 3: [1, 3, 2]}[min(int(kwh), 3)]
    low, median, high = np.percentile(regrets, [25, 50, 75])
    return float(low), float(median), float(high)


def _by_name(figure: object) -> dict[str, list]:
    return {trace.name: trace for trace in figure.data}  # type: ignore[attr-defined]


def test_regret_vs_energy_draws_median_and_iqr_over_seeds_on_a_common_grid() -> None:
    figure = plot_regret_vs_energy(_seeds(), optimum=OPTIMUM)
    assert [t.name for t in figure.data] == ["A", "A", "A (median of 3 seeds)"]
    high, low, median = figure.data
    assert low.fill == "tonexty" and median.line.shape == "hv"
    assert figure.layout.yaxis.type == "log"
    assert "kWh" in figure.layout.xaxis.title.text
    assert "regret" in figure.layout.yaxis.title.text
    checked = 0
    for i, kwh in enumerate(median.x):
        if min(abs(kwh - k) for k in (1, 2, 3)) < 1e-6 and kwh < 3:
            continue  # too close to a step to tell which side the grid point is on
        expected = _expected_a(kwh)
        if expected is None:
            assert math.isnan(median.y[i]) and math.isnan(low.y[i]) and math.isnan(high.y[i])
            continue
        assert (low.y[i], median.y[i], high.y[i]) == pytest.approx(expected)
        checked += 1
    assert checked > 150
    assert median.x[-1] == pytest.approx(3.0)  # the grid ends where the longest study ends


def test_a_method_ends_at_its_shortest_seed_and_pruned_trials_count_as_energy() -> None:
    short = _study("B", [(None, 0.5), (99.5, 1.0)])  # a pruned trial first: 1.5 kWh in all
    figure = plot_regret_vs_energy([*_seeds(), short], optimum=OPTIMUM)
    median = _by_name(figure)["B (median of 1 seed)"]
    for kwh, y in zip(median.x, median.y, strict=True):
        if kwh < 1.5 - 1e-9 or kwh > 1.5 + 1e-9:
            assert math.isnan(y), kwh  # nothing before its first completed trial or after its end
    figure = plot_regret_vs_energy(
        [_study("B", [(None, 0.5), (99.5, 1.0), (99.0, 1.0)])], optimum=OPTIMUM
    )
    median = _by_name(figure)["B (median of 1 seed)"]
    defined = [kwh for kwh, y in zip(median.x, median.y, strict=True) if not math.isnan(y)]
    assert min(defined) >= 1.5 - 1e-9 and max(defined) == pytest.approx(2.5)


def test_regret_below_the_floor_is_drawn_at_the_floor() -> None:
    figure = plot_regret_vs_energy([_study("C", [(OPTIMUM + 1, 1.0)])], optimum=OPTIMUM)
    median = _by_name(figure)["C (median of 1 seed)"]
    assert median.y[-1] == pytest.approx(1e-3)


def test_the_stored_optimum_and_budget_are_used_and_conflicts_explained() -> None:
    studies = [
        _study("A", [(90, 1)], **{_study_attrs.OPTIMUM_ACCURACY: 95.0, _study_attrs.BUDGET_J: KWH})
    ]
    figure = plot_regret_vs_energy(studies)
    assert _by_name(figure)["A (median of 1 seed)"].y[-1] == pytest.approx(5.0)
    assert figure.layout.shapes[0].x0 == pytest.approx(1.0)  # the budget line
    with pytest.raises(ValueError, match="optimum="):
        plot_regret_vs_energy([_study("A", [(90, 1)])])
    other = _study("A", [(90, 1)], **{_study_attrs.OPTIMUM_ACCURACY: 96.0})
    with pytest.raises(ValueError, match="different optima"):
        plot_regret_vs_energy([*studies, other])


def test_regret_vs_time_uses_the_recorded_training_time() -> None:
    # Time is not energy: every 1-kWh trial of these seeds took two hours.
    figure = plot_regret_vs_time(_seeds(hours_per_kwh=2.0), optimum=OPTIMUM)
    assert "(h" in figure.layout.xaxis.title.text
    median = figure.data[2]
    assert median.x[-1] == pytest.approx(6.0)
    i = int(np.searchsorted(median.x, 4.5))
    assert median.y[i] == pytest.approx(_expected_a(2.5)[1])  # two trials done after 4.5 h


def test_pareto_front_keeps_the_configurations_no_other_beats() -> None:
    a = _study("A", [(90, 1.0), (95, 2.0), (93, 3.0), (None, 0.1)])
    b = _study("B", [(80, 0.5), (96, 2.0), (96, 2.5)])
    figure = plot_pareto_front_energy([a, b])
    traces = _by_name(figure)
    assert set(traces) == {
        "A (3 configurations)",
        "B (3 configurations)",
        "Pareto front (3 configurations)",
    }
    front = traces["Pareto front (3 configurations)"]
    assert list(front.x) == pytest.approx([0.5, 1.0, 2.0])
    assert list(front.y) == [80, 90, 96]
    assert figure.layout.xaxis.type == "log"
    assert "kWh" in figure.layout.xaxis.title.text
    assert "accuracy (%)" in figure.layout.yaxis.title.text


def test_learning_curves_show_each_methods_best_configurations() -> None:
    figure = plot_learning_curves([*_seeds(), _study("B", [(70, 1), (75, 1)])], n_best=2)
    names = [t.name for t in figure.data]
    assert len(names) == 4
    assert names[0].startswith("A: 99.00%") and names[1].startswith("A: 98.00%")
    assert names[2].startswith("B: 75.00%") and names[3].startswith("B: 70.00%")
    assert list(figure.data[0].x) == [1, 2] and list(figure.data[0].y) == [49.5, 99.0]
    assert figure.layout.xaxis.title.text == "epoch"
    with pytest.raises(ValueError, match="n_best"):
        plot_learning_curves(_seeds(), n_best=0)


def test_summary_table_gives_regret_at_budget_and_energy_to_reach_regrets() -> None:
    seeds = _seeds()
    for study in seeds:
        study.set_user_attr(_study_attrs.BUDGET_J, 2.5 * KWH)
    figure = plot_regret_summary(seeds, optimum=OPTIMUM, regret_levels=(3.0, 1.0))
    header = figure.data[0].header.values
    row = [column[0] for column in figure.data[0].cells.values]
    assert header[4].startswith("regret at the budget, 2.5 kWh")
    assert row[:4] == ["A", "3", "9 / 0", "3"]
    assert row[4] == "5 [4, 10]"  # regrets at 2.5 kWh: 5, 3, 15
    assert row[5] == "3 (3/3)"  # seeds reach regret <= 3 at 3, 2 and 3 kWh
    assert row[6] == "not reached (1/3)"
    with pytest.raises(ValueError, match="regret_levels"):
        plot_regret_summary(seeds, optimum=OPTIMUM, regret_levels=(0.0,))


def test_only_single_objective_maximisations_are_plotted() -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    with pytest.raises(ValueError, match="single-objective maximisation"):
        plot_regret_vs_energy(study, optimum=OPTIMUM)
    with pytest.raises(ValueError, match="No study"):
        plot_pareto_front_energy([])


def test_dashboard_figures_and_notes_are_saved_into_every_study() -> None:
    seeds = _seeds()
    for study in seeds:
        study.set_user_attr(_study_attrs.BUDGET_J, 3 * KWH)
    save_dashboard_figures(seeds, optimum=OPTIMUM)
    save_dashboard_figures(seeds, optimum=OPTIMUM)  # saving again replaces, never duplicates
    for study in seeds:
        graphs = get_plotly_graph_objects(study._storage.get_study_system_attrs(study._study_id))
        assert sorted(graphs) == [
            "eahas-comparison-regret-vs-energy",
            "eahas-comparison-regret-vs-time",
            "eahas-comparison-summary",
            "eahas-learning-curves",
            "eahas-pareto-front-energy",
        ]
        assert '"A (median of 3 seeds)"' in graphs["eahas-comparison-regret-vs-energy"]
        note = optuna_dashboard.get_note(study)
        assert "budget**: 3 kWh" in note and "optimum 100.00%" in note
        assert f"over {len(study.trials)} trials" in note
