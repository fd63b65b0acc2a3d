"""The storages the distributed and crash-safety tests run on: SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import uuid

import optuna
import pytest
import sqlalchemy

POSTGRES_ENV = "EAHAS_TEST_POSTGRES_URL"
STORAGES = ("sqlite", "postgresql")


def study_name(prefix: str) -> str:
    """A study name no other test (or earlier run) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def storage_url(kind: str) -> Iterator[str]:
    """A storage URL of ``kind``; PostgreSQL is skipped with the reason when unavailable.

    The SQLite file lives on tmpfs (``/dev/shm``) where there is one: on disk every commit
    waits for an fsync, which makes a 2,000-trial study take many minutes. PostgreSQL's
    commits are made asynchronous for the same reason (``synchronous_commit=off`` only risks
    the last commits if the *server* crashes; the tests kill workers, not the server).
    """
    if kind == "sqlite":
        shm = Path("/dev/shm")
        with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as directory:
            yield f"sqlite:///{directory}/study.db"
        return
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set (.ci/run sets it and starts PostgreSQL).")
    try:
        with sqlalchemy.create_engine(url).connect():
            pass
    except sqlalchemy.exc.SQLAlchemyError as error:
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} is unreachable: {str(error).splitlines()[0]}")
    separator = "&" if "?" in url else "?"
    yield f"{url}{separator}options=-csynchronous_commit%3Doff"


@contextlib.contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """A storage URL of ``kind`` that holds no study: for commands that name their studies
    themselves (``eahas compare``). On PostgreSQL, a database created and dropped here."""
    with storage_url(kind) as url:
        if kind == "sqlite":
            yield url
            return
        database = study_name("eahas_test").replace("-", "_")
        server = sqlalchemy.engine.make_url(url)
        admin = sqlalchemy.create_engine(
            server.set(database="postgres"), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f"CREATE DATABASE {database}"))
        try:
            yield server.set(database=database).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(
                    sqlalchemy.text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
                )
            admin.dispose()


@contextlib.contextmanager
def fresh_study(url: str, prefix: str) -> Iterator[str]:
    """Create a maximisation study (and the tables) before workers start; delete it after."""
    name = study_name(prefix)
    optuna.create_study(storage=url, study_name=name, direction="maximize")
    try:
        yield name
    finally:
        optuna.delete_study(study_name=name, storage=url)


def eahas_run(*options: str) -> list[str]:
    """The command line of an ``eahas run`` worker process."""
    return [sys.executable, "-m", "optuna_eahas", "run", *options]


def start_workers(commands: list[list[str]], log_dir: Path) -> list[subprocess.Popen]:
    """Start one process per command, each logging to its own file in ``log_dir``."""
    processes = []
    for index, command in enumerate(commands):
        with open(log_dir / f"worker{index}.log", "wb") as log:  # the process keeps its copy
            processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
    return processes


def wait_all(processes: list[subprocess.Popen], log_dir: Path, *, timeout: float) -> None:
    """Wait for every worker; fail with its log if one failed."""
    for index, process in enumerate(processes):
        returncode = process.wait(timeout=timeout)
        if returncode != 0:
            log = (log_dir / f"worker{index}.log").read_text(errors="replace")
            raise AssertionError(f"worker {index} exited with {returncode}:\n{log[-3000:]}")
