from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import os
from typing import Any

import numpy as np

from optuna_eahas.space import SearchSpace
from optuna_eahas.surrogate._artifact import Artifact
from optuna_eahas.surrogate._bcs_numpy import BCSEnsemble
from optuna_eahas.surrogate._bezier import sample_bezier
from optuna_eahas.surrogate._energy_models import TARGETS
from optuna_eahas.surrogate._energy_models import EnergyTimeModel
from optuna_eahas.surrogate._features import surrogate_features

SURROGATE_KIND = "eahas-surrogate"
SURROGATE_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class NoiseModel:
    """How a single simulated run scatters around the surrogate's mean (Section 4.2).

    ``accuracy_sd`` is the spread of per-epoch accuracy residuals in ten bins of relative
    epoch (early bins are noisier), ``accuracy_ar1`` their lag-one autocorrelation,
    ``energy_run_sd`` the run-to-run spread of log energy and ``energy_epoch_sd`` the
    epoch-to-epoch spread of log energy within a run; all measured on the fitting records.
    """

    accuracy_sd: np.ndarray
    accuracy_ar1: float
    energy_run_sd: float
    energy_epoch_sd: float

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "accuracy_sd": self.accuracy_sd,
            "scalars": np.array([self.accuracy_ar1, self.energy_run_sd, self.energy_epoch_sd]),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> NoiseModel:
        ar1, run_sd, epoch_sd = (float(v) for v in arrays["scalars"])
        return cls(np.asarray(arrays["accuracy_sd"], dtype=np.float64), ar1, run_sd, epoch_sd)


@dataclass(frozen=True)
class SurrogatePrediction:
    """Predicted runs of a batch of configurations, SI units, one row per configuration.

    ``test_accuracy``, ``train_energy_j`` and ``train_time_s`` are per epoch, shape
    ``(n, max_epoch)``; ``test_energy_j`` and ``test_time_s`` are one test pass (the paper's
    inference energy and time).
    """

    test_accuracy: np.ndarray
    train_energy_j: np.ndarray
    train_time_s: np.ndarray
    test_energy_j: np.ndarray
    test_time_s: np.ndarray


class Surrogate:
    """EA-HAS-Bench's surrogate: BCS learning curves plus LightGBM energy and time models.

    Inference is NumPy only. Load one with :meth:`load`; fit one with
    :func:`optuna_eahas.surrogate.fit_surrogate`.
    """

    def __init__(
        self,
        *,
        dataset: str,
        curves: BCSEnsemble,
        energy: EnergyTimeModel,
        noise: NoiseModel,
        manifest: Mapping[str, Any],
        data_card: str = "",
    ) -> None:
        self.space = SearchSpace(dataset)
        self.curves = curves
        self.energy = energy
        self.noise = noise
        self.manifest = dict(manifest)
        self.data_card = data_card

    @property
    def dataset(self) -> str:
        return self.space.dataset

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> Surrogate:
        """Load an artifact directory, verifying every file's hash (see ``Artifact``)."""
        artifact = Artifact.open(directory)
        manifest = artifact.manifest
        if manifest.get("kind") != SURROGATE_KIND:
            raise ValueError(
                f"{directory}: not a surrogate artifact (kind {manifest.get('kind')!r})."
            )
        members = artifact.arrays("bcs.npz")
        n_members = int(manifest["bcs"]["n_members"])
        prefixes = [f"member{k}." for k in range(n_members)]
        member_arrays = [
            {name[len(p) :]: value for name, value in members.items() if name.startswith(p)}
            for p in prefixes
        ]
        return cls(
            dataset=manifest["dataset"],
            curves=BCSEnsemble.from_arrays(
                member_arrays, arch_dim=int(manifest["bcs"]["arch_dim"])
            ),
            energy=EnergyTimeModel({name: artifact.text(f"{name}.txt") for name in TARGETS}),
            noise=NoiseModel.from_arrays(artifact.arrays("noise.npz")),
            manifest=manifest,
            data_card=artifact.text("DATA_CARD.md"),
        )

    def predict(
        self,
        columns: Mapping[str, np.ndarray],
        *,
        max_epoch: int | None = None,
        noise: bool = False,
        seed: int | None = None,
    ) -> SurrogatePrediction:
        """Predict validated configurations given as column arrays.

        Args:
            columns: Parameter arrays (see ``SearchSpace.columns``).
            max_epoch: Curve length; defaults to each configuration's ``max_epoch`` (then all
                rows must share it, or pass a length explicitly).
            noise: :obj:`False` gives the ensemble mean (a deterministic benchmark); :obj:`True`
                gives one realistic run: a random ensemble member plus per-epoch noise.
            seed: Seeds the noise; the same seed gives the same run.
        """
        if max_epoch is None:
            lengths = np.unique(np.asarray(columns["max_epoch"]))
            if len(lengths) != 1:
                raise ValueError("Configurations have different max_epoch; pass max_epoch.")
            max_epoch = int(lengths[0])
        features, _ = surrogate_features(self.space, columns)
        n = len(features)
        rng = np.random.default_rng(seed) if noise else None
        if rng is None:
            labels = self.curves.predict(features)
        else:
            labels = self.curves.predict_member(features, int(rng.integers(self.curves.n_members)))
        accuracy = sample_bezier(labels, max_epoch)
        values = self.energy.predict(features)
        epoch_energy = np.repeat(values["epoch_energy_j"][:, None], max_epoch, axis=1)
        epoch_time = np.repeat(values["epoch_time_s"][:, None], max_epoch, axis=1)
        epoch_energy[:, 0] *= values["first_epoch_energy_ratio"]
        epoch_time[:, 0] *= values["first_epoch_time_ratio"]
        if rng is not None:
            accuracy = accuracy + self._accuracy_noise(rng, n, max_epoch)
            run = rng.normal(0.0, self.noise.energy_run_sd, size=(n, 1))
            jitter = rng.normal(0.0, self.noise.energy_epoch_sd, size=(n, max_epoch))
            epoch_energy = epoch_energy * np.exp(run + jitter)
        return SurrogatePrediction(
            # A diverging configuration's curve can dip just below 0 %: accuracies are percentages.
            test_accuracy=np.clip(accuracy, 0.0, 100.0),
            train_energy_j=epoch_energy,
            train_time_s=epoch_time,
            test_energy_j=values["test_energy_j"],
            test_time_s=values["test_time_s"],
        )

    def _accuracy_noise(self, rng: np.random.Generator, n: int, length: int) -> np.ndarray:
        sd = self.noise.accuracy_sd
        bins = np.minimum((np.arange(length) * len(sd)) // length, len(sd) - 1)
        from scipy.signal import lfilter

        phi = self.noise.accuracy_ar1
        walk = lfilter([np.sqrt(1.0 - phi**2)], [1.0, -phi], rng.standard_normal((n, length)))
        return walk * sd[bins]
