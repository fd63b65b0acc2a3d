"""The Bézier-curve surrogate network: PyTorch training and NumPy inference (Section 4.2)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from optuna_eahas import surrogate
from optuna_eahas.surrogate import _bcs_numpy
from optuna_eahas.surrogate._bcs_numpy import LABEL_SCALE
from optuna_eahas.surrogate._bcs_numpy import BCSEnsemble
from optuna_eahas.surrogate._bcs_numpy import array_names

torch = pytest.importorskip("torch")

from optuna_eahas.surrogate._bcs_torch import BCSHyperparameters  # noqa: E402
from optuna_eahas.surrogate._bcs_torch import BCSNetwork  # noqa: E402
from optuna_eahas.surrogate._bcs_torch import fit_bcs_ensemble  # noqa: E402
from optuna_eahas.surrogate._bcs_torch import search_bcs_hyperparameters  # noqa: E402

_ARCH_DIM = 5
_N_FEATURES = 8
_SMALL = BCSHyperparameters(
    width=64, depth=2, learning_rate=1e-2, epochs=20, batch_size=32, encoder_width=16
)


def _synthetic(n_rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Plausible labels that depend smoothly on the features (which have unequal scales)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n_rows, _N_FEATURES))
    s = 1 / (1 + np.exp(-2 * np.sin(x @ np.random.default_rng(123).normal(size=(8, 8)) / 2)))
    start, end = 10 + 30 * s[:, 0], 50 + 45 * s[:, 1]
    labels = np.stack(
        [
            start,
            end,
            0.05 + 0.2 * s[:, 2],
            start + (end - start) * (0.5 + 0.4 * s[:, 3]),
            0.3 + 0.3 * s[:, 4],
            start + (end - start) * (0.8 + 0.2 * s[:, 5]),
            0.6 + 0.35 * s[:, 6],
            end - 5 * s[:, 7],
        ],
        axis=1,
    )
    return x * np.array([1, 10, 0.1, 1, 100, 1, 3, 1]) + 5, labels


def _torch_outputs(members: list[dict[str, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """Each member's eval-mode PyTorch output ``(M, n, 8)`` in scaled units."""
    with torch.no_grad():
        return np.stack(
            [
                BCSNetwork.from_arrays(member, arch_dim=_ARCH_DIM)
                .eval()(torch.as_tensor(x, dtype=torch.float32))
                .numpy()
                for member in members
            ]
        )


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (*_synthetic(300, 0), *_synthetic(200, 1))


@pytest.fixture(scope="module")
def trained(data: tuple[np.ndarray, ...]) -> list[dict[str, np.ndarray]]:
    x, y, xv, yv = data
    return fit_bcs_ensemble(
        x,
        y,
        arch_dim=_ARCH_DIM,
        hyperparameters=_SMALL,
        n_members=2,
        seed=0,
        validation=(xv, yv),
        n_threads=1,
    )


def _random_members(n_members: int, depth: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(depth)
    members = []
    for k in range(n_members):
        torch.manual_seed(k)
        arrays = BCSNetwork(
            _ARCH_DIM, _N_FEATURES - _ARCH_DIM, encoder_width=16, width=64, depth=depth
        ).to_arrays()
        arrays["input.shift"] = rng.normal(size=_N_FEATURES).astype(np.float32)
        arrays["input.scale"] = rng.uniform(0.5, 2, _N_FEATURES).astype(np.float32)
        for name in arrays:
            if name.endswith(".bias"):
                arrays[name] = rng.normal(size=arrays[name].shape).astype(np.float32)
        members.append(arrays)
    return members


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("depth", [0, 1, 3])
def test_numpy_matches_torch_for_random_weights(dtype: type, depth: int) -> None:
    members = _random_members(3, depth)
    x = np.random.default_rng(5).normal(size=(500, _N_FEATURES)) * 2
    expected = _torch_outputs(members, x)
    ensemble = BCSEnsemble.from_arrays(members, arch_dim=_ARCH_DIM, dtype=dtype)
    assert ensemble.dtype == dtype
    assert (ensemble.n_members, ensemble.n_features, ensemble.arch_dim) == (3, 8, _ARCH_DIM)
    np.testing.assert_allclose(ensemble.predict(x) / LABEL_SCALE, expected.mean(0), atol=1e-5)
    for k in range(3):
        np.testing.assert_allclose(
            ensemble.predict_member(x, k) / LABEL_SCALE, expected[k], atol=1e-5
        )
    # The single-row path (reused buffers) gives the rows of the batch path.
    for row in range(3):
        np.testing.assert_allclose(
            ensemble.predict(x[row : row + 1]), ensemble.predict(x)[row : row + 1], atol=1e-4
        )
        np.testing.assert_allclose(
            ensemble.predict_member(x[row : row + 1], -1),
            ensemble.predict_member(x, 2)[row : row + 1],
            atol=1e-4,
        )


def test_numpy_matches_torch_for_trained_ensemble(
    data: tuple[np.ndarray, ...], trained: list[dict[str, np.ndarray]]
) -> None:
    x = np.concatenate([data[0], data[2]])
    expected = _torch_outputs(trained, x)
    for dtype in (np.float32, np.float64):
        ensemble = BCSEnsemble.from_arrays(trained, arch_dim=_ARCH_DIM, dtype=dtype)
        np.testing.assert_allclose(ensemble.predict(x) / LABEL_SCALE, expected.mean(0), atol=1e-5)
        np.testing.assert_allclose(
            ensemble.predict_member(x, 1) / LABEL_SCALE, expected[1], atol=1e-5
        )


def test_fit_learns_a_smooth_mapping(
    data: tuple[np.ndarray, ...], trained: list[dict[str, np.ndarray]]
) -> None:
    _, _, xv, yv = data
    ensemble = BCSEnsemble.from_arrays(trained, arch_dim=_ARCH_DIM)
    scaled = yv / LABEL_SCALE
    mse = np.mean((ensemble.predict(xv) / LABEL_SCALE - scaled) ** 2)
    assert mse < 0.1 * np.mean(scaled.var(axis=0))


def test_arrays_are_named_float32(trained: list[dict[str, np.ndarray]]) -> None:
    assert len(trained) == 2
    for arrays in trained:
        assert list(arrays) == array_names(_SMALL.depth)
        assert all(a.dtype == np.float32 for a in arrays.values())
        assert arrays["arch.weight"].shape == (16, _ARCH_DIM)
        assert arrays["hp.weight"].shape == (16, _N_FEATURES - _ARCH_DIM)
        assert arrays["trunk.1.weight"].shape == (64, 64)
        assert arrays["ends.weight"].shape == (2, 64)
        assert arrays["interior.bias"].shape == (6,)
    assert not np.array_equal(trained[0]["ends.weight"], trained[1]["ends.weight"])


def test_ends_are_accuracies(
    data: tuple[np.ndarray, ...], trained: list[dict[str, np.ndarray]]
) -> None:
    ensemble = BCSEnsemble.from_arrays(trained, arch_dim=_ARCH_DIM)
    ends = ensemble.predict(data[2])[:, :2]
    assert np.all((ends > 0) & (ends < 100))
    far = np.random.default_rng(0).normal(size=(1000, _N_FEATURES)) * 1e3
    for k in range(2):
        ends = ensemble.predict_member(far, k)[:, :2]
        assert np.all((ends >= 0) & (ends <= 100))


def test_fit_is_deterministic(data: tuple[np.ndarray, ...]) -> None:
    x, y = data[0][:100], data[1][:100]
    hyperparameters = dataclasses.replace(_SMALL, epochs=3, dropout=0.2)
    deterministic = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    rng_state = torch.get_rng_state()
    calls = []

    def fit(seed: int) -> list[dict[str, np.ndarray]]:
        return fit_bcs_ensemble(
            x,
            y,
            arch_dim=_ARCH_DIM,
            hyperparameters=hyperparameters,
            n_members=2,
            seed=seed,
            validation=(x, y),
            progress=lambda *args: calls.append(args),
            n_threads=1,
        )

    first, second, other = fit(3), fit(3), fit(4)
    for a, b, c in zip(first, second, other, strict=True):
        assert all(np.array_equal(a[name], b[name]) for name in a)
        assert not np.array_equal(a["trunk.0.weight"], c["trunk.0.weight"])
    assert [call[:2] for call in calls[:6]] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert all(call[3] is not None and call[2] > 0 for call in calls)
    # The global PyTorch state is restored.
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), rng_state)


def test_search_runs(data: tuple[np.ndarray, ...]) -> None:
    x, y, xv, yv = data
    best = search_bcs_hyperparameters(
        x[:120], y[:120], xv[:60], yv[:60], arch_dim=_ARCH_DIM, n_trials=3, seed=0,
        epochs=(2, 4), n_threads=1,
    )  # fmt: skip
    assert isinstance(best, BCSHyperparameters)
    assert best.width in (64, 128, 256, 512)
    assert 1 <= best.depth <= 4 and 2 <= best.epochs <= 4
    assert 1e-4 <= best.learning_rate <= 1e-2 and 0 <= best.dropout <= 0.3
    assert best.batch_size in (32, 64, 128, 256)


def test_invalid_input(trained: list[dict[str, np.ndarray]]) -> None:
    with pytest.raises(ValueError, match="arch_dim"):
        BCSEnsemble.from_arrays(trained, arch_dim=_ARCH_DIM + 1)
    with pytest.raises(ValueError, match="expected"):
        BCSEnsemble.from_arrays([{**trained[0], "extra": np.zeros(1)}], arch_dim=_ARCH_DIM)
    with pytest.raises(ValueError, match="shape"):
        BCSEnsemble.from_arrays(
            [trained[0], {**trained[1], "hp.bias": np.zeros(3)}], arch_dim=_ARCH_DIM
        )
    with pytest.raises(ValueError, match="dtype"):
        BCSEnsemble.from_arrays(trained, arch_dim=_ARCH_DIM, dtype=np.int64)
    ensemble = BCSEnsemble.from_arrays(trained, arch_dim=_ARCH_DIM)
    with pytest.raises(ValueError, match="shape"):
        ensemble.predict(np.zeros(_N_FEATURES))
    with pytest.raises(IndexError):
        ensemble.predict_member(np.zeros((1, _N_FEATURES)), 2)
    assert ensemble.predict(np.zeros((0, _N_FEATURES))).shape == (0, 8)
    with pytest.raises(ValueError, match="arch_dim"):
        fit_bcs_ensemble(np.zeros((4, 3)), np.zeros((4, 8)), arch_dim=3)
    with pytest.raises(ValueError, match="Y"):
        fit_bcs_ensemble(np.zeros((4, 3)), np.zeros((4, 7)), arch_dim=1)
    with pytest.raises(ValueError, match="dropout"):
        BCSHyperparameters(dropout=1.0)


def test_numpy_inference_does_not_import_torch() -> None:
    for module in (_bcs_numpy, surrogate):
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not any("torch" in name for name in imported)
