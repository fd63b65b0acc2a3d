"""Optuna's own sampler conformance cases (``optuna.testing.pytest_samplers``) run against each
sampler of ``optuna_eahas.samplers``: subclassing a test case and overriding its ``sampler``
fixture (a factory of fresh samplers) runs every inherited test against that sampler."""

from __future__ import annotations

from collections.abc import Callable

import optuna
from optuna.samplers import BaseSampler
from optuna.testing.pytest_samplers import BasicSamplerTestCase
from optuna.testing.pytest_samplers import RelativeSamplerTestCase
from optuna.testing.pytest_samplers import SingleOnlySamplerTestCase
import pytest

from optuna_eahas.energy import AdditivePenalty
from optuna_eahas.energy import MultiplicativePenalty
from optuna_eahas.samplers import BananasSampler
from optuna_eahas.samplers import CostAwareSampler
from optuna_eahas.samplers import EnergyAwareSampler
from optuna_eahas.samplers import LocalSearchSampler

# The conformance objectives record no energy: the samplers warn once and use raw values.
pytestmark = pytest.mark.filterwarnings("ignore:Trial .* recorded no energy")


class _Conformance(BasicSamplerTestCase, RelativeSamplerTestCase, SingleOnlySamplerTestCase):
    pass


class TestEnergyAwareTPE(_Conformance):
    # Multivariate, so that TPE samples relatively from the first trial on, as Optuna's own
    # relative cases need.
    @pytest.fixture
    def sampler(self) -> Callable[[], BaseSampler]:
        return lambda: EnergyAwareSampler(
            optuna.samplers.TPESampler(seed=0, multivariate=True, n_startup_trials=0),
            penalty=MultiplicativePenalty(),
        )


class TestEnergyAwareCmaEs(BasicSamplerTestCase, SingleOnlySamplerTestCase):
    # CMA-ES samples numeric spaces relatively and everything else independently; Optuna
    # runs only these cases against it, as here.
    @pytest.fixture
    def sampler(self) -> Callable[[], BaseSampler]:
        return lambda: EnergyAwareSampler(
            optuna.samplers.CmaEsSampler(seed=0, n_startup_trials=2), penalty=AdditivePenalty()
        )


class TestLocalSearch(_Conformance):
    @pytest.fixture
    def sampler(self) -> Callable[[], BaseSampler]:
        return lambda: LocalSearchSampler(seed=0, n_startup_trials=2, patience=3)


class TestEnergyAwareLocalSearch(_Conformance):
    @pytest.fixture
    def sampler(self) -> Callable[[], BaseSampler]:
        return lambda: LocalSearchSampler(
            seed=0, penalty=MultiplicativePenalty(), n_startup_trials=2, patience=3
        )


class TestBananas(_Conformance):
    @pytest.fixture
    def sampler(self) -> Callable[[], BaseSampler]:
        return lambda: BananasSampler(
            seed=0, penalty=MultiplicativePenalty(), n_startup_trials=3, batch_size=3
        )


@pytest.mark.filterwarnings("ignore:CostAwareSampler. the trials recorded no energy")
class TestCostAware(_Conformance):
    @pytest.fixture
    def sampler(self) -> Callable[[], BaseSampler]:
        return lambda: CostAwareSampler(seed=0, n_startup_trials=3, batch_size=3)
