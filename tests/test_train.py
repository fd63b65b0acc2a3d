"""Real training: data loaders, augmentation, the training loop, the train-mode objective and
resumable collection. Everything runs on the CPU on a few hundred images at most."""

from __future__ import annotations

import json
from pathlib import Path
import pickle
import subprocess
import sys
from typing import Any

import numpy as np
import optuna
import pytest

from optuna_eahas.energy import EstimatedMeter

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from optuna_eahas import eahas_objective  # noqa: E402
from optuna_eahas import energy  # noqa: E402
from optuna_eahas.cli import main  # noqa: E402
from optuna_eahas.records import read_records  # noqa: E402
from optuna_eahas.train import ImageDataset  # noqa: E402
from optuna_eahas.train import _collect as collect_module  # noqa: E402
from optuna_eahas.train import augment  # noqa: E402
from optuna_eahas.train import collect  # noqa: E402
from optuna_eahas.train import load_dataset  # noqa: E402
from optuna_eahas.train import train_run  # noqa: E402

CIFAR_NPZ = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10" / "cifar10-jpeg.npz"
)
# The smallest RegNet of the space (about 20 MFLOPs).
TINY = {
    "depth": 6,
    "w0": 48,
    "wa": 8.0,
    "wm": 2.5,
    "group_width": 16,
    "learning_rate": 0.01,
    "max_epoch": 50,
    "lr_policy": "cos",
    "optimizer": "adam",
    "cutout": 16,
}


def _estimate_meter() -> EstimatedMeter:
    return EstimatedMeter(watts=100.0)


class _CountingMeter:
    """Counts measurement windows; raises ``error`` when window ``fail_at`` opens."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.inner = _estimate_meter()
        self.windows = 0
        self.fail_at = fail_at

    def measure(self) -> Any:
        self.windows += 1
        if self.windows == self.fail_at:
            raise KeyboardInterrupt
        return self.inner.measure()


@pytest.fixture(scope="module")
def cifar() -> ImageDataset:
    if not CIFAR_NPZ.is_file():
        pytest.skip(f"CIFAR-10 archive not found at {CIFAR_NPZ} (the shared data folder)")
    return load_dataset("cifar10", CIFAR_NPZ, subset=512 / 50_000).limit(test=256)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny image-folder CIFAR-10: 10 classes, 6 training and 2 test images each, noise
    whose mean brightness depends on the class; some 40x40 JPEGs to be resized."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for split, count in (("train", 6), ("test", 2)):
        for label in range(10):
            directory = root / split / f"class{label}"
            directory.mkdir(parents=True)
            for i in range(count):
                size, suffix = (40, "jpg") if i == 0 else (32, "png")
                pixels = rng.integers(0, 60, size=(size, size, 3)) + 20 * label
                Image.fromarray(pixels.astype(np.uint8)).save(directory / f"{i}.{suffix}")
    return root


@pytest.mark.slow
def test_training_raises_accuracy_above_chance(cifar: ImageDataset) -> None:
    assert cifar.train_images.shape == (512, 3, 32, 32)
    assert cifar.test_images.shape == (256, 3, 32, 32)
    seen: list[Any] = []
    epochs = list(
        train_run(
            TINY,
            dataset_dir=cifar,
            device="cpu",
            meter=_estimate_meter(),
            epochs=3,
            batch_size=64,
            on_epoch=seen.append,
        )
    )
    assert [m.epoch for m in epochs] == [1, 2, 3] and seen == epochs
    assert epochs[-1].test_accuracy > 15.0
    assert epochs[-1].train_loss < epochs[0].train_loss
    for m in epochs:
        assert m.train_energy_j > 0 and m.train_time_s > 0 and m.test_energy_j > 0
        assert m.energy_estimated and m.energy_source == "estimate"


def test_python_batches_loader(tmp_path: Path) -> None:
    batches = tmp_path / "cifar-10-batches-py"
    batches.mkdir()
    rng = np.random.default_rng(0)
    for name, count in [(f"data_batch_{i}", 4) for i in range(1, 6)] + [("test_batch", 3)]:
        data = rng.integers(0, 256, size=(count, 3072), dtype=np.uint8)
        data[0, :1024], data[0, 1024:2048], data[0, 2048:] = 10, 20, 30
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(x) for x in rng.integers(0, 10, size=count)],
            b"data": data,
            b"filenames": [f"{i}.png".encode() for i in range(count)],
        }
        with open(batches / name, "wb") as file:
            pickle.dump(batch, file, protocol=2)
    data = load_dataset("cifar10", tmp_path)
    assert data.train_images.shape == (20, 3, 32, 32) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (3, 3, 32, 32)
    assert data.train_images[0, :, 5, 7].tolist() == [10, 20, 30]
    assert data.train_labels.dtype == torch.int64 and data.data_fraction == 1.0
    half = load_dataset("cifar10", batches, subset=0.5, seed=3)
    assert len(half.train_labels) == 10 and half.data_fraction == 0.5
    again = data.subset(0.5, seed=3)
    assert torch.equal(half.train_images, again.train_images)


def test_image_folder_loader(folder: Path) -> None:
    data = load_dataset("cifar10", folder)
    assert data.train_images.shape == (60, 3, 32, 32)
    assert data.test_images.shape == (20, 3, 32, 32)
    assert torch.bincount(data.train_labels).tolist() == [6] * 10


def test_tiny_imagenet_loader_resizes_to_32(tmp_path: Path) -> None:
    root = tmp_path / "tiny-imagenet-200"
    wnids = ["n02", "n01", "n03"]
    (root / "val" / "images").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    annotations = []
    for k, wnid in enumerate(wnids):
        images = root / "train" / wnid / "images"
        images.mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (64, 64), (k * 50, 0, 0)).save(images / f"{wnid}_{i}.JPEG")
        Image.new("RGB", (64, 64), (k * 50, 0, 0)).save(root / "val" / "images" / f"val_{k}.JPEG")
        annotations.append(f"val_{k}.JPEG\t{wnid}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(annotations) + "\n")
    data = load_dataset("tinyimagenet", tmp_path)
    assert data.train_images.shape == (6, 3, 32, 32) and data.test_images.shape == (3, 3, 32, 32)
    # Classes in sorted wnid order: n01, n02, n03.
    assert data.test_labels.tolist() == [1, 0, 2]
    assert data.train_labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert abs(int(data.train_images[0, 0].float().mean()) - 50) <= 2


@pytest.mark.parametrize("dataset", ["cifar10", "tinyimagenet"])
def test_missing_dataset_says_where_to_put_it(tmp_path: Path, dataset: str) -> None:
    expected = "cifar-10-batches-py" if dataset == "cifar10" else "tiny-imagenet-200"
    with pytest.raises(FileNotFoundError, match=f"No {dataset} data in .*{expected}"):
        load_dataset(dataset, tmp_path / "nowhere")
    assert main(["collect", "--data-dir", str(tmp_path), "-o", str(tmp_path / "r.jsonl")]) == 1


def test_augmentation_crops_flips_and_cuts_out(folder: Path) -> None:
    data = load_dataset("cifar10", folder)
    images = torch.full((64, 3, 32, 32), 255, dtype=torch.uint8)
    plain = augment(images, data, cutout=0, generator=torch.Generator().manual_seed(1))
    cut = augment(images, data, cutout=16, generator=torch.Generator().manual_seed(1))
    assert plain.shape == cut.shape == (64, 3, 32, 32) and cut.dtype == torch.float32
    # Zero padding shows in some crops; the crops and flips are the same in both calls.
    assert (plain == 0).any() and (plain != 0).any()
    sides = []
    for a, b in zip(plain, cut, strict=True):
        changed = (a != b).any(0)
        assert (b[:, changed] == 0).all()
        rows, cols = changed.any(1).nonzero(), changed.any(0).nonzero()
        height, width = len(rows), len(cols)
        assert height * width == int(changed.sum()) and height <= 16 and width <= 16
        sides.append((height, width))
    assert (16, 16) in sides


def test_estimate_is_flagged_in_records_and_user_attributes(folder: Path, tmp_path: Path) -> None:
    data = load_dataset("cifar10", folder)
    objective = eahas_objective(
        mode="train",
        data_dir=data,
        device="cpu",
        meter=_estimate_meter(),
        epochs=1,
        search_space=TINY,
    )
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=1)
    attrs = study.trials[0].user_attrs
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE
    assert attrs[energy.ENERGY_ESTIMATED] is True
    assert attrs[energy.ENERGY_SOURCE] == "estimate"
    assert attrs[energy.ENERGY_J] > 0 and attrs[energy.EPOCHS] == 1
    assert attrs[energy.INFERENCE_ENERGY_J] > 0

    output = tmp_path / "records.jsonl"
    collect(
        data_dir=data,
        output=output,
        configs=[TINY],
        epochs=1,
        device="cpu",
        meter=_estimate_meter(),
    )
    (record,) = read_records(output)
    assert record.provenance.source == "estimated" and record.provenance.energy_estimated
    assert record.epochs == 1 and not record.complete
    assert "torch" in record.provenance.software
    assert record.train_loss is not None and record.train_accuracy is not None


def test_surrogate_and_train_modes_write_the_same_user_attributes(folder: Path) -> None:
    keys = {}
    for mode in ("surrogate", "train"):
        options = {"data_dir": folder, "device": "cpu", "meter": _estimate_meter(), "epochs": 1}
        objective = eahas_objective(
            mode=mode, search_space=TINY, **(options if mode == "train" else {})
        )
        study = optuna.create_study(direction="maximize")
        study.optimize(objective, n_trials=1)
        attrs = study.trials[0].user_attrs
        keys[mode] = set(attrs)
        keys[mode + " benchmark"] = set(attrs[energy.BENCHMARK])
    assert keys["train"] == keys["surrogate"]
    assert keys["train benchmark"] == keys["surrogate benchmark"]


def test_pruning_stops_training(folder: Path) -> None:
    class PruneAtOnce(optuna.pruners.BasePruner):
        def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
            return True

    meter = _CountingMeter()
    objective = eahas_objective(
        mode="train", data_dir=folder, device="cpu", meter=meter, epochs=5, search_space=TINY
    )
    study = optuna.create_study(direction="maximize", pruner=PruneAtOnce())
    study.optimize(objective, n_trials=1)
    assert study.trials[0].state == optuna.trial.TrialState.PRUNED
    assert study.trials[0].user_attrs[energy.EPOCHS] == 1
    # The flag probe, then one epoch's training and test pass: nothing after the prune.
    assert meter.windows == 3


def _configs(n: int) -> list[dict[str, Any]]:
    rates = (0.001, 0.003, 0.005, 0.01, 0.03)
    return [{**TINY, "learning_rate": rate} for rate in rates[:n]]


def test_interrupted_collection_resumes_without_duplicates(folder: Path, tmp_path: Path) -> None:
    data = load_dataset("cifar10", folder)
    output = tmp_path / "records.jsonl"
    storage = f"sqlite:///{tmp_path / 'collect.db'}"
    options = {"data_dir": data, "output": output, "epochs": 1, "device": "cpu"}
    # Killed while training the second configuration (window 3: its first training epoch).
    with pytest.raises(KeyboardInterrupt):
        collect(configs=_configs(3), storage=storage, meter=_CountingMeter(fail_at=3), **options)
    assert len(read_records(output)) == 1

    # A callback that stops the collector after the next record.
    class Stop(Exception):
        pass

    def stop(_record: Any) -> None:
        raise Stop

    with pytest.raises(Stop):
        collect(
            configs=_configs(3),
            storage=storage,
            meter=_estimate_meter(),
            on_record=stop,
            **options,
        )
    written = collect(configs=_configs(3), storage=storage, meter=_estimate_meter(), **options)
    assert len(written) == 1
    assert collect(configs=_configs(3), storage=storage, meter=_estimate_meter(), **options) == []
    records = read_records(output)
    rates = sorted(r.config["learning_rate"] for r in records)
    assert rates == [0.001, 0.003, 0.005]
    study = optuna.load_study(study_name="eahas-collect-cifar10-seed0", storage=storage)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 3
    assert states.count(optuna.trial.TrialState.FAIL) == 1
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.params["learning_rate"] for t in complete) == rates
    for trial in complete:
        assert trial.user_attrs[energy.ENERGY_ESTIMATED] is True
        assert trial.user_attrs["eahas:record"]["config"] == trial.params


def test_collect_command_resumes(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collect_module, "resolve_meter", lambda meter: _estimate_meter())
    configs = tmp_path / "configs.jsonl"
    configs.write_text("".join(json.dumps(c) + "\n" for c in _configs(3)))
    output = tmp_path / "records.jsonl"
    command = ["collect", "--data-dir", str(folder), "--configs", str(configs), "--epochs", "1"]
    command += ["--device", "cpu", "-o", str(output)]
    assert main([*command, "--n", "1"]) == 0
    assert main([*command, "--n", "3"]) == 0
    records = read_records(output)
    assert len(records) == 3
    assert len({json.dumps(r.config, sort_keys=True) for r in records}) == 3


def test_gpu_campaign_smoke_on_cpu_without_optuna(folder: Path, tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "scripts" / "gpu_campaign.py"
    # Optuna, SciPy, tqdm and SQLAlchemy made unimportable: the campaign must not need them.
    code = (
        "import runpy, sys\n"
        "for name in ('optuna', 'scipy', 'tqdm', 'sqlalchemy'):\n"
        "    sys.modules[name] = None\n"
        f"sys.argv[0] = {str(script)!r}\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')\n"
    )
    options = ["--device", "cpu", "--time-budget", "8", "--data-dir", str(folder)]
    result = subprocess.run(
        [sys.executable, "-c", code, *options, "--output-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "campaign.json").read_text())
    # A loaded machine may spend the whole budget in phase (a); phase (b) is then empty.
    assert summary["phases"]["measure"]["records"] >= 1
    for phase in ("measure", "curves"):
        count = summary["phases"][phase]["records"]
        path = tmp_path / f"{phase}.jsonl"
        records = read_records(path) if count else []
        assert len(records) == count
        assert all(r.provenance.device == summary["device"] for r in records)
    assert read_records(tmp_path / "measure.jsonl")[0].epochs <= 3
