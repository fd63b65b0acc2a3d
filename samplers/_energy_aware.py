from __future__ import annotations

from collections.abc import Sequence
import threading
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.samplers import RandomSampler
from optuna.storages import InMemoryStorage
from optuna.study import Study
from optuna.trial import FrozenTrial
from optuna.trial import Trial
from optuna.trial import TrialState

from optuna_eahas.energy import EnergyPenalty
from optuna_eahas.energy import MultiplicativePenalty
from optuna_eahas.samplers._history import FINISHED_WITH_VALUE
from optuna_eahas.samplers._history import TrialScorer
from optuna_eahas.samplers._history import check_single_objective


class EnergyAwareSampler(BaseSampler):
    """Makes any single-objective Optuna sampler optimise an energy-penalised score.

    EA-HAS-Bench (Dou et al., ICLR 2023, Sec. 5) makes search methods energy-aware by ranking
    configurations by accuracy penalised with training energy. This wrapper does that for any
    sampler (TPE, GP, Random, CMA-ES, QMC, NSGA-II on one objective): it keeps a *shadow*
    in-memory study holding a copy of every finished trial whose value (and intermediate
    values) is replaced by ``penalty``'s score, and lets ``base_sampler`` sample from the
    shadow study. Each new trial gets a running twin in the shadow study (so samplers that
    keep state in trial system attributes, like CMA-ES, work), and each finished trial is
    copied once, so the overhead per trial stays constant however long the study runs.

    Energy is read from the trial's user attributes (``optuna_eahas.energy``, written by
    ``eahas_objective`` or ``energy.record``). A trial without energy keeps its raw value,
    with one warning. Pruned trials are copied with their intermediate values penalised by
    the energy they spent; failed trials are not copied; running trials of other processes
    are invisible to the base sampler (a TPE ``constant_liar`` sees only this process's).

    Args:
        base_sampler: The sampler that proposes parameters.
        penalty: How energy penalises a value; defaults to the paper's EA-BANANAS form,
            :class:`~optuna_eahas.energy.MultiplicativePenalty` (``weight=-0.07`` on per-epoch
            training energy).
    """

    def __init__(self, base_sampler: BaseSampler, *, penalty: EnergyPenalty | None = None) -> None:
        if not isinstance(base_sampler, BaseSampler):
            raise TypeError(f"base_sampler must be an Optuna sampler, got {base_sampler!r}.")
        self.base_sampler = base_sampler
        self.penalty = penalty if penalty is not None else MultiplicativePenalty()
        self._scorer = TrialScorer(self.penalty)
        self._lock = threading.RLock()
        self._shadow: Study | None = None
        self._study_name: str | None = None
        self._mirrored: set[int] = set()
        self._twins: dict[int, tuple[Trial, FrozenTrial]] = {}

    def __repr__(self) -> str:
        return f"EnergyAwareSampler({self.base_sampler!r}, penalty={self.penalty!r})"

    @property
    def shadow_study(self) -> Study | None:
        """The in-memory study of penalised trials the base sampler sees (None before use)."""
        return self._shadow

    def reseed_rng(self) -> None:
        self.base_sampler.reseed_rng()

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if len(study.directions) > 1:
            return  # sampling raises the error
        with self._lock:
            self._twin(study, trial)

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        check_single_objective(study, type(self).__name__)
        with self._lock:
            shadow, twin = self._twin(study, trial)
            return self.base_sampler.infer_relative_search_space(shadow, twin)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        check_single_objective(study, type(self).__name__)
        with self._lock:
            shadow, twin = self._twin(study, trial)
            return self.base_sampler.sample_relative(shadow, twin, search_space)

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        check_single_objective(study, type(self).__name__)
        with self._lock:
            shadow, twin = self._twin(study, trial)
            return self.base_sampler.sample_independent(
                shadow, twin, param_name, param_distribution
            )

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        if len(study.directions) > 1:
            return
        with self._lock:
            if trial.number in self._mirrored:
                return
            shadow, twin = self._twin(study, trial)
            scores = None if values is None else [self._score(trial, values[0], study)]
            self.base_sampler.after_trial(shadow, twin, state, scores)
            self._mirror(study, trial, state=state, value=values[0] if values else None)

    # -- the shadow study ---------------------------------------------------------------------

    def _score(self, trial: FrozenTrial, value: float, study: Study) -> float:
        return self._scorer(trial, value, study.direction)

    def _twin(self, study: Study, trial: FrozenTrial) -> tuple[Study, FrozenTrial]:
        """The shadow study, synchronised, and the running twin of ``trial`` in it."""
        shadow = self._shadow_of(study)
        twin = self._twins.get(trial.number)
        if twin is None:
            if len(self._mirrored) < trial.number:
                # Trials finished outside this sampler's after_trial (other workers).
                self._sync(study)
            # ``ask`` lets the base sampler's ``before_trial`` see the twin. Like Optuna's own
            # Trial, the frozen twin is read once; what the sampler stores is read at the end.
            asked = shadow.ask()
            twin = self._twins[trial.number] = (asked, _running(shadow, asked.number))
        return shadow, twin[1]

    def _shadow_of(self, study: Study) -> Study:
        if self._shadow is None or self._study_name != study.study_name:
            self._shadow = optuna.create_study(
                storage=InMemoryStorage(),
                sampler=self.base_sampler,
                direction=study.direction,
            )
            self._study_name = study.study_name
            self._mirrored.clear()
            self._twins.clear()
        return self._shadow

    def _sync(self, study: Study) -> None:
        """Copy trials finished since the last sync (e.g. by other workers) into the shadow."""
        for trial in study.get_trials(deepcopy=False, states=FINISHED_WITH_VALUE):
            if trial.number not in self._mirrored:
                self._mirror(study, trial, state=trial.state, value=trial.value)

    def _mirror(
        self, study: Study, trial: FrozenTrial, *, state: TrialState, value: float | None
    ) -> None:
        shadow = self._shadow_of(study)
        self._mirrored.add(trial.number)
        system_attrs: dict[str, Any] = {}
        twin = self._twins.pop(trial.number, None)
        if twin is not None:
            # The twin carries what the base sampler stored (e.g. CMA-ES's generation); it is
            # closed as failed, invisibly to the base sampler, and replaced by the copy.
            system_attrs = _running(shadow, twin[0].number).system_attrs
            shadow.sampler = RandomSampler()
            try:
                shadow.tell(twin[0], state=TrialState.FAIL)
            finally:
                shadow.sampler = self.base_sampler
        if state not in FINISHED_WITH_VALUE or value is None:
            return
        intermediate = {
            step: self._score(trial, v, study) for step, v in trial.intermediate_values.items()
        }
        shadow.add_trial(
            optuna.trial.create_trial(
                state=state,
                value=self._score(trial, value, study),
                params=trial.params,
                distributions=trial.distributions,
                user_attrs=trial.user_attrs,
                system_attrs=system_attrs,
                intermediate_values=intermediate,
            )
        )


def _running(shadow: Study, number: int) -> FrozenTrial:
    # The shadow study is in memory, where trials are listed by number: an O(1) lookup
    # (filtering by state would scan the whole study every trial).
    trial = shadow.get_trials(deepcopy=False)[number]
    if trial.number != number or trial.state != TrialState.RUNNING:
        raise RuntimeError(f"Shadow trial {number} is not running.")
    return trial
