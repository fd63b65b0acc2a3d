from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
import os
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from optuna_eahas import __version__
from optuna_eahas.records import RunRecord
from optuna_eahas.space import SearchSpace
from optuna_eahas.surrogate._artifact import ArtifactWriter
from optuna_eahas.surrogate._baselines import Pow3CurveModel
from optuna_eahas.surrogate._baselines import SVDLightGBMCurveModel
from optuna_eahas.surrogate._bcs_numpy import BCSEnsemble
from optuna_eahas.surrogate._bezier import bezier_labels
from optuna_eahas.surrogate._bezier import fit_bezier_list
from optuna_eahas.surrogate._bezier import sample_bezier
from optuna_eahas.surrogate._energy_models import EnergyTimeModel
from optuna_eahas.surrogate._energy_models import energy_targets
from optuna_eahas.surrogate._energy_models import fit_energy_models
from optuna_eahas.surrogate._features import surrogate_features
from optuna_eahas.surrogate._metrics import r2
from optuna_eahas.surrogate._metrics import validation_report
from optuna_eahas.surrogate._surrogate import SURROGATE_KIND
from optuna_eahas.surrogate._surrogate import SURROGATE_SCHEMA_VERSION
from optuna_eahas.surrogate._surrogate import NoiseModel

if TYPE_CHECKING:
    from optuna_eahas.surrogate._bcs_torch import BCSHyperparameters

Progress = Callable[[str], None]


@dataclass
class FittedSurrogate:
    """Everything :func:`fit_surrogate` produced, ready for :meth:`save`."""

    dataset: str
    members: list[dict[str, np.ndarray]]
    arch_dim: int
    hyperparameters: dict[str, Any]
    energy_models: dict[str, str]
    noise: NoiseModel
    metrics: dict[str, Any]
    sources: dict[str, int]
    n_records: int
    seed: int

    def save(
        self, directory: str | os.PathLike[str], *, data_card: str, overwrite: bool = False
    ) -> None:
        """Write the artifact: manifest, ``bcs.npz``, LightGBM texts, ``noise.npz``, data card."""
        with ArtifactWriter(directory, overwrite=overwrite) as writer:
            writer.write_arrays(
                "bcs.npz",
                {
                    f"member{k}.{name}": value
                    for k, member in enumerate(self.members)
                    for name, value in member.items()
                },
            )
            for name, text in self.energy_models.items():
                writer.write_text(f"{name}.txt", text)
            writer.write_arrays("noise.npz", self.noise.to_arrays())
            writer.write_text("DATA_CARD.md", data_card)
            writer.set_manifest(
                kind=SURROGATE_KIND,
                schema_version=SURROGATE_SCHEMA_VERSION,
                dataset=self.dataset,
                version=__version__,
                records={"total": self.n_records, "by_source": self.sources},
                simulated=set(self.sources) == {"simulated"},
                seed=self.seed,
                bcs={
                    "n_members": len(self.members),
                    "arch_dim": self.arch_dim,
                    "hyperparameters": self.hyperparameters,
                },
                metrics=self.metrics,
            )


def _split(n: int, seed: int, fractions: tuple[float, float]) -> tuple[np.ndarray, ...]:
    order = np.random.default_rng(seed).permutation(n)
    n_val, n_test = (max(1, int(round(n * f))) for f in fractions)
    return order[n_val + n_test :], order[:n_val], order[n_val : n_val + n_test]


def _noise_model(records: Sequence[RunRecord], fitted_curves: list[np.ndarray]) -> NoiseModel:
    """Residual spread of each record around its own Bézier fit, and energy variation."""
    bins = 10
    sums, counts = np.zeros(bins), np.zeros(bins)
    lag_products, lag_squares = 0.0, 0.0
    for record, fit in zip(records, fitted_curves, strict=True):
        residual = record.test_accuracy - fit
        index = np.minimum((np.arange(len(residual)) * bins) // len(residual), bins - 1)
        np.add.at(sums, index, residual**2)
        np.add.at(counts, index, 1)
        lag_products += float(np.sum(residual[1:] * residual[:-1]))
        lag_squares += float(np.sum(residual**2))
    log_energy = [np.log(r.train_energy_j[1:]) for r in records if r.epochs > 2]
    epoch_sd = float(np.median([values.std() for values in log_energy])) if log_energy else 0.0
    return NoiseModel(
        accuracy_sd=np.sqrt(sums / np.maximum(counts, 1)),
        accuracy_ar1=float(np.clip(lag_products / max(lag_squares, 1e-12), 0.0, 0.95)),
        energy_run_sd=0.0,
        energy_epoch_sd=epoch_sd,
    )


def fit_surrogate(
    records: Sequence[RunRecord],
    *,
    seed: int = 0,
    n_members: int = 5,
    n_trials: int = 8,
    search_timeout: float | None = None,
    search_epochs: tuple[int, int] = (20, 100),
    n_threads: int = 1,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    baselines: bool = True,
    hyperparameters: BCSHyperparameters | None = None,
    progress: Progress | None = None,
) -> FittedSurrogate:
    """Fit BCS and the energy/time models on records, and validate on held-out records.

    The records are split into training, validation (BCS hyperparameter search with Optuna,
    early stopping) and test parts; the report compares BCS with an SVD + LightGBM and a pow3
    baseline on the test part (paper Section 4.4, Table 2). ``hyperparameters`` skips the
    search. Without ``search_timeout`` the fit
    is deterministic for a seed. ``n_threads`` defaults to one torch thread: on small MLPs
    more threads than idle cores slow training down by an order of magnitude.
    """
    from optuna_eahas.surrogate._bcs_torch import fit_bcs_ensemble
    from optuna_eahas.surrogate._bcs_torch import search_bcs_hyperparameters

    say = progress or (lambda message: None)
    datasets = {r.dataset for r in records}
    if len(datasets) != 1:
        raise ValueError(f"Records must come from one dataset, got {sorted(datasets)}.")
    incomplete = sum(not r.complete for r in records)
    if incomplete:
        raise ValueError(f"{incomplete} records are incomplete; BCS needs whole learning curves.")
    if len(records) < 50:
        raise ValueError(f"Need at least 50 records to fit and validate, got {len(records)}.")
    dataset = datasets.pop()
    space = SearchSpace(dataset)
    columns = space.columns([r.config for r in records])
    features, arch_dim = surrogate_features(space, columns)
    max_epochs = columns["max_epoch"].astype(np.int64)
    curves = [r.test_accuracy for r in records]

    say(f"Fitting Bézier curves to {len(records)} learning curves")
    control = fit_bezier_list(curves)
    labels = bezier_labels(control, max_epochs).astype(np.float32)
    fitted_curves = [sample_bezier(control[i], int(max_epochs[i])) for i in range(len(records))]
    train, val, test = _split(len(records), seed, (validation_fraction, test_fraction))

    say(f"Searching BCS hyperparameters with Optuna ({n_trials} trials)")
    if hyperparameters is not None:
        chosen = hyperparameters
    elif n_trials > 0:
        chosen = search_bcs_hyperparameters(
            features[train],
            labels[train],
            features[val],
            labels[val],
            arch_dim=arch_dim,
            n_trials=n_trials,
            seed=seed,
            timeout=search_timeout,
            epochs=search_epochs,
            n_threads=n_threads,
        )
    else:
        from optuna_eahas.surrogate._bcs_torch import BCSHyperparameters

        chosen = BCSHyperparameters()
    say(f"Training {n_members} BCS members: {chosen}")
    members = fit_bcs_ensemble(
        features[train],
        labels[train],
        arch_dim=arch_dim,
        hyperparameters=chosen,
        n_members=n_members,
        seed=seed,
        validation=(features[val], labels[val]),
        n_threads=n_threads,
    )

    say("Fitting LightGBM energy and time models")
    targets = energy_targets(records)
    energy_models = fit_energy_models(
        features[train], {k: v[train] for k, v in targets.items()}, seed=seed
    )

    say(f"Validating on {len(test)} held-out records")
    ensemble = BCSEnsemble.from_arrays(members, arch_dim=arch_dim)
    test_labels = ensemble.predict(features[test])
    predicted = [sample_bezier(test_labels[j], int(max_epochs[i])) for j, i in enumerate(test)]
    true_test = [curves[i] for i in test]
    metrics: dict[str, Any] = {
        "split": {"train": len(train), "validation": len(val), "test": len(test), "seed": seed},
        "bezier_fit_r2": r2(np.concatenate(curves), np.concatenate(fitted_curves)),
        "bcs": validation_report(true_test, predicted, max_epochs[test]),
    }
    energy = EnergyTimeModel(energy_models).predict(features[test])
    metrics["energy"] = _energy_metrics(records, test, energy, max_epochs)
    if baselines:
        train_curves = [curves[i] for i in train]
        for name, model in (
            ("svd_lightgbm", SVDLightGBMCurveModel(seed=seed)),
            ("pow3", Pow3CurveModel(seed=seed)),
        ):
            say(f"Fitting baseline {name}")
            model.fit(features[train], train_curves, max_epochs[train])
            baseline_curves = model.predict(features[test], max_epochs[test])
            metrics[name] = validation_report(true_test, baseline_curves, max_epochs[test])
    noise = _noise_model([records[i] for i in train], [fitted_curves[i] for i in train])
    log_ratio = np.log(targets["epoch_energy_j"][test] / energy["epoch_energy_j"])
    noise = NoiseModel(
        noise.accuracy_sd, noise.accuracy_ar1, float(log_ratio.std()), noise.energy_epoch_sd
    )
    sources = Counter(r.provenance.source for r in records)
    return FittedSurrogate(
        dataset=dataset,
        members=members,
        arch_dim=arch_dim,
        hyperparameters=dict(chosen.__dict__),
        energy_models=energy_models,
        noise=noise,
        metrics=metrics,
        sources=dict(sources),
        n_records=len(records),
        seed=seed,
    )


def _energy_metrics(
    records: Sequence[RunRecord],
    test: np.ndarray,
    energy: dict[str, np.ndarray],
    max_epochs: np.ndarray,
) -> dict[str, float]:
    """R² of total training energy (TEC), test-pass energy (IEC) and total training time."""
    epochs = max_epochs[test]
    tec = energy["epoch_energy_j"] * (epochs - 1 + energy["first_epoch_energy_ratio"])
    runtime = energy["epoch_time_s"] * (epochs - 1 + energy["first_epoch_time_ratio"])
    return {
        "tec_r2": r2([records[i].total_train_energy_j for i in test], tec),
        "iec_r2": r2([records[i].test_energy_j.mean() for i in test], energy["test_energy_j"]),
        "runtime_r2": r2([records[i].total_train_time_s for i in test], runtime),
    }
