"""Append run records to one file, one ``write_records(append=True)`` call per record.

Usage: ``python append_records.py FILE.jsonl WRITER COUNT``. Every record has ``seed=WRITER``
and 200 epochs (lines of about 20 kB, far above the size the OS writes atomically to pipes),
so a test can count each writer's records after several wrote, or one was killed, at once.
"""

from __future__ import annotations

import sys

from optuna_eahas.records import Provenance
from optuna_eahas.records import RunRecord
from optuna_eahas.records import write_records
from optuna_eahas.space import SearchSpace


def _record(seed: int) -> RunRecord:
    space = SearchSpace("cifar10")
    config = next(c for c in space.sample(50, seed=0) if c["max_epoch"] == 200)
    complexity = space.complexity(config)
    epochs = config["max_epoch"]
    return RunRecord(
        schema_version=1,
        dataset="cifar10",
        config=config,
        seed=seed,
        data_fraction=1.0,
        epochs=epochs,
        test_accuracy=[50.0 + 40.0 * k / epochs for k in range(epochs)],
        train_accuracy=None,
        train_loss=None,
        train_energy_j=[5000.0 + k for k in range(epochs)],
        train_time_s=[30.0] * epochs,
        test_energy_j=[400.0] * epochs,
        test_time_s=[2.0] * epochs,
        complexity={
            "flops": complexity.flops,
            "params": complexity.params,
            "acts": complexity.acts,
        },
        provenance=Provenance.create("simulated", device="test", energy_meter="simulator"),
    )


if __name__ == "__main__":
    path, writer, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    record = _record(writer)
    for _ in range(count):
        write_records(path, [record], append=True)
