from __future__ import annotations

import subprocess
import sys
import textwrap

import optuna
from optuna.pruners import BasePruner
from optuna.pruners import NopPruner
from optuna.trial import TrialState
from optuna.trial import create_trial
import pytest

from optuna_eahas import energy
from optuna_eahas import search_energy
from optuna_eahas.pruners import BudgetPruner
from optuna_eahas.pruners import SearchEnergyBudget

optuna.logging.set_verbosity(optuna.logging.WARNING)

KWH = 3.6e6


class AlwaysPrune(BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def _trial(state: TrialState, kwh: float | None) -> optuna.trial.FrozenTrial:
    attrs = {} if kwh is None else {energy.ENERGY_J: kwh * KWH}
    value = 1.0 if state == TrialState.COMPLETE else None
    return create_trial(state=state, value=value, user_attrs=attrs)


def _epoch_objective(kwh_per_epoch: float, epochs: int):
    """An objective that records ``kwh_per_epoch`` per epoch before each report."""

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        for epoch in range(1, epochs + 1):
            energy.record(trial, epoch * kwh_per_epoch * KWH, epochs=epoch)
            trial.report(float(epoch), epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(epochs)

    return objective


def test_consumed_counts_every_state_and_follows_running_trials() -> None:
    study = optuna.create_study()
    for state, kwh in [
        (TrialState.COMPLETE, 1.0),
        (TrialState.PRUNED, 0.5),
        (TrialState.FAIL, 0.25),
        (TrialState.COMPLETE, None),  # a trial without energy counts as zero
    ]:
        study.add_trial(_trial(state, kwh))
    budget = SearchEnergyBudget(10.0)
    assert budget.consumed_j(study) == pytest.approx(1.75 * KWH)

    running = study.ask()
    running.set_user_attr(energy.ENERGY_J, 2.0 * KWH)
    assert budget.consumed_j(study) == pytest.approx(3.75 * KWH)
    # The running trial's energy grows; finished trials behind it were cached.
    running.set_user_attr(energy.ENERGY_J, 3.0 * KWH)
    study.add_trial(_trial(TrialState.PRUNED, 1.0))
    assert budget.consumed_j(study) == pytest.approx(5.75 * KWH)
    study.tell(running, state=TrialState.PRUNED)
    study.add_trial(_trial(TrialState.COMPLETE, 0.25))
    assert budget.consumed_j(study) == pytest.approx(6.0 * KWH)
    assert budget.consumed_j(study) == pytest.approx(search_energy(study))
    assert not budget.is_reached(study)
    study.add_trial(_trial(TrialState.COMPLETE, 4.0))
    assert budget.is_reached(study)


def test_one_budget_follows_the_study_it_is_given() -> None:
    budget = SearchEnergyBudget(1.0)
    first, second = optuna.create_study(), optuna.create_study()
    first.add_trial(_trial(TrialState.COMPLETE, 2.0))
    second.add_trial(_trial(TrialState.COMPLETE, 0.5))
    assert budget.consumed_j(first) == pytest.approx(2.0 * KWH)
    assert budget.consumed_j(second) == pytest.approx(0.5 * KWH)
    assert budget.consumed_j(first) == pytest.approx(2.0 * KWH)


@pytest.mark.parametrize(("kwh", "n_trials"), [(3.0, 3), (3.5, 4), (0.1, 1)])
def test_callback_stops_at_the_trial_that_reaches_the_budget(kwh: float, n_trials: int) -> None:
    study = optuna.create_study(direction="maximize")
    study.optimize(_epoch_objective(0.1, 10), n_trials=50, callbacks=[SearchEnergyBudget(kwh)])
    assert len(study.trials) == n_trials
    assert search_energy(study) == pytest.approx(n_trials * KWH)


def test_budget_pruner_prunes_once_the_budget_is_reached() -> None:
    study = optuna.create_study(direction="maximize", pruner=BudgetPruner(NopPruner(), kwh=2.5))
    budget = SearchEnergyBudget(2.5)
    study.optimize(_epoch_objective(0.1, 10), n_trials=50, callbacks=[budget])
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    # The third trial stops at the report that reached 2.5 kWh, not at its end.
    assert study.trials[2].last_step == 5
    assert search_energy(study) == pytest.approx(2.5 * KWH)


def test_budget_pruner_defers_to_the_wrapped_pruner_within_budget() -> None:
    study = optuna.create_study(
        direction="maximize", pruner=BudgetPruner(AlwaysPrune(), kwh=100.0)
    )
    study.optimize(_epoch_objective(0.1, 10), n_trials=3)
    assert [t.last_step for t in study.trials] == [1, 1, 1]
    assert all(t.state == TrialState.PRUNED for t in study.trials)


def test_bad_options_and_multi_objective_studies_are_rejected() -> None:
    for bad in (0, -1.0, float("nan"), float("inf"), "40"):
        with pytest.raises(ValueError, match="kwh"):
            SearchEnergyBudget(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kwh"):
        BudgetPruner(NopPruner(), kwh=0.0)
    with pytest.raises(TypeError, match="wrapped_pruner"):
        BudgetPruner(SearchEnergyBudget(1.0), kwh=1.0)  # type: ignore[arg-type]
    study = optuna.create_study(directions=["maximize", "minimize"])
    trial = study.ask()
    with pytest.raises(ValueError, match="multi-objective"):
        BudgetPruner(NopPruner(), kwh=1.0).prune(study, study.trials[trial.number])


def test_callback_works_for_multi_objective_studies() -> None:
    def objective(trial: optuna.Trial) -> tuple[float, float]:
        energy.record(trial, KWH)
        return trial.suggest_float("x", 0, 1), 1.0

    study = optuna.create_study(directions=["maximize", "minimize"])
    study.optimize(objective, n_trials=20, callbacks=[SearchEnergyBudget(2.0)])
    assert len(study.trials) == 2


_WORKER = """
import sys, time
import optuna
from optuna_eahas import energy
from optuna_eahas.pruners import BudgetPruner, SearchEnergyBudget
optuna.logging.set_verbosity(optuna.logging.WARNING)
storage, kwh = sys.argv[1], float(sys.argv[2])

def objective(trial):
    trial.suggest_float("x", 0, 1)
    for epoch in range(1, 6):
        time.sleep(0.01)
        energy.record(trial, epoch * 0.2 * 3.6e6, epochs=epoch)
        trial.report(float(epoch), epoch)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return 1.0

budget_pruner = BudgetPruner(optuna.pruners.NopPruner(), kwh=kwh)
for name, pruner in [("callback", None), ("prune", budget_pruner)]:
    study = optuna.load_study(study_name=name, storage=storage, pruner=pruner)
    study.optimize(objective, n_trials=100, callbacks=[SearchEnergyBudget(kwh)])
"""


def test_budget_holds_across_processes_sharing_sqlite(tmp_path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    for name in ("callback", "prune"):
        optuna.create_study(study_name=name, storage=storage, direction="maximize")
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(_WORKER))
    n_workers, kwh = 3, 3.0
    workers = [
        subprocess.Popen([sys.executable, str(script), storage, str(kwh)])
        for _ in range(n_workers)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0] * n_workers

    # Overshoot: at most one in-flight trial (1 kWh) per worker with the callback alone, one
    # report (0.2 kWh) per worker when the BudgetPruner stops them.
    for name, in_flight_kwh in [("callback", 1.0), ("prune", 0.2)]:
        study = optuna.load_study(study_name=name, storage=storage)
        spent_kwh = search_energy(study) / KWH
        assert all(t.state.is_finished() for t in study.trials)
        assert kwh <= spent_kwh <= kwh + n_workers * in_flight_kwh + 1e-9
        # No worker starts a trial after seeing the budget reached: at most one per worker
        # follows the trial that crossed it (in start order).
        cumulative, crossed_at = 0.0, None
        for t in sorted(study.trials, key=lambda t: t.datetime_start):
            cumulative += energy.consumed_energy(t) / KWH
            if crossed_at is None and cumulative >= kwh - 1e-9:
                crossed_at = t.number
        assert crossed_at is not None
        assert len(study.trials) - 1 - crossed_at <= n_workers
