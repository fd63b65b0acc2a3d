from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Iterator
import contextlib
import fcntl
import gzip
import json
import os
from pathlib import Path
import uuid
import zlib

from optuna_eahas.records._errors import RecordError
from optuna_eahas.records._record import RunRecord
from optuna_eahas.records._record import check_complexity_of

_SUFFIXES = (".jsonl", ".jsonl.gz")
# Records whose complexity is checked together (one vectorised RegNet count).
_BATCH = 1024


def write_records(
    path: str | os.PathLike[str], records: Iterable[RunRecord], *, append: bool = False
) -> None:
    """Write run records to a JSON Lines file, one record a line.

    A ``.jsonl.gz`` file is gzip-compressed. A fresh write goes to a temporary file in the same
    folder that then replaces ``path``, so a failure leaves the old file (or none), never half
    a file. With ``append=True`` each record's line goes out in one write call, under an
    exclusive ``flock`` that every appender takes, so that several writers appending to a
    plain ``.jsonl`` file never interleave. A writer killed during that write call (Linux ends
    a write early on SIGKILL) can leave half a line at the end; readers then report the file
    as truncated and appenders refuse it, rather than bury the half line under new records.

    Raises:
        RecordError: when appending to a plain file whose last line is incomplete.
    """
    path = _checked(path)
    if append:
        _append(path, records)
    else:
        _replace(path, records)


def iter_records(path: str | os.PathLike[str]) -> Iterator[RunRecord]:
    """Yield the run records of a JSON Lines file one at a time, validating each.

    Blank lines are skipped.

    Raises:
        RecordError: at the first invalid record; the message names the file, the 1-based
            record (line) number and the field.
    """
    path = _checked(path)
    name = os.fspath(path)
    batch: list[RunRecord] = []
    numbers: list[int] = []
    for number, line in _numbered_lines(path):
        if not line.strip():
            continue
        try:
            data = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError) as error:
            reason = f"invalid JSON ({error})"
            if not line.endswith(b"\n"):
                reason += "; the file ends inside this line, so it looks truncated"
            raise RecordError(reason, path=name, index=number) from None
        try:
            batch.append(RunRecord.from_dict(data, index=number, check_complexity=False))
        except RecordError as error:
            raise error.located(path=name) from None
        numbers.append(number)
        if len(batch) == _BATCH:
            yield from _checked_batch(batch, numbers, name)
            batch, numbers = [], []
    yield from _checked_batch(batch, numbers, name)


def _checked_batch(batch: list[RunRecord], numbers: list[int], name: str) -> list[RunRecord]:
    try:
        check_complexity_of(batch)
    except RecordError as error:
        assert error.index is not None
        raise RecordError(
            error.reason, field=error.field, path=name, index=numbers[error.index - 1]
        ) from None
    return batch


def read_records(path: str | os.PathLike[str]) -> list[RunRecord]:
    """Read and validate all run records of a JSON Lines file (see :func:`iter_records`)."""
    return list(iter_records(path))


def _checked(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.name.endswith(_SUFFIXES):
        raise ValueError(f"{os.fspath(path)}: run-record files end in .jsonl or .jsonl.gz.")
    return path


def _is_gzip(path: Path) -> bool:
    return path.name.endswith(".gz")


def _encode(record: RunRecord) -> bytes:
    text = json.dumps(record.to_dict(), allow_nan=False, separators=(",", ":"))
    return (text + "\n").encode("ascii")


def _append(path: Path, records: Iterable[RunRecord]) -> None:
    if _is_gzip(path):
        with gzip.open(path, "ab") as file:
            for record in records:
                file.write(_encode(record))
        return
    with open(path, "ab+") as file:
        # Appenders take turns (an advisory lock), so none sees another's line half written.
        fcntl.flock(file, fcntl.LOCK_EX)
        if file.seek(0, os.SEEK_END) > 0:
            file.seek(-1, os.SEEK_END)
            if file.read(1) != b"\n":
                raise RecordError(
                    "the last line is incomplete; repair the file before appending",
                    path=os.fspath(path),
                )
        for record in records:
            # A flush per record: one write call (O_APPEND) for each whole line.
            file.write(_encode(record))
            file.flush()


def _replace(path: Path, records: Iterable[RunRecord]) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as raw:
            sink = (
                gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw, compresslevel=3)
                if _is_gzip(path)
                else contextlib.nullcontext(raw)
            )
            with sink as file:
                for record in records:
                    file.write(_encode(record))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb") as file:
        try:
            yield from enumerate(file, start=1)
        except (EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise RecordError(
                f"not a complete gzip file ({error})", path=os.fspath(path)
            ) from None
