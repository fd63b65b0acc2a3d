from __future__ import annotations

from collections.abc import Callable
import hashlib
import io
import json
from pathlib import Path
import time
from typing import Any
import zipfile

import numpy as np
import pytest

from optuna_eahas.surrogate import Artifact
from optuna_eahas.surrogate import ArtifactError
from optuna_eahas.surrogate import ArtifactWriter

_ARRAYS: dict[str, np.ndarray] = {
    "threshold": np.linspace(-1.0, 1.0, 7),
    "feature": np.arange(5, dtype=np.int32),
    "default_left": np.array([True, False]),
    "names": np.array(["depth", "width"]),
    "empty": np.zeros((0, 3), dtype=np.float32),
}
_TEXT = "tree\nversion=v4\nnum_class=1\n\u00e9\n"
_JSON = {"b": [1, 2.5, None], "a": {"nested": "yes"}}
_FIELDS = {"schema_version": 1, "kind": "eahas-surrogate", "metrics": {"r2": 0.97}}


def _write(directory: Path, **kwargs: bool) -> None:
    with ArtifactWriter(directory, **kwargs) as writer:
        writer.write_arrays("trees.npz", _ARRAYS)
        writer.write_text("model.txt", _TEXT)
        writer.write_text("card.md", "# Data card\n")
        writer.write_json("features.json", _JSON)
        writer.set_manifest(**_FIELDS)


def _entries(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def _rewrite_manifest(artifact: Path, name: str, data: bytes) -> None:
    """Replace ``name`` and list its new size and hash, as a careful attacker would."""
    (artifact / name).write_bytes(data)
    manifest = json.loads((artifact / "manifest.json").read_text())
    manifest["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (artifact / "manifest.json").write_text(json.dumps(manifest))


def _assert_error(artifact: Path, file: str, *words: str) -> None:
    with pytest.raises(ArtifactError) as info:
        Artifact.open(artifact)
    assert info.value.file == file
    assert repr(file) in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_round_trip(tmp_path: Path) -> None:
    _write(tmp_path / "art")
    assert _entries(tmp_path) == ["art"]
    artifact = Artifact.open(tmp_path / "art")
    assert artifact.path == tmp_path / "art"
    arrays = artifact.arrays("trees.npz")
    assert arrays.keys() == _ARRAYS.keys()
    for key, expected in _ARRAYS.items():
        assert arrays[key].dtype == expected.dtype
        np.testing.assert_array_equal(arrays[key], expected)
        assert not arrays[key].flags.writeable
    assert artifact.text("model.txt") == _TEXT
    assert artifact.text("card.md") == "# Data card\n"
    assert artifact.json("features.json") == _JSON
    manifest = artifact.manifest
    assert manifest["format_version"] == 1
    assert {key: manifest[key] for key in _FIELDS} == _FIELDS
    files = manifest["files"]
    assert sorted(files) == ["card.md", "features.json", "model.txt", "trees.npz"]
    for name, entry in files.items():
        data = (tmp_path / "art" / name).read_bytes()
        assert entry == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    # The manifest is sorted, indented JSON.
    text = (tmp_path / "art" / "manifest.json").read_text()
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n"
    # Accessors hand out copies of mutable state.
    artifact.manifest["kind"] = "changed"
    assert artifact.manifest["kind"] == "eahas-surrogate"


def test_npz_bytes_are_reproducible(tmp_path: Path) -> None:
    _write(tmp_path / "one")
    _write(tmp_path / "two")
    one = Artifact.open(tmp_path / "one").manifest["files"]
    assert one == Artifact.open(tmp_path / "two").manifest["files"]


def test_accessor_misuse(tmp_path: Path) -> None:
    _write(tmp_path / "art")
    artifact = Artifact.open(tmp_path / "art")
    with pytest.raises(ArtifactError, match="'other.npz': not in the artifact"):
        artifact.arrays("other.npz")
    with pytest.raises(ValueError, match="not a .npz file"):
        artifact.arrays("model.txt")
    with pytest.raises(ValueError, match="not a .json file"):
        artifact.json("model.txt")


def test_missing_file(tmp_path: Path) -> None:
    _write(tmp_path / "art")
    (tmp_path / "art" / "model.txt").unlink()
    _assert_error(tmp_path / "art", "model.txt", "missing")


def test_truncated_file(tmp_path: Path) -> None:
    _write(tmp_path / "art")
    path = tmp_path / "art" / "trees.npz"
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    _assert_error(tmp_path / "art", "trees.npz", "truncated", str(len(data)))


def test_tampered_byte(tmp_path: Path) -> None:
    _write(tmp_path / "art")
    path = tmp_path / "art" / "model.txt"
    data = bytearray(path.read_bytes())
    data[3] ^= 1
    path.write_bytes(bytes(data))
    _assert_error(tmp_path / "art", "model.txt", "tampered", "SHA-256")


@pytest.mark.parametrize("name", ["extra.npz", "extra.txt", "extra.json", "extra.md"])
def test_unlisted_file(tmp_path: Path, name: str) -> None:
    _write(tmp_path / "art")
    (tmp_path / "art" / name).write_bytes(b"{}")
    _assert_error(tmp_path / "art", name, "not listed")


def test_other_unlisted_entries_are_ignored(tmp_path: Path) -> None:
    _write(tmp_path / "art")
    (tmp_path / "art" / ".DS_Store").write_bytes(b"\0")
    assert Artifact.open(tmp_path / "art").text("model.txt") == _TEXT


def test_missing_manifest(tmp_path: Path) -> None:
    _write(tmp_path / "art")
    (tmp_path / "art" / "manifest.json").unlink()
    _assert_error(tmp_path / "art", "manifest.json", "missing")


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not a directory"):
        Artifact.open(tmp_path / "nothing")


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda manifest: "{not json", ["not valid JSON"]),
        (lambda manifest: json.dumps({**manifest, "r2": float("nan")}), ["NaN"]),
        (lambda manifest: "[]", ["not a JSON object"]),
        (lambda manifest: json.dumps({**manifest, "format_version": 2}), ["format_version"]),
        (lambda manifest: json.dumps({**manifest, "format_version": True}), ["format_version"]),
        (lambda manifest: json.dumps({**manifest, "files": []}), ["'files'"]),
        (
            lambda manifest: json.dumps(
                {**manifest, "files": {**manifest["files"], "../model.txt": {}}}
            ),
            ["bad file name", "../model.txt"],
        ),
        (
            lambda manifest: json.dumps(
                {**manifest, "files": {**manifest["files"], "model.txt": {"bytes": 1}}}
            ),
            ["the entry for 'model.txt'"],
        ),
    ],
)
def test_invalid_manifest(
    tmp_path: Path, edit: Callable[[dict[str, Any]], str], words: list[str]
) -> None:
    _write(tmp_path / "art")
    path = tmp_path / "art" / "manifest.json"
    path.write_text(edit(json.loads(path.read_text())))
    _assert_error(tmp_path / "art", "manifest.json", *words)


def test_invalid_json_file_with_correct_hash(tmp_path: Path) -> None:
    _write(tmp_path / "art")
    _rewrite_manifest(tmp_path / "art", "features.json", b'{"r2": NaN}')
    _assert_error(tmp_path / "art", "features.json", "not valid JSON", "NaN")


def test_non_utf8_text_with_correct_hash(tmp_path: Path) -> None:
    _write(tmp_path / "art")
    _rewrite_manifest(tmp_path / "art", "model.txt", b"\xff\xfe")
    _assert_error(tmp_path / "art", "model.txt", "not UTF-8")


class _Payload:
    """Creates a marker file when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


def test_pickled_npz_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = np.empty(1, dtype=object)
    payload[0] = _Payload(marker)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        with archive.open("threshold.npy", "w") as file:
            np.save(file, payload, allow_pickle=True)
    crafted = buffer.getvalue()
    _write(tmp_path / "art")
    _rewrite_manifest(tmp_path / "art", "trees.npz", crafted)

    _assert_error(tmp_path / "art", "trees.npz", "threshold", "allow_pickle=False")
    assert not marker.exists()
    # The payload is live: loading it with pickle allowed would have run it.
    np.load(io.BytesIO(crafted), allow_pickle=True)["threshold"]
    assert marker.exists()


def test_pickle_file_named_npz_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{}], dtype=object), allow_pickle=True)
    _write(tmp_path / "art")
    _rewrite_manifest(tmp_path / "art", "trees.npz", buffer.getvalue())
    _assert_error(tmp_path / "art", "trees.npz", "not a valid .npz file")


def test_failure_inside_the_block_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with ArtifactWriter(tmp_path / "art") as writer:
            writer.write_arrays("trees.npz", _ARRAYS)
            raise RuntimeError("boom")
    assert _entries(tmp_path) == []


def test_failure_while_overwriting_keeps_the_old_artifact(tmp_path: Path) -> None:
    _write(tmp_path / "art")
    before = (tmp_path / "art" / "manifest.json").read_bytes()
    with pytest.raises(RuntimeError, match="boom"):
        with ArtifactWriter(tmp_path / "art", overwrite=True) as writer:
            writer.write_text("model.txt", "new")
            raise RuntimeError("boom")
    assert _entries(tmp_path) == ["art"]
    assert (tmp_path / "art" / "manifest.json").read_bytes() == before
    assert Artifact.open(tmp_path / "art").text("model.txt") == _TEXT


def test_overwrite_replaces(tmp_path: Path) -> None:
    _write(tmp_path / "art")
    with ArtifactWriter(tmp_path / "art", overwrite=True) as writer:
        writer.write_text("model.txt", "new")
        writer.set_manifest(kind="replacement")
    assert _entries(tmp_path) == ["art"]
    assert _entries(tmp_path / "art") == ["manifest.json", "model.txt"]
    artifact = Artifact.open(tmp_path / "art")
    assert artifact.text("model.txt") == "new"
    assert artifact.manifest["kind"] == "replacement"


def test_existing_target_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "art")
    before = (tmp_path / "art" / "manifest.json").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        _write(tmp_path / "art")
    assert _entries(tmp_path) == ["art"]
    assert (tmp_path / "art" / "manifest.json").read_bytes() == before


def test_target_created_meanwhile_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileExistsError, match="overwrite=True"):
        with ArtifactWriter(tmp_path / "art") as writer:
            writer.write_text("model.txt", _TEXT)
            _write(tmp_path / "art")
    assert _entries(tmp_path) == ["art"]
    assert Artifact.open(tmp_path / "art").text("card.md") == "# Data card\n"


def test_overwrite_refuses_a_directory_that_is_not_an_artifact(tmp_path: Path) -> None:
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an artifact"):
        _write(tmp_path / "art", overwrite=True)
    assert _entries(tmp_path / "art") == ["precious.txt"]


def test_parent_is_created(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "b" / "art")
    Artifact.open(tmp_path / "a" / "b" / "art")


@pytest.mark.parametrize(
    "name", ["../model.txt", "sub/model.txt", "sub\\model.txt", ".model.txt", "", "model.pkl"]
)
def test_bad_file_names_are_refused(tmp_path: Path, name: str) -> None:
    with ArtifactWriter(tmp_path / "art") as writer:
        with pytest.raises(ValueError):
            writer.write_text(name, "x")
    assert _entries(tmp_path) == ["art"]
    assert _entries(tmp_path / "art") == ["manifest.json"]


def test_writer_refusals(tmp_path: Path) -> None:
    with ArtifactWriter(tmp_path / "art") as writer:
        with pytest.raises(ValueError, match="plain names"):
            writer.write_json("manifest.json", {})
        with pytest.raises(ValueError, match="does not end with .json"):
            writer.write_json("features.txt", {})
        objects: dict[str, np.ndarray] = {"x": np.array([{}], dtype=object)}
        with pytest.raises(ValueError, match="object dtype"):
            writer.write_arrays("trees.npz", objects)
        with pytest.raises(ValueError, match="array keys"):
            writer.write_arrays("trees.npz", {"a/b": np.zeros(1)})
        with pytest.raises(ValueError):
            writer.write_json("features.json", {"r2": float("nan")})
        with pytest.raises(ValueError):
            writer.set_manifest(r2=float("inf"))
        with pytest.raises(ValueError, match="set by the writer"):
            writer.set_manifest(files={})
        writer.write_text("model.txt", "x")
        with pytest.raises(ValueError, match="already written"):
            writer.write_text("MODEL.txt", "y")
    assert _entries(tmp_path / "art") == ["manifest.json", "model.txt"]
    with pytest.raises(RuntimeError, match="with statement"):
        writer.write_text("late.txt", "x")


def test_manifest_fields_are_copied(tmp_path: Path) -> None:
    metrics = {"r2": 0.5}
    with ArtifactWriter(tmp_path / "art") as writer:
        writer.set_manifest(metrics=metrics)
        metrics["r2"] = 0.9
        writer.set_manifest(kind="k")
    assert Artifact.open(tmp_path / "art").manifest["metrics"] == {"r2": 0.5}


def test_open_is_fast(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with ArtifactWriter(tmp_path / "art") as writer:
        writer.write_arrays("trees.npz", {"x": rng.random(1_000_000), "y": rng.random(250_000)})
        writer.write_text("model.txt", "threshold=0.123456789\n" * 100_000)
    size = sum(path.stat().st_size for path in (tmp_path / "art").iterdir())
    assert size > 10_000_000
    # Incompressible arrays, the slowest case to inflate; best of three, against noisy CPUs.
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        Artifact.open(tmp_path / "art")
        seconds.append(time.perf_counter() - start)
    assert min(seconds) < 0.3
