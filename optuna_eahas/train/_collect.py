"""Collecting measured run records: train configurations and append one record per run.

Collection is resumable and can be shared: each finished run is appended to a JSON Lines file
in one write, and (with an Optuna storage) told as a trial of a study that several machines
share. Configurations already in the file or completed in the study are skipped; one being
trained by another live collector is left to it.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import json
import os
from pathlib import Path
import socket
from typing import TYPE_CHECKING
from typing import Any
import warnings

import numpy as np
import PIL
import torch

from optuna_eahas.records import Provenance
from optuna_eahas.records import RunRecord
from optuna_eahas.records import iter_records
from optuna_eahas.records import write_records
from optuna_eahas.space import SearchSpace
from optuna_eahas.train._data import ImageDataset
from optuna_eahas.train._data import load_dataset
from optuna_eahas.train._loop import EpochMetrics
from optuna_eahas.train._loop import device_name
from optuna_eahas.train._loop import resolve_device
from optuna_eahas.train._loop import resolve_meter
from optuna_eahas.train._loop import train_run

if TYPE_CHECKING:
    import optuna

DEFAULT_N = 20
_KEY = "eahas:collect_key"
_HOST = "eahas:collect_host"
_PID = "eahas:collect_pid"
_RECORD = "eahas:record"


def collect(
    *,
    dataset: str = "cifar10",
    data_dir: str | os.PathLike[str] | ImageDataset,
    output: str | os.PathLike[str],
    n: int | None = None,
    seed: int = 0,
    configs: Sequence[Mapping[str, Any]] | None = None,
    subset: float = 1.0,
    epochs: int | None = None,
    device: str | torch.device | None = None,
    meter: Any = None,
    storage: str | optuna.storages.BaseStorage | None = None,
    batch_size: int | None = None,
    on_record: Callable[[RunRecord], None] | None = None,
) -> list[RunRecord]:
    """Train configurations and append a :class:`~optuna_eahas.records.RunRecord` for each.

    Configurations are ``configs``, or else ``n`` (default 20) drawn as EA-HAS-Bench's sweep
    draws them (Section 3.1; on CIFAR-10 under the paper's complexity constraints), the
    ``i``-th from ``seed`` and ``i`` alone, so that a larger ``n`` extends a smaller one. Every
    run trains with ``seed`` on the same ``subset`` of the training data.

    A record is ``"measured"`` when every energy is a meter reading, else ``"estimated"``; runs
    cut short by ``epochs`` keep fewer epochs than their ``max_epoch``. A run interrupted
    before its end leaves nothing; running the same collection again trains only what is
    missing.

    Args:
        dataset: ``"cifar10"`` or ``"tinyimagenet"``.
        data_dir: The data's folder (see :func:`~optuna_eahas.train._data.load_dataset`) or a
            loaded dataset.
        output: The ``.jsonl`` (or ``.jsonl.gz``) file to append to.
        n: How many configurations (of ``configs``: the first ``n``; default all).
        seed: Seeds the drawn configurations, the subset and training.
        configs: Configurations to train instead of drawing them.
        subset: Fraction of the training set to train on (a reduced-fidelity collection).
        epochs: Stop each run after this many epochs.
        device: The torch device (default CUDA when available).
        meter: The energy meter (default: the best available).
        storage: An Optuna storage (URL or object): each run is also a trial of the study
            ``eahas-collect-<dataset>-seed<seed>``, claimed while it trains, with the run record
            in its user attributes.
        batch_size: Images per step (default the paper's 1024, at most the training set;
            noted in the provenance when another).
        on_record: Called with each record once it is written.

    Returns:
        The records written now.
    """
    space = SearchSpace(dataset)
    if configs is None:
        plan = [_draw(space, seed, i) for i in range(DEFAULT_N if n is None else n)]
    else:
        plan = [space.validate(config) for config in configs][:n]
    if isinstance(data_dir, ImageDataset):
        data = data_dir if subset == 1 else data_dir.subset(subset, seed=seed)
    else:
        data = load_dataset(dataset, data_dir, subset=subset, seed=seed)
    device = resolve_device(device)
    hardware = device_name(device)
    meter = resolve_meter(meter)
    output = Path(output)
    done = set()
    if output.exists():
        done = {
            _key(r.config, r.seed, r.data_fraction, r.epochs)
            for r in iter_records(output)
            if r.dataset == dataset
        }
    shared = None if storage is None else _SharedStudy(storage, dataset, seed)
    written = []
    for config in plan:
        planned = min(config["max_epoch"], epochs or config["max_epoch"])
        key = _key(config, seed, data.data_fraction, planned)
        if key in done or (shared is not None and shared.taken(key)):
            continue
        trial = None if shared is None else shared.claim(space, config, key)
        if shared is not None and trial is None:
            continue
        try:
            metrics = list(
                train_run(
                    config,
                    dataset=dataset,
                    dataset_dir=data,
                    device=device,
                    meter=meter,
                    epochs=epochs,
                    seed=seed,
                    batch_size=batch_size,
                )
            )
        except BaseException:
            if shared is not None:
                shared.fail(trial)
            raise
        batch = min(batch_size or space.settings.batch_size, len(data.train_labels))
        notes = None if batch == space.settings.batch_size else f"batch size {batch}"
        record = run_record(
            config,
            metrics,
            dataset=dataset,
            seed=seed,
            data_fraction=data.data_fraction,
            device=hardware,
            energy_meter=str(getattr(meter, "name", metrics[0].energy_source)),
            notes=notes,
        )
        write_records(output, [record], append=True)
        if shared is not None:
            shared.tell(trial, record, metrics[-1].energy_source)
        done.add(key)
        written.append(record)
        if on_record is not None:
            on_record(record)
    return written


def run_record(
    config: Mapping[str, Any],
    metrics: Sequence[EpochMetrics],
    *,
    dataset: str,
    seed: int,
    data_fraction: float,
    device: str,
    energy_meter: str,
    notes: str | None = None,
) -> RunRecord:
    """The run record of a training run's epochs: ``"measured"`` when no energy in it is an
    estimate, ``"estimated"`` otherwise; the software versions include PyTorch's."""
    estimated = any(m.energy_estimated for m in metrics)
    software = {"torch": torch.__version__, "pillow": PIL.__version__}
    if torch.version.cuda is not None:
        software["cuda"] = torch.version.cuda
    complexity = SearchSpace(dataset).complexity(config)

    def column(name: str) -> np.ndarray:
        return np.array([getattr(m, name) for m in metrics])

    return RunRecord(
        dataset=dataset,
        config=dict(config),
        seed=seed,
        data_fraction=data_fraction,
        epochs=len(metrics),
        test_accuracy=column("test_accuracy"),
        train_accuracy=column("train_accuracy"),
        train_loss=column("train_loss"),
        train_energy_j=column("train_energy_j"),
        train_time_s=column("train_time_s"),
        test_energy_j=column("test_energy_j"),
        test_time_s=column("test_time_s"),
        complexity={
            "flops": complexity.flops,
            "params": complexity.params,
            "acts": complexity.acts,
        },
        provenance=Provenance.create(
            "estimated" if estimated else "measured",
            device=device,
            energy_meter=energy_meter,
            software=software,
            notes=notes,
        ),
    )


def _draw(space: SearchSpace, seed: int, index: int) -> dict[str, Any]:
    entropy = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
    return space.sample(1, seed=entropy, constrained=space.constraints is not None)[0]


def _key(config: Mapping[str, Any], seed: int, data_fraction: float, epochs: int) -> str:
    """What makes two runs the same run."""
    return json.dumps(
        [dict(config), seed, round(data_fraction, 9), epochs], sort_keys=True, default=str
    )


class _SharedStudy:
    """The study that collectors share: a trial per run, claimed (RUNNING) while it trains.

    Claims left RUNNING by dead collectors on this host are failed when it opens; of two
    collectors that claim the same run at once, the later claim yields.
    """

    def __init__(
        self, storage: str | optuna.storages.BaseStorage, dataset: str, seed: int
    ) -> None:
        import optuna

        self.optuna = optuna
        self.study = optuna.create_study(
            storage=storage,
            study_name=f"eahas-collect-{dataset}-seed{seed}",
            direction="maximize",
            load_if_exists=True,
        )
        self.host = socket.gethostname()
        for trial in self._trials(optuna.trial.TrialState.RUNNING):
            attrs = trial.user_attrs
            if attrs.get(_HOST) == self.host and not _alive(attrs.get(_PID)):
                self.fail(trial.number)

    def _trials(self, *states: Any) -> list[optuna.trial.FrozenTrial]:
        return self.study.get_trials(deepcopy=False, states=states)

    def _holders(self, key: str) -> list[int]:
        """Trial numbers that completed the run or are training it."""
        states = self.optuna.trial.TrialState
        trials = self._trials(states.COMPLETE, states.RUNNING)
        return [t.number for t in trials if t.user_attrs.get(_KEY) == key]

    def taken(self, key: str) -> bool:
        return bool(self._holders(key))

    def claim(self, space: SearchSpace, config: Mapping[str, Any], key: str) -> Any:
        """A RUNNING trial whose parameters are ``config`` (a fixed sampler sets them), or
        :obj:`None` when another collector claimed the run first."""
        samplers = self.optuna.samplers
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", self.optuna.exceptions.ExperimentalWarning)
            fixed = samplers.PartialFixedSampler(dict(config), samplers.RandomSampler())
        self.study.sampler = fixed
        trial = self.study.ask(space.distributions)
        trial.set_user_attr(_KEY, key)
        trial.set_user_attr(_HOST, self.host)
        trial.set_user_attr(_PID, os.getpid())
        if min(self._holders(key)) < trial.number:
            self.fail(trial.number)
            return None
        return trial

    def fail(self, trial: Any) -> None:
        self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)

    def tell(self, trial: Any, record: RunRecord, source: str) -> None:
        """Complete the trial with the run's final accuracy and the per-trial energy
        contract's user attributes, plus the whole record."""
        from optuna_eahas import energy

        energy.record(
            trial,
            record.total_train_energy_j,
            seconds=record.total_train_time_s,
            epochs=record.epochs,
            estimated=record.provenance.energy_estimated,
            source=source,
        )
        trial.set_user_attr(energy.INFERENCE_ENERGY_J, float(record.test_energy_j[-1]))
        trial.set_user_attr(energy.INFERENCE_TIME_S, float(record.test_time_s[-1]))
        trial.set_user_attr(energy.FLOPS, record.complexity["flops"])
        trial.set_user_attr(energy.PARAMS, record.complexity["params"])
        trial.set_user_attr(energy.ACTS, record.complexity["acts"])
        trial.set_user_attr(_RECORD, record.to_dict())
        self.study.tell(trial, record.final_test_accuracy)


def _alive(pid: int | None) -> bool:
    """Whether process ``pid`` of this host still runs (an unknown one is taken as running)."""
    if not isinstance(pid, int) or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # It exists but belongs to another user.
        pass
    return True
