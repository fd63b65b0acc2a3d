from __future__ import annotations

import numpy as np
import optuna
from optuna.pruners import MedianPruner
from optuna.pruners import SuccessiveHalvingPruner
from optuna.trial import TrialState
from optuna.trial import create_trial
import pytest

from optuna_eahas import eahas_objective
from optuna_eahas import energy
from optuna_eahas.energy import AdditivePenalty
from optuna_eahas.pruners import EnergyAwareHyperbandPruner
from optuna_eahas.pruners import EnergyAwareMedianPruner
from optuna_eahas.pruners import EnergyAwarePercentilePruner
from optuna_eahas.pruners import EnergyAwareSuccessiveHalvingPruner

optuna.logging.set_verbosity(optuna.logging.WARNING)
_DONE = (TrialState.COMPLETE, TrialState.PRUNED)


def _report(trial: optuna.Trial, value: float, *, step: int, joules: float) -> bool:
    """Record energy, report, and return the pruning decision (as eahas_objective does)."""
    energy.record(trial, joules, epochs=step)
    trial.report(value, step)
    return trial.should_prune()


def _completed(values: dict[int, float], *, joules: float, epochs: int, value: float = 0.0):
    return create_trial(
        state=TrialState.COMPLETE,
        value=value,
        intermediate_values=values,
        user_attrs={energy.ENERGY_J: joules, energy.EPOCHS: epochs},
    )


def test_successive_halving_judges_trials_at_the_same_energy_not_the_same_step() -> None:
    pruner = EnergyAwareSuccessiveHalvingPruner(min_energy_j=100.0, reduction_factor=2)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    first = study.ask()
    assert not _report(first, 0.1, step=1, joules=50.0)  # below the first rung (100 J)
    assert not _report(first, 0.5, step=2, joules=100.0)  # alone at rung 0: promoted
    assert study.trials[0].system_attrs == {"eahas:energy_rung:0:0": 0.5}
    # A cheap configuration reaches 100 J only at step 10, and is judged there.
    cheap = study.ask()
    assert not _report(cheap, 0.45, step=9, joules=90.0)
    assert _report(cheap, 0.4, step=10, joules=100.0)  # below 0.5: pruned
    # One report may pass several rungs (100 J and 200 J).
    strong = study.ask()
    assert not _report(strong, 0.6, step=1, joules=250.0)
    assert set(study.trials[2].system_attrs) == {
        "eahas:energy_rung:0:0",
        "eahas:energy_rung:0:1",
    }
    # At rung 1 (200 J) the first trial now competes with the strong one and loses.
    assert _report(first, 0.55, step=3, joules=200.0)


def test_successive_halving_decides_as_optuna_with_energy_proportional_to_steps() -> None:
    # With 100 J per step and rungs from 100 J, the rungs sit at Optuna's steps 1, 2, 4, ...,
    # so both pruners must take the same decisions, here over 60 trials run three at a time
    # (finished and running trials mixed, as the cached rung values must handle).
    rng = np.random.default_rng(0)
    ours = optuna.create_study(
        direction="maximize",
        pruner=EnergyAwareSuccessiveHalvingPruner(min_energy_j=100.0, reduction_factor=2),
    )
    theirs = optuna.create_study(
        direction="maximize",
        pruner=SuccessiveHalvingPruner(min_resource=1, reduction_factor=2),
    )
    decisions: list[tuple[bool, bool]] = []
    for _ in range(20):
        group = [(ours.ask(), theirs.ask(), rng.normal(size=8).cumsum()) for _ in range(3)]
        for step in range(1, 9):
            for trial_ours, trial_theirs, curve in group:
                if trial_ours.number in {t.number for t in ours.get_trials(states=_DONE)}:
                    continue
                pruned = (
                    _report(trial_ours, curve[step - 1], step=step, joules=100.0 * step),
                    _report(trial_theirs, curve[step - 1], step=step, joules=0.0),
                )
                decisions.append(pruned)
                if pruned[0]:
                    ours.tell(trial_ours, state=TrialState.PRUNED)
                    theirs.tell(trial_theirs, state=TrialState.PRUNED)
                elif step == 8:
                    ours.tell(trial_ours, curve[-1])
                    theirs.tell(trial_theirs, curve[-1])
    assert all(a == b for a, b in decisions)
    assert sum(a for a, _ in decisions) > 10


def test_successive_halving_minimizes_and_prunes_nan() -> None:
    pruner = EnergyAwareSuccessiveHalvingPruner(min_energy_j=10.0, reduction_factor=2)
    study = optuna.create_study(direction="minimize", pruner=pruner)
    assert not _report(study.ask(), 1.0, step=1, joules=10.0)
    assert _report(study.ask(), 2.0, step=1, joules=10.0)
    assert not _report(study.ask(), 0.5, step=1, joules=10.0)
    assert _report(study.ask(), float("nan"), step=1, joules=10.0)


def test_successive_halving_auto_waits_for_a_completed_trial() -> None:
    pruner = EnergyAwareSuccessiveHalvingPruner(reduction_factor=2)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    assert pruner.rung_energy_j(0) is None
    assert not _report(study.ask(), 0.9, step=1, joules=1e6)
    study.add_trial(_completed({1: 0.5}, joules=10_000.0, epochs=1))
    assert not _report(study.ask(), 0.8, step=1, joules=100.0)
    assert pruner.rung_energy_j(0) == pytest.approx(100.0)  # 1/100 of the largest
    assert _report(study.ask(), 0.7, step=1, joules=100.0)


def test_hyperband_brackets_judge_at_their_own_energies_and_compete_apart() -> None:
    pruner = EnergyAwareHyperbandPruner(min_energy_j=100.0, max_energy_j=900.0)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    study.add_trial(_completed({1: 0.0}, joules=900.0, epochs=1))
    brackets: dict[int, list[optuna.Trial]] = {}
    while any(len(brackets.get(b, [])) < 2 for b in range(3)):
        trial = study.ask()
        # Nothing is judged before the bracket's first rung: 100 J * 3 ** bracket.
        assert not _report(trial, 0.0, step=1, joules=1.0)
        brackets.setdefault(pruner.bracket_of(study, study.trials[trial.number]), []).append(trial)
    assert set(brackets) == {0, 1, 2}
    for bracket, trials in sorted(brackets.items()):
        first, second = trials[:2]
        level = 100.0 * 3**bracket
        assert not _report(first, 0.9 - bracket / 10, step=2, joules=level * 0.99)
        assert not _report(first, 0.9 - bracket / 10, step=3, joules=level)
        assert study.trials[first.number].system_attrs == {
            f"eahas:energy_rung:{bracket}:0": pytest.approx(0.9 - bracket / 10)
        }
        # The second trial of each bracket is compared with its bracket's first only: 0.85
        # loses in bracket 0 (to 0.9), wins in brackets 1 and 2 (against 0.8 and 0.7).
        assert _report(second, 0.85, step=3, joules=level) == (bracket == 0)


def test_median_compares_penalised_values_at_the_same_step() -> None:
    pruner = EnergyAwareMedianPruner(n_startup_trials=5)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for _ in range(5):
        # 80 % at step 5 for 1 Wh per epoch: the reference energy, so the score is 80.
        study.add_trial(_completed({5: 80.0, 10: 85.0}, joules=10 * 3600.0, epochs=10))
    optuna_median = optuna.create_study(direction="maximize", pruner=MedianPruner())
    for trial in study.trials:
        optuna_median.add_trial(trial)

    def decisions(value: float, joules_per_epoch: float) -> tuple[bool, bool]:
        ours, theirs = study.ask(), optuna_median.ask()
        return (
            _report(ours, value, step=5, joules=5 * joules_per_epoch),
            _report(theirs, value, step=5, joules=5 * joules_per_epoch),
        )

    # 85 % at 100 Wh per epoch: 85 * 100 ** -0.07 = 61.6 < 80, pruned; Optuna keeps it.
    assert decisions(85.0, 100 * 3600.0) == (True, False)
    # 78 % at 0.01 Wh per epoch: 78 * 0.01 ** -0.07 = 107 > 80, kept; Optuna prunes it.
    assert decisions(78.0, 36.0) == (False, True)
    assert decisions(81.0, 3600.0) == (False, False)


def test_percentile_reads_total_energy_at_the_compared_step() -> None:
    # 10 points per kWh of energy spent up to the step.
    pruner = EnergyAwarePercentilePruner(
        50.0, penalty=AdditivePenalty(lam=10.0), n_startup_trials=1
    )
    study = optuna.create_study(direction="maximize", pruner=pruner)
    # 2 kWh over 10 epochs: at step 5 it had spent 1 kWh, so it scores 80 - 10 = 70.
    study.add_trial(_completed({5: 80.0}, joules=2 * 3.6e6, epochs=10))
    assert not _report(study.ask(), 71.0, step=5, joules=0.0)
    assert _report(study.ask(), 75.0, step=5, joules=0.6 * 3.6e6)  # 75 - 6 = 69


def test_percentile_waits_for_startup_warmup_and_intervals() -> None:
    pruner = EnergyAwarePercentilePruner(
        90.0, n_startup_trials=2, n_warmup_steps=2, interval_steps=2
    )
    study = optuna.create_study(direction="maximize", pruner=pruner)
    study.add_trial(_completed({s: 90.0 for s in range(1, 7)}, joules=6 * 3600.0, epochs=6))
    trial = study.ask()
    assert not _report(trial, 10.0, step=2, joules=7200.0)  # one completed trial only
    study.add_trial(_completed({s: 90.0 for s in range(1, 7)}, joules=6 * 3600.0, epochs=6))
    trial = study.ask()
    assert not _report(trial, 10.0, step=1, joules=3600.0)  # warm-up
    assert _report(trial, 10.0, step=2, joules=7200.0)
    assert not _report(trial, 10.0, step=3, joules=10800.0)  # between checks
    assert _report(trial, 10.0, step=4, joules=14400.0)


@pytest.mark.parametrize(
    "pruner",
    [
        EnergyAwareSuccessiveHalvingPruner(min_energy_j=1.0),
        EnergyAwareHyperbandPruner(min_energy_j=1.0, max_energy_j=100.0),
        EnergyAwareMedianPruner(n_startup_trials=0),
    ],
    ids=type,
)
def test_clear_errors_without_energy_or_with_several_objectives(pruner) -> None:
    study = optuna.create_study(direction="maximize", pruner=pruner)
    study.add_trial(_completed({1: 1.0}, joules=100.0, epochs=1))
    trial = study.ask()
    trial.report(1.0, 1)
    with pytest.raises(ValueError, match=r"energy\.record"):
        trial.should_prune()
    multi = optuna.create_study(directions=["maximize", "minimize"])
    multi.ask()
    with pytest.raises(ValueError, match="multi-objective"):
        pruner.prune(multi, multi.trials[0])


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="min_energy_j"):
        EnergyAwareSuccessiveHalvingPruner(min_energy_j=0.0)
    with pytest.raises(ValueError, match="reduction_factor"):
        EnergyAwareSuccessiveHalvingPruner(reduction_factor=1)
    with pytest.raises(ValueError, match="max_energy_j"):
        EnergyAwareHyperbandPruner(max_energy_j="full")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="below"):
        EnergyAwareHyperbandPruner(min_energy_j=10.0, max_energy_j=5.0)
    with pytest.raises(ValueError, match="percentile"):
        EnergyAwarePercentilePruner(101.0)
    with pytest.raises(TypeError, match="penalty"):
        EnergyAwareMedianPruner(penalty="multiplicative")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_warmup_steps"):
        EnergyAwareMedianPruner(n_warmup_steps=-1)


@pytest.mark.parametrize(
    "pruner",
    [
        EnergyAwareSuccessiveHalvingPruner(),
        EnergyAwareHyperbandPruner(),
        EnergyAwareMedianPruner(n_warmup_steps=5),
    ],
    ids=type,
)
def test_drop_in_with_eahas_objective(pruner) -> None:
    objective = eahas_objective("cifar10", constraints="ignore", report_interval=5)
    study = optuna.create_study(
        direction="maximize", pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0)
    )
    study.optimize(objective, n_trials=40)
    states = [t.state for t in study.trials]
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states
    for t in study.trials:
        if t.state == TrialState.PRUNED:
            assert t.user_attrs[energy.EPOCHS] == t.last_step
            assert t.last_step < study.trials[t.number].params["max_epoch"]
