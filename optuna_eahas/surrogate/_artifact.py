"""The on-disk format of a fitted surrogate: a directory of files and a checksummed manifest.

An artifact is a directory holding ``manifest.json`` and data files: ``.npz`` (NumPy arrays,
never pickled), ``.txt`` (for example LightGBM text models), ``.json`` and ``.md`` (the data
card).  The manifest holds whatever the writer's caller puts in it (schema version, kind,
dataset, metrics, ...) plus ``format_version`` and ``files``, the size and SHA-256 of every
data file.  This module does not know which models are inside.

:class:`ArtifactWriter` builds an artifact in a hidden sibling directory and renames it into
place only once it is complete, so a half-written artifact never appears at the target path.
:class:`Artifact` checks every file against the manifest when it opens an artifact and keeps
the checked contents in memory, so that what is used is exactly what was checked.
"""

from __future__ import annotations

from collections.abc import Mapping
import copy
import hashlib
import io
import json
import os
from pathlib import Path
import re
import shutil
from types import TracebackType
from typing import Any
from typing import TypeVar
import uuid
import zipfile
import zlib

import numpy as np

__all__ = ["FORMAT_VERSION", "Artifact", "ArtifactError", "ArtifactWriter"]

FORMAT_VERSION = 1
"""The version of the artifact layout (``manifest.json`` and its ``files`` entries)."""

_MANIFEST = "manifest.json"
_SUFFIXES = (".npz", ".txt", ".json", ".md")
_TEXT_SUFFIXES = (".txt", ".md", ".json")
_RESERVED_FIELDS = frozenset({"files", "format_version"})
# Plain names only: no path separators, and no leading dot (so no ``.``, ``..`` or hidden
# files).  Also the rule for array keys inside an ``.npz`` file.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Every ``.npz`` member gets this timestamp (the zip format's earliest), so that equal
# arrays give equal bytes and equal hashes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

_T = TypeVar("_T")


class ArtifactError(ValueError):
    """An artifact is missing, incomplete, altered or malformed.

    The message names the artifact directory and the file at fault, and says what is wrong,
    for example ``artifact 'surrogates/cifar10', file 'trees.npz': truncated: 1200 bytes, the
    manifest lists 4096``.

    Attributes:
        path: The artifact directory.
        file: The file at fault (``manifest.json`` for problems with the manifest), or
            :obj:`None` when the problem is with the directory itself.
        reason: The problem, without the location.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str, *, file: str | None = None):
        self.path = Path(path)
        self.file = file
        self.reason = reason
        where = f"artifact '{path}'" if file is None else f"artifact '{path}', file {file!r}"
        super().__init__(f"{where}: {reason}")


class ArtifactWriter:
    """Write an artifact directory, atomically.

    Files are written into a hidden temporary sibling, ``.<name>.tmp-<uuid>``.  When the
    ``with`` block ends normally, the manifest is completed with ``format_version`` and the
    size and SHA-256 of every file, written, and the temporary directory is renamed to
    ``directory``.  When the block raises, the temporary directory is deleted and whatever was
    at ``directory`` is left untouched.

    Example:

        .. code::

            with ArtifactWriter("surrogates/cifar10") as writer:
                writer.write_arrays("trees.npz", {"threshold": thresholds})
                writer.write_text("card.md", card)
                writer.set_manifest(schema_version=1, kind="eahas-surrogate")

    Args:
        directory: Where the artifact goes.  Its parent is created when missing.
        overwrite: Whether to replace an existing artifact at ``directory``.  The old one is
            renamed away, the new one renamed in, and only then is the old one deleted.  Only
            an artifact (a directory with a ``manifest.json``) is ever replaced.

    Raises:
        FileExistsError: On entering the ``with`` block, and again before the final rename,
            when ``directory`` exists and ``overwrite`` is :obj:`False`, or when it exists
            and is not an artifact.
    """

    def __init__(self, directory: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        target = Path(os.path.abspath(directory))
        if not target.name:
            raise ValueError(f"an artifact needs a directory name, not {str(directory)!r}")
        self._target = target
        self._overwrite = overwrite
        self._temporary: Path | None = None
        self._fields: dict[str, Any] = {}
        self._files: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> ArtifactWriter:
        if self._temporary is not None:
            raise RuntimeError("this ArtifactWriter is already in use")
        self._check_target()
        self._target.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._sibling("tmp")
        temporary.mkdir()
        self._temporary = temporary
        self._fields = {}
        self._files = {}
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        temporary = self._directory()
        self._temporary = None
        try:
            if exc_type is None:
                self._commit(temporary)
        finally:
            # After a commit the temporary directory is already gone (renamed).
            shutil.rmtree(temporary, ignore_errors=True)

    def write_arrays(self, name: str, arrays: Mapping[str, np.ndarray]) -> None:
        """Write NumPy arrays to an ``.npz`` file (:func:`numpy.savez_compressed`'s format).

        Arrays of object dtype are refused: reading them back would need pickle.  Members get
        a fixed timestamp, so the same arrays always give the same bytes.
        """
        _check_name(name, (".npz",))
        checked = {}
        for key, value in arrays.items():
            array = np.asarray(value)
            if not isinstance(key, str) or not _NAME.fullmatch(key):
                raise ValueError(
                    f"{name}: array keys are plain names like 'threshold', not {key!r}"
                )
            if array.dtype.hasobject:
                raise ValueError(f"{name}: array {key!r} has object dtype, which needs pickle")
            checked[key] = array
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for key, array in checked.items():
                member = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
                member.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(member, "w", force_zip64=True) as file:
                    np.lib.format.write_array(file, array, allow_pickle=False)
        self._add(name, buffer.getvalue())

    def write_text(self, name: str, text: str) -> None:
        """Write text, UTF-8 encoded, to a ``.txt`` or ``.md`` file."""
        _check_name(name, (".txt", ".md"))
        self._add(name, text.encode("utf-8"))

    def write_json(self, name: str, obj: Any) -> None:
        """Write a JSON value to a ``.json`` file (sorted keys; NaN and infinities refused)."""
        _check_name(name, (".json",))
        self._add(name, _dumps(obj))

    def set_manifest(self, **fields: Any) -> None:
        """Add fields to the manifest (schema version, kind, dataset, metrics, ...).

        Values must be JSON-ready, without NaN or infinities; they are copied now, so later
        changes to them do not reach the manifest.  A field set twice keeps the later value.
        ``files`` and ``format_version`` are the writer's own.
        """
        self._directory()
        reserved = sorted(_RESERVED_FIELDS & fields.keys())
        if reserved:
            raise ValueError(f"manifest fields {reserved} are set by the writer")
        self._fields.update(json.loads(_dumps(fields)))

    def _directory(self) -> Path:
        if self._temporary is None:
            raise RuntimeError("use ArtifactWriter in a with statement")
        return self._temporary

    def _sibling(self, tag: str) -> Path:
        return self._target.with_name(f".{self._target.name}.{tag}-{uuid.uuid4().hex}")

    def _add(self, name: str, data: bytes) -> None:
        directory = self._directory()
        # Case-insensitively, as two names differing in case are one file on some systems.
        if name.lower() in (written.lower() for written in self._files):
            raise ValueError(f"{name!r} was already written to this artifact")
        _write_bytes(directory / name, data)
        self._files[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    def _check_target(self) -> None:
        target = self._target
        if not os.path.lexists(target):
            return
        if not self._overwrite:
            raise FileExistsError(f"'{target}' already exists; pass overwrite=True to replace it")
        if target.is_symlink() or not (target / _MANIFEST).is_file():
            raise FileExistsError(
                f"'{target}' exists and is not an artifact (no {_MANIFEST}); not replacing it"
            )

    def _commit(self, temporary: Path) -> None:
        manifest = {**self._fields, "files": self._files, "format_version": FORMAT_VERSION}
        _write_bytes(temporary / _MANIFEST, _dumps(manifest))
        self._check_target()
        target = self._target
        if not os.path.lexists(target):
            os.rename(temporary, target)
            return
        retired = self._sibling("old")
        os.rename(target, retired)
        try:
            os.rename(temporary, target)
        except BaseException:
            os.rename(retired, target)
            raise
        # The new artifact is in place; a leftover old copy would only waste space.
        shutil.rmtree(retired, ignore_errors=True)


class Artifact:
    """An artifact, checked against its manifest and held in memory.

    Use :meth:`Artifact.open`.  Arrays returned by :meth:`arrays` are read-only, as they are
    shared between calls; copy them to modify them.
    """

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        arrays: dict[str, dict[str, np.ndarray]],
        texts: dict[str, str],
    ) -> None:
        self._path = path
        self._manifest = manifest
        self._arrays = arrays
        self._texts = texts

    @classmethod
    def open(cls, directory: str | os.PathLike[str]) -> Artifact:
        """Read an artifact, checking every file against the manifest.

        Every file the manifest lists must exist with the listed size and SHA-256, and every
        ``.npz``, ``.txt``, ``.json`` or ``.md`` file in the directory must be listed: an
        unlisted one means the artifact was changed after it was written.  Other entries
        (like a ``.DS_Store``) are ignored.  ``.npz`` files are loaded without pickle, so a
        file holding pickled objects is refused without running anything.

        Raises:
            ArtifactError: Naming the file at fault and what is wrong with it.
        """
        path = Path(directory)
        if not path.is_dir():
            raise ArtifactError(path, "not a directory")
        manifest = _read_manifest(path)
        arrays: dict[str, dict[str, np.ndarray]] = {}
        texts: dict[str, str] = {}
        for name, entry in manifest["files"].items():
            data = _read_checked(path, name, entry)
            try:
                if name.endswith(".npz"):
                    arrays[name] = _load_arrays(data)
                else:
                    texts[name] = _decode(data)
                    if name.endswith(".json"):
                        _loads(texts[name])
            except ValueError as error:
                raise ArtifactError(path, str(error), file=name) from error
        unlisted = sorted(
            entry.name
            for entry in path.iterdir()
            if entry.suffix in _SUFFIXES
            and entry.name != _MANIFEST
            and entry.name not in manifest["files"]
        )
        if unlisted:
            raise ArtifactError(
                path, "not listed in the manifest (added after writing)", file=unlisted[0]
            )
        return cls(path, manifest, arrays, texts)

    @property
    def path(self) -> Path:
        """The artifact directory."""
        return self._path

    @property
    def manifest(self) -> dict[str, Any]:
        """A copy of the manifest, including ``format_version`` and ``files``."""
        return copy.deepcopy(self._manifest)

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """The arrays of an ``.npz`` file, by key (read-only)."""
        return dict(self._lookup(self._arrays, name, (".npz",)))

    def text(self, name: str) -> str:
        """The text of a ``.txt``, ``.md`` or ``.json`` file."""
        return self._lookup(self._texts, name, _TEXT_SUFFIXES)

    def json(self, name: str) -> Any:
        """The value of a ``.json`` file (a fresh copy on each call)."""
        return _loads(self._lookup(self._texts, name, (".json",)))

    def _lookup(self, table: Mapping[str, _T], name: str, suffixes: tuple[str, ...]) -> _T:
        if not name.endswith(suffixes):
            raise ValueError(f"{name!r} is not a {' or '.join(suffixes)} file")
        if name not in table:
            raise ArtifactError(self._path, "not in the artifact", file=name)
        return table[name]


def _check_name(name: str, suffixes: tuple[str, ...]) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name == _MANIFEST:
        raise ValueError(f"artifact files have plain names like 'trees.npz', not {name!r}")
    if not name.endswith(suffixes):
        raise ValueError(f"{name!r} does not end with {' or '.join(suffixes)}")


def _dumps(obj: Any) -> bytes:
    return (json.dumps(obj, sort_keys=True, indent=2, allow_nan=False) + "\n").encode("utf-8")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text: {error}") from error


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as error:
        raise ValueError(f"not valid JSON: {error}") from error


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "xb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        raw = (path / _MANIFEST).read_bytes()
    except FileNotFoundError:
        raise ArtifactError(
            path, "missing: not an artifact, or one whose writing never finished", file=_MANIFEST
        ) from None
    try:
        manifest = _loads(_decode(raw))
    except ValueError as error:
        raise ArtifactError(path, str(error), file=_MANIFEST) from error
    if not isinstance(manifest, dict):
        raise ArtifactError(path, "not a JSON object", file=_MANIFEST)
    version = manifest.get("format_version")
    if type(version) is not int or version != FORMAT_VERSION:
        raise ArtifactError(
            path,
            f"format_version is {version!r}; this reader knows only {FORMAT_VERSION}",
            file=_MANIFEST,
        )
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise ArtifactError(path, "'files' is missing or not an object", file=_MANIFEST)
    for name, entry in files.items():
        try:
            _check_name(name, _SUFFIXES)
        except ValueError as error:
            raise ArtifactError(path, f"lists a bad file name: {error}", file=_MANIFEST) from None
        if not (
            isinstance(entry, dict)
            and entry.keys() == {"bytes", "sha256"}
            and type(entry["bytes"]) is int
            and entry["bytes"] >= 0
            and isinstance(entry["sha256"], str)
            and _SHA256.fullmatch(entry["sha256"])
        ):
            raise ArtifactError(
                path,
                f"the entry for {name!r} is not {{'bytes': size, 'sha256': hex digest}}",
                file=_MANIFEST,
            )
    return manifest


def _read_checked(path: Path, name: str, entry: dict[str, Any]) -> bytes:
    try:
        data = (path / name).read_bytes()
    except FileNotFoundError:
        raise ArtifactError(path, "missing", file=name) from None
    except OSError as error:
        raise ArtifactError(path, f"cannot be read: {error}", file=name) from error
    size, listed = len(data), entry["bytes"]
    if size != listed:
        what = "truncated" if size < listed else "longer than written"
        raise ArtifactError(path, f"{what}: {size} bytes, the manifest lists {listed}", file=name)
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ArtifactError(path, "tampered: its SHA-256 differs from the manifest's", file=name)
    return data


def _load_arrays(data: bytes) -> dict[str, np.ndarray]:
    # ``allow_pickle=False`` makes NumPy refuse pickled data (a pickle file, or an object
    # array in the archive) before unpickling anything.
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"not a valid .npz file: {error}") from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError("not an .npz archive")
    arrays = {}
    with loaded:
        for key in loaded.files:
            try:
                array = loaded[key]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                raise ValueError(f"array {key!r} cannot be read: {error}") from error
            if not isinstance(array, np.ndarray):
                raise ValueError(f"member {key!r} is not a .npy array")
            array.flags.writeable = False
            arrays[key] = array
    return arrays
