import optuna
from optuna.study import StudyDirection
import pytest

from optuna_eahas import energy
from optuna_eahas.energy import AdditivePenalty
from optuna_eahas.energy import MultiplicativePenalty


def _trial(joules: float | None, epochs: int | None) -> optuna.trial.FrozenTrial:
    attrs = {}
    if joules is not None:
        attrs[energy.ENERGY_J] = joules
    if epochs is not None:
        attrs[energy.EPOCHS] = epochs
    return optuna.trial.create_trial(value=90.0, user_attrs=attrs)


def test_multiplicative_penalty_is_the_papers_form() -> None:
    penalty = MultiplicativePenalty(weight=-0.07, reference_j=3600.0)
    # 90 % at twice the reference per-epoch energy: 90 * 2 ** -0.07.
    assert penalty(90.0, 7200.0, StudyDirection.MAXIMIZE) == pytest.approx(90 * 2**-0.07)
    # Costlier scores worse in both directions.
    assert penalty(10.0, 7200.0, StudyDirection.MINIMIZE) == pytest.approx(10 * 2**0.07)
    assert penalty(90.0, 1800.0, StudyDirection.MAXIMIZE) > 90.0


def test_multiplicative_penalty_reads_energy_per_epoch() -> None:
    penalty = MultiplicativePenalty()
    trial = _trial(joules=72_000.0, epochs=10)
    assert penalty.energy_of(trial) == pytest.approx(7200.0)
    assert penalty.score(trial, 90.0, StudyDirection.MAXIMIZE) == pytest.approx(90 * 2**-0.07)
    assert penalty.score(_trial(None, None), 90.0, StudyDirection.MAXIMIZE) is None
    assert penalty.score(_trial(100.0, None), 90.0, StudyDirection.MAXIMIZE) is None


def test_additive_penalty_charges_lambda_per_kwh_of_the_total() -> None:
    penalty = AdditivePenalty(lam=10.0)
    trial = _trial(joules=0.15 * 3.6e6, epochs=200)
    assert penalty.score(trial, 90.0, StudyDirection.MAXIMIZE) == pytest.approx(88.5)
    assert penalty.score(trial, 5.0, StudyDirection.MINIMIZE) == pytest.approx(6.5)
    assert AdditivePenalty(lam=0.0)(90.0, 1e9, StudyDirection.MAXIMIZE) == 90.0


@pytest.mark.parametrize(
    "make",
    [
        lambda: MultiplicativePenalty(weight=0.1),
        lambda: MultiplicativePenalty(reference_j=0.0),
        lambda: MultiplicativePenalty(weight=float("nan")),
        lambda: AdditivePenalty(lam=-1.0),
    ],
)
def test_bad_penalty_options_are_rejected(make) -> None:
    with pytest.raises(ValueError):
        make()
