"""A time-budgeted measurement campaign on one GPU: measured run records for EA-HAS-Bench.

Two phases share ``--time-budget`` (seconds, data loading included):

(a) Energy: per-epoch training energy and time, and the test pass's energy and time, of as
    many CIFAR-10 architectures as fit in ``--measure-share`` of the budget. Each is drawn as
    the paper's sweep draws them (Section 3.1, under its complexity constraints) and trained
    for ``--measure-epochs`` epochs on the whole training set, after an unrecorded warm-up
    that brings the GPU to a stable temperature. Written to ``measure.jsonl``.
(b) Learning curves: complete runs (all ``max_epoch`` epochs) at ``--curve-subset`` of the
    training data with the rest of the budget, written to ``curves.jsonl``. A run that the
    budget cuts short is kept with the epochs it finished.

Records follow the run-record schema (``optuna_eahas.records``), one appended per run;
``campaign.json`` sums the campaign up. The budget is checked between epochs: a run is not
started, nor an epoch begun, that the last epoch's duration says would end past it.

It needs only PyTorch, NumPy, Pillow and pynvml (through the project's NVML meter), not
Optuna: the project's modules are imported as packages whose ``__init__`` files are skipped
(``optuna_eahas``'s imports the Optuna objective), and when Optuna is not installed, the one
Optuna import left on this path (``optuna.distributions`` in ``space/_space.py``, used only by
``SearchSpace.distributions``, which nothing here calls) is given placeholder classes.

On a GPU machine, with the data in the working tree::

    python scripts/gpu_campaign.py --data-dir shared/data/cifar10 --time-budget 480 \\
        --output-dir "$OUT"

A CPU smoke test (256 training and test images, no warm-up)::

    python scripts/gpu_campaign.py --device cpu --time-budget 20 --output-dir /tmp/campaign
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
from pathlib import Path
import re
import sys
import time
import types
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
_SKIPPED_INITS = (
    "optuna_eahas",
    "optuna_eahas.energy",
    "optuna_eahas.simulate",
    "optuna_eahas.train",
)
_OPTUNA_NAMES = (
    "BaseDistribution",
    "CategoricalDistribution",
    "FloatDistribution",
    "IntDistribution",
)


def import_project() -> None:
    """Make ``optuna_eahas``'s training modules importable without Optuna (see above)."""
    if importlib.util.find_spec("optuna") is None:
        optuna = types.ModuleType("optuna")
        distributions = types.ModuleType("optuna.distributions")
        for name in _OPTUNA_NAMES:
            setattr(distributions, name, type(name, (), {"__module__": distributions.__name__}))
        optuna.distributions = distributions  # type: ignore[attr-defined]
        sys.modules.update({"optuna": optuna, "optuna.distributions": distributions})
    for name in _SKIPPED_INITS:
        package = types.ModuleType(name)
        package.__path__ = [str(ROOT / name.replace(".", "/"))]
        sys.modules[name] = package
    # Provenance.create records optuna_eahas.__version__.
    found = re.search(r'__version__ = "(.+)"', (ROOT / "optuna_eahas" / "__init__.py").read_text())
    sys.modules["optuna_eahas"].__version__ = found[1] if found else "unknown"  # type: ignore[attr-defined]


def _default_data_dir() -> Path:
    for candidate in (
        ROOT / "shared" / "data" / "cifar10",
        ROOT.parent / "shared" / "data" / "cifar10",
    ):
        if candidate.exists():
            return candidate
    return ROOT / "shared" / "data" / "cifar10"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=_default_data_dir(),
        help="CIFAR-10 (cifar10-jpeg.npz, cifar-10-batches-py, or image folders; default "
        "shared/data/cifar10 in or beside the repository)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        required=True,
        help="for measure.jsonl, curves.jsonl and campaign.json",
    )
    parser.add_argument("--time-budget", type=float, required=True, help="seconds, in all")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--measure-share", type=float, default=0.5, help="budget share of phase (a)"
    )
    parser.add_argument("--measure-epochs", type=int, default=3, help="epochs per architecture")
    parser.add_argument("--curve-subset", type=float, default=0.1, help="data fraction of (b)")
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds (default 30 on CUDA, 0 on CPU)"
    )
    parser.add_argument(
        "--max-images",
        type=int,
        default=None,
        help="cap on training and test images (default none on CUDA, 256 on CPU)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="default 1024")
    args = parser.parse_args(argv)
    cpu = args.device == "cpu"
    if args.warmup is None:
        args.warmup = 0.0 if cpu else 30.0
    if args.max_images is None and cpu:
        args.max_images = 256
    return args


class Campaign:
    """Runs one phase's configurations until its deadline, appending a record per run."""

    def __init__(self, args: argparse.Namespace) -> None:
        from optuna_eahas.space import SearchSpace
        from optuna_eahas.train._loop import device_name
        from optuna_eahas.train._loop import resolve_device
        from optuna_eahas.train._loop import resolve_meter

        self.args = args
        self.space = SearchSpace("cifar10")
        self.device = resolve_device(args.device)
        self.device_name = device_name(self.device)
        self.meter = resolve_meter(None)
        self.epoch_s = 0.0
        self.summary: dict[str, Any] = {"device": self.device_name, "phases": {}}

    def draw(self, phase: int, index: int) -> dict[str, Any]:
        entropy = int(np.random.SeedSequence([self.args.seed, phase, index]).generate_state(1)[0])
        return self.space.sample(1, seed=entropy, constrained=True)[0]

    def fits(self, deadline: float) -> bool:
        return time.monotonic() + self.epoch_s < deadline

    def train(
        self, config: dict[str, Any], data: Any, *, epochs: int | None, deadline: float
    ) -> list[Any]:
        from optuna_eahas.train._loop import train_run

        metrics: list[Any] = []
        stream = train_run(
            config,
            dataset_dir=data,
            device=self.device,
            meter=self.meter,
            epochs=epochs,
            seed=self.args.seed,
            batch_size=self.args.batch_size,
        )
        with contextlib.closing(stream):
            for epoch in stream:
                metrics.append(epoch)
                self.epoch_s = epoch.train_time_s + epoch.test_time_s
                if not self.fits(deadline):
                    break
        return metrics

    def phase(
        self, name: str, number: int, data: Any, *, epochs: int | None, deadline: float
    ) -> None:
        from optuna_eahas.records import write_records
        from optuna_eahas.train._collect import run_record

        path = self.args.output_dir / f"{name}.jsonl"
        runs = cut = 0
        started = time.monotonic()
        index = 0
        while self.fits(deadline):
            config = self.draw(number, index)
            index += 1
            metrics = self.train(config, data, epochs=epochs, deadline=deadline)
            if not metrics:
                break
            planned = min(epochs or config["max_epoch"], config["max_epoch"])
            notes = f"gpu_campaign phase {name}"
            if len(metrics) < planned:
                notes += "; cut short by the time budget"
                cut += 1
            record = run_record(
                config,
                metrics,
                dataset="cifar10",
                seed=self.args.seed,
                data_fraction=data.data_fraction,
                device=self.device_name,
                energy_meter=str(getattr(self.meter, "name", metrics[0].energy_source)),
                notes=notes,
            )
            write_records(path, [record], append=True)
            runs += 1
            print(
                f"[{name}] {runs:3d}  {record.epochs:3d} epochs  "
                f"{record.total_train_energy_j:10.1f} J  {record.final_test_accuracy:6.2f} %",
                flush=True,
            )
        self.summary["phases"][name] = {
            "records": runs,
            "cut_short": cut,
            "seconds": round(time.monotonic() - started, 1),
            "data_fraction": data.data_fraction,
        }

    def warm_up(self, data: Any, seconds: float) -> None:
        """Train unrecorded until the device has worked for ``seconds`` (thermal steady state)."""
        if seconds > 0:
            self.train(self.draw(0, 0), data, epochs=None, deadline=time.monotonic() + seconds)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.monotonic()
    deadline = start + args.time_budget
    import_project()
    from optuna_eahas.train._data import load_dataset

    args.output_dir.mkdir(parents=True, exist_ok=True)
    data = load_dataset("cifar10", args.data_dir)
    if args.max_images is not None:
        data = data.limit(train=args.max_images, test=args.max_images)
    campaign = Campaign(args)
    campaign.summary["load_s"] = round(time.monotonic() - start, 1)
    campaign.warm_up(data, min(args.warmup, (deadline - time.monotonic()) / 4))
    measure_deadline = time.monotonic() + args.measure_share * (deadline - time.monotonic())
    campaign.phase("measure", 1, data, epochs=args.measure_epochs, deadline=measure_deadline)
    curves = data.subset(args.curve_subset, seed=args.seed)
    campaign.epoch_s = 0.0
    campaign.phase("curves", 2, curves, epochs=None, deadline=deadline)
    campaign.summary.update(
        time_budget_s=args.time_budget,
        elapsed_s=round(time.monotonic() - start, 1),
        energy_meter=str(getattr(campaign.meter, "name", type(campaign.meter).__name__)),
    )
    (args.output_dir / "campaign.json").write_text(json.dumps(campaign.summary, indent=2) + "\n")
    print(json.dumps(campaign.summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
