"""Energy-aware samplers (installed as ``optuna_eahas.samplers``).

:class:`EnergyAwareSampler` makes any Optuna sampler energy-aware; :class:`LocalSearchSampler`
and :class:`BananasSampler` are EA-HAS-Bench's LS / EA-LS and BANANAS / EA-BANANAS (Dou et
al., ICLR 2023, Sec. 5); :class:`CostAwareSampler` picks configurations by expected
improvement per predicted joule.
"""

from optuna_eahas.samplers._bananas import BananasSampler
from optuna_eahas.samplers._cost_aware import CostAwareSampler
from optuna_eahas.samplers._energy_aware import EnergyAwareSampler
from optuna_eahas.samplers._local_search import LocalSearchSampler

__all__ = ["BananasSampler", "CostAwareSampler", "EnergyAwareSampler", "LocalSearchSampler"]
