from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from optuna_eahas.cli import main
from optuna_eahas.records import write_records
from optuna_eahas.simulate import ReferenceSimulator
from optuna_eahas.surrogate import ArtifactError
from optuna_eahas.surrogate import Surrogate
from optuna_eahas.surrogate import fit_surrogate
from optuna_eahas.surrogate import surrogate_data_card

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def records() -> list:
    simulator = ReferenceSimulator("cifar10")
    configs, seeds = simulator.sample_configs(300, seed=5, constrained_fraction=0.5)
    return simulator.simulate(configs, seeds=seeds)


@pytest.fixture(scope="module")
def artifact(records: list, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from optuna_eahas.surrogate._bcs_torch import BCSHyperparameters

    fitted = fit_surrogate(
        records,
        n_members=2,
        seed=1,
        hyperparameters=BCSHyperparameters(width=32, depth=1, epochs=25, batch_size=64),
    )
    directory = tmp_path_factory.mktemp("artifact") / "cifar10-small"
    fitted.save(directory, data_card=surrogate_data_card(fitted))
    return directory


def test_small_end_to_end_fit_validates_on_held_out_records(artifact: Path) -> None:
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert manifest["records"] == {"total": 300, "by_source": {"simulated": 300}}
    assert manifest["simulated"] is True
    metrics = manifest["metrics"]
    assert metrics["split"] == {"train": 240, "validation": 30, "test": 30, "seed": 1}
    assert set(metrics) >= {"bcs", "svd_lightgbm", "pow3", "energy", "bezier_fit_r2"}
    assert metrics["bezier_fit_r2"] > 0.95
    # Even a tiny model learns the curves and the energy far better than a constant would.
    assert metrics["bcs"]["overall"]["curve_r2"] > 0.5
    assert metrics["energy"]["tec_r2"] > 0.8
    card = (artifact / "DATA_CARD.md").read_text()
    assert "simulated, not measured" in card


@pytest.mark.parametrize("length", [1, 7, 50, 100, 200, 500])
def test_predictions_have_requested_length(artifact: Path, length: int) -> None:
    surrogate = Surrogate.load(artifact)
    configs = surrogate.space.sample(4, seed=2)
    prediction = surrogate.predict(surrogate.space.columns(configs), max_epoch=length)
    assert prediction.test_accuracy.shape == (4, length)
    assert prediction.train_energy_j.shape == (4, length)
    assert np.all(prediction.train_energy_j > 0) and np.all(prediction.test_energy_j > 0)
    assert np.all((prediction.test_accuracy >= 0) & (prediction.test_accuracy <= 100))
    if length > 1:
        # The first epoch costs more than the steady ones (the energy model's first-epoch ratio).
        assert np.all(prediction.train_energy_j[:, 0] > prediction.train_energy_j[:, 1])


def test_noise_is_reproducible_for_a_seed(artifact: Path) -> None:
    surrogate = Surrogate.load(artifact)
    columns = surrogate.space.columns(surrogate.space.sample(3, seed=4))
    mean = surrogate.predict(columns, max_epoch=100)
    first = surrogate.predict(columns, max_epoch=100, noise=True, seed=7)
    again = surrogate.predict(columns, max_epoch=100, noise=True, seed=7)
    other = surrogate.predict(columns, max_epoch=100, noise=True, seed=8)
    assert np.array_equal(first.test_accuracy, again.test_accuracy)
    assert not np.allclose(first.test_accuracy, other.test_accuracy)
    assert not np.allclose(first.test_accuracy, mean.test_accuracy)
    assert np.array_equal(
        mean.test_accuracy, surrogate.predict(columns, max_epoch=100).test_accuracy
    )


def test_tampered_or_truncated_artifact_is_rejected(artifact: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(artifact, copy)
    model = copy / "epoch_energy_j.txt"
    model.write_text(model.read_text().replace("leaf_value=", "leaf_value=1", 1))
    with pytest.raises(ArtifactError, match="epoch_energy_j.txt"):
        Surrogate.load(copy)
    shutil.rmtree(copy)
    shutil.copytree(artifact, copy)
    weights = copy / "bcs.npz"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ArtifactError, match="bcs.npz"):
        Surrogate.load(copy)
    (copy / "bcs.npz").unlink()
    with pytest.raises(ArtifactError, match="bcs.npz"):
        Surrogate.load(copy)


def test_loading_needs_no_torch(artifact: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from optuna_eahas.surrogate import Surrogate\n"
        f"s = Surrogate.load({str(artifact)!r})\n"
        "columns = s.space.columns(s.space.sample(2, seed=0))\n"
        "print(s.predict(columns, max_epoch=10).test_accuracy.shape, 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "(2, 10) False" in result.stdout


def test_fit_cli(records: list, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "records.jsonl"
    write_records(path, records[:120])
    output = tmp_path / "artifact"
    args = [
        "fit",
        str(path),
        "-o",
        str(output),
        "--members",
        "1",
        "--trials",
        "1",
        "--no-baselines",
    ]
    # One search trial over 20-100 epochs is enough to exercise the whole command.
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "curve" in printed.lower() and "tec_r2" in printed
    assert Surrogate.load(output).dataset == "cifar10"
    assert main(args) == 1
    assert "--overwrite" in capsys.readouterr().err


def test_fit_rejects_mixed_or_incomplete_records(records: list) -> None:
    tiny = ReferenceSimulator("tinyimagenet")
    configs, seeds = tiny.sample_configs(2, seed=0, constrained_fraction=0.0)
    with pytest.raises(ValueError, match="one dataset"):
        fit_surrogate(records[:60] + tiny.simulate(configs, seeds=seeds))
    with pytest.raises(ValueError, match="at least 50"):
        fit_surrogate(records[:10])
