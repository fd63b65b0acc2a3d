"""Study user attributes written by ``eahas compare`` and read by the plots and the report.

Defined here once; import the names, never re-spell them. The benchmark's identity is stored
under :data:`optuna_eahas.energy.BENCHMARK`, the key its trials use.
"""

METHOD = "eahas:method"
"""The method, ``"sampler+pruner"`` (for example ``"tpe+median"``): studies are grouped by it."""
SAMPLER = "eahas:sampler"
PRUNER = "eahas:pruner"
SEED = "eahas:seed"
"""The sampler's seed."""
BUDGET_J = "eahas:budget_j"
"""The search-energy budget, in joules: the study stops once its trials spent this much."""
REPORT_INTERVAL = "eahas:report_interval"
OPTIMUM_ACCURACY = "eahas:optimum_accuracy"
"""The benchmark's best final accuracy (%) that test regret is measured from
(``optuna_eahas.benchmark.estimate_optimum``)."""
OPTIMUM_PARAMS = "eahas:optimum_params"
PROTOCOL = "eahas:protocol"
"""One line describing the comparison protocol the study ran under."""
FINISHED = "eahas:finished"
"""True once the study spent its budget."""
