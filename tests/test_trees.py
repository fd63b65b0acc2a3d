"""TreeEnsemble against LightGBM's own predictions."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

lgb = pytest.importorskip("lightgbm")

from optuna_eahas.surrogate import TreeEnsemble  # noqa: E402
from optuna_eahas.surrogate import _trees  # noqa: E402

N_FEATURES = 8
K_ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold


def _target(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    X = np.nan_to_num(X)
    return (
        3.0 * np.sin(X[:, 0])
        + X[:, 1] * X[:, 2]
        + np.abs(X[:, 3])
        + 0.5 * (X[:, 4] > 0.3)
        - 0.2 * X[:, 5] ** 2
        + 0.1 * X[:, 6]
        + 0.05 * rng.normal(size=len(X))
    )


def _data(seed: int, n: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES))
    return X, _target(X, rng)


def _train(params: dict, X: np.ndarray, y: np.ndarray, rounds: int, **dataset_kwargs):
    full = {
        "objective": "regression",
        "verbose": -1,
        "seed": 0,
        "deterministic": True,
        "num_threads": 1,
    }
    full.update(params)
    return lgb.train(full, lgb.Dataset(X, y, **dataset_kwargs), num_boost_round=rounds)


def _thresholds(text: str) -> list[tuple[int, float]]:
    """All (feature, threshold) pairs of the model's splits, read from the text."""
    pairs = []
    features = re.findall(r"^split_feature=(.*)$", text, flags=re.M)
    thresholds = re.findall(r"^threshold=(.*)$", text, flags=re.M)
    for f_line, t_line in zip(features, thresholds, strict=True):
        pairs += [(int(f), float(t)) for f, t in zip(f_line.split(), t_line.split(), strict=True)]
    return pairs


def _rows_on_thresholds(text: str, base: np.ndarray, seed: int) -> np.ndarray:
    """Rows whose features sit exactly on (or one ulp beside) the model's thresholds."""
    rng = np.random.default_rng(seed)
    pairs = _thresholds(text)
    if not pairs:
        return base[:0]
    rows = []
    for f, t in [pairs[i] for i in rng.permutation(len(pairs))[:300]]:
        for value in (t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf)):
            row = base[rng.integers(len(base))].copy()
            row[f] = value
            rows.append(row)
    by_feature: dict[int, list[float]] = {}
    for f, t in pairs:
        by_feature.setdefault(f, []).append(t)
    for _ in range(200):  # every split feature on one of its thresholds at once
        row = base[rng.integers(len(base))].copy()
        for f, ts in by_feature.items():
            row[f] = ts[rng.integers(len(ts))]
        rows.append(row)
    return np.array(rows)


def _assert_matches(booster, X: np.ndarray, n_single: int = 25) -> TreeEnsemble:
    text = booster.model_to_string()
    ensemble = TreeEnsemble.from_lightgbm_text(text)
    expected = booster.predict(X)
    scale = max(float(np.max(np.abs(expected))), 1.0) if len(X) else 1.0
    got = ensemble.predict(X)
    assert got.shape == expected.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * scale)
    # Batches of trees with up to 64 leaves use leaf bit vectors; walking must agree.
    if ensemble._bits is not None:
        np.testing.assert_array_equal(_walked(ensemble, X), got)
    # The single-row path, with either way of walking (chosen per model from its size).
    chosen = ensemble._row_next_table
    for next_table in (True, False):
        ensemble._row_next_table = next_table
        for i in np.linspace(0, len(X) - 1, min(n_single, len(X))).astype(int):
            np.testing.assert_allclose(
                ensemble.predict_one(X[i]), expected[i], rtol=1e-9, atol=1e-12 * scale
            )
            np.testing.assert_allclose(
                ensemble.predict(X[i : i + 1]), expected[i : i + 1], rtol=1e-9, atol=1e-12 * scale
            )
    ensemble._row_next_table = chosen
    return ensemble


def _walked(ensemble: TreeEnsemble, X: np.ndarray) -> np.ndarray:
    """``ensemble.predict(X)`` by walking the trees, even if they are small enough for bits."""
    bits = ensemble._bits
    ensemble._bits = None
    try:
        return ensemble.predict(X)
    finally:
        ensemble._bits = bits


def _held_out(text: str, seed: int) -> np.ndarray:
    X_new, _ = _data(seed, n=1200)
    return np.vstack([X_new, _rows_on_thresholds(text, X_new, seed)])


@pytest.mark.parametrize(
    ("params", "rounds"),
    [
        ({"num_leaves": 7}, 50),
        ({"num_leaves": 31, "max_depth": 4}, 100),
        ({"num_leaves": 63, "min_data_in_leaf": 2, "learning_rate": 0.05}, 300),
        ({"num_leaves": 100, "min_data_in_leaf": 2}, 40),  # too many leaves for bits: walked
        ({"num_leaves": 15, "min_data_in_leaf": 60}, 200),
        ({"num_leaves": 2}, 300),
        (
            {
                "num_leaves": 31,
                "min_data_in_leaf": 5,
                "feature_fraction": 0.6,
                "bagging_fraction": 0.7,
                "bagging_freq": 1,
                "extra_trees": True,
            },
            150,
        ),
        ({"num_leaves": 20, "objective": "huber", "max_bin": 15}, 120),
    ],
)
def test_matches_lightgbm(params: dict, rounds: int) -> None:
    X, y = _data(0)
    booster = _train(params, X, y, rounds)
    X_test = _held_out(booster.model_to_string(), seed=1)
    ensemble = _assert_matches(booster, X_test)
    assert ensemble.n_trees == booster.num_trees() == rounds
    assert ensemble.n_features == N_FEATURES
    max_leaves = max(
        int(n) for n in re.findall(r"^num_leaves=(\d+)$", booster.model_to_string(), re.M)
    )
    assert (ensemble._bits is None) == (max_leaves > 64)


def test_constant_feature() -> None:
    X, y = _data(2)
    X[:, 3] = 1.0  # never split on
    booster = _train({"num_leaves": 31, "min_data_in_leaf": 3}, X, y, 120)
    assert 3 not in {f for f, _ in _thresholds(booster.model_to_string())}
    X_test = _held_out(booster.model_to_string(), seed=3)
    _assert_matches(booster, X_test)
    X_test[:, 3] = np.random.default_rng(4).normal(size=len(X_test))  # ignored by both
    _assert_matches(booster, X_test)


def test_exactly_lightgbm_summation() -> None:
    # Same comparisons, trees summed in the same order: bit-for-bit LightGBM's results.
    X, y = _data(5)
    booster = _train({"num_leaves": 31, "learning_rate": 0.05}, X, y, 300)
    X_test = _held_out(booster.model_to_string(), seed=6)
    ensemble = TreeEnsemble.from_lightgbm_text(booster.model_to_string())
    expected = booster.predict(X_test)
    assert np.array_equal(ensemble.predict(X_test), expected)
    assert np.array_equal(_walked(ensemble, X_test), expected)
    assert all(ensemble.predict_one(X_test[i]) == expected[i] for i in range(50))


@pytest.mark.parametrize("num_leaves", [15, 80])  # leaf bit vectors, walking
def test_chunking_and_batch_sizes(monkeypatch: pytest.MonkeyPatch, num_leaves: int) -> None:
    X, y = _data(7)
    booster = _train({"num_leaves": num_leaves, "min_data_in_leaf": 2}, X, y, 60)
    ensemble = TreeEnsemble.from_lightgbm_text(booster.model_to_string())
    assert (ensemble._bits is None) == (num_leaves > 64)
    X_test, _ = _data(8, n=700)
    expected = booster.predict(X_test)
    full = ensemble.predict(X_test)
    np.testing.assert_allclose(full, expected, rtol=1e-9)
    # Chunks of 16 rows: many chunks, then tails of every length (down to one row).
    monkeypatch.setattr(_trees, "_CHUNK_ENTRIES", 1)
    for n in (0, 1, 2, 7, 8, 9, 15, 16, 17, 33, 100, 700):
        np.testing.assert_array_equal(ensemble.predict(X_test[:n]), full[:n])
    assert ensemble.predict(X_test[:0]).shape == (0,)


def test_first_tree_single_leaf() -> None:
    # No split possible in the first round: LightGBM keeps a one-leaf tree (the average).
    X, y = _data(9, n=400)
    first = _train({"num_leaves": 15, "min_data_in_leaf": 1000}, X, y, 1)
    assert "num_leaves=1\n" in first.model_to_string()
    _assert_matches(first, _data(10, n=50)[0])
    booster = lgb.train(
        {"objective": "regression", "verbose": -1, "num_leaves": 15, "min_data_in_leaf": 5},
        lgb.Dataset(X, y),
        num_boost_round=80,
        init_model=first,
    )
    text = booster.model_to_string()
    assert text.count("num_leaves=1\n") == 1
    _assert_matches(booster, _held_out(text, seed=11))


def _splice_single_leaf_trees(text: str, every: int) -> str:
    """Insert a one-leaf tree after every ``every``-th tree (renumbering the trees)."""
    head, rest = text.split("\nTree=", 1)
    trees_text, tail = rest.split("\nend of trees", 1)
    head = "\n".join(line for line in head.split("\n") if not line.startswith("tree_sizes="))
    blocks = ["Tree=" + b for b in re.split(r"\nTree=", trees_text)]
    out = []
    for i, block in enumerate(blocks):
        out.append(re.sub(r"^Tree=\d+", "Tree=#", block.strip("\n")))
        if i % every == 0:
            value = 0.25 * (-1) ** i / (i + 1)
            out.append(
                textwrap.dedent(
                    f"""\
                    Tree=#
                    num_leaves=1
                    num_cat=0
                    split_feature=
                    split_gain=
                    threshold=
                    decision_type=
                    left_child=
                    right_child=
                    leaf_value={value!r}
                    leaf_weight=
                    leaf_count=
                    internal_value=
                    internal_weight=
                    internal_count=
                    is_linear=0
                    shrinkage=1"""
                )
            )
    numbered = [block.replace("Tree=#", f"Tree={k}", 1) for k, block in enumerate(out)]
    return head + "\n" + "\n\n".join(numbered) + "\n\n\nend of trees" + tail


def test_single_leaf_trees_among_others() -> None:
    X, y = _data(12)
    booster = _train({"num_leaves": 31, "max_depth": 6}, X, y, 60)
    spliced = _splice_single_leaf_trees(booster.model_to_string(), every=3)
    reference = lgb.Booster(model_str=spliced)
    assert reference.num_trees() == 80
    ensemble = _assert_matches(reference, _held_out(spliced, seed=13))
    assert ensemble.n_trees == 80


def test_only_single_leaf_trees() -> None:
    X, y = _data(14, n=300)
    booster = _train({"min_data_in_leaf": 1000}, X, y, 5)
    spliced = _splice_single_leaf_trees(booster.model_to_string(), every=1)
    for model in (booster, lgb.Booster(model_str=spliced)):
        ensemble = _assert_matches(model, _data(15, n=40)[0])
        assert ensemble.max_depth == 0


def _with_special_values(X: np.ndarray, seed: int, zeros: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = X.copy()
    X[rng.random(X.shape) < 0.2] = np.nan
    if zeros:
        specials = np.array([0.0, -0.0, 1e-40, -1e-40, K_ZERO, -K_ZERO, 2e-35, -2e-35, 1e-300])
        mask = rng.random(X.shape) < 0.15
        X[mask] = rng.choice(specials, size=int(mask.sum()))
    X[: X.shape[1], :] = X[0]
    np.fill_diagonal(X[: X.shape[1]], np.nan)  # one NaN per row
    return X


def _missing_types(text: str) -> set[int]:
    types = set()
    for line in re.findall(r"^decision_type=(.*)$", text, flags=re.M):
        types |= {(int(v) >> 2) & 3 for v in line.split()}
    return types


def test_nan_with_missing_type_nan() -> None:
    # NaNs in the training data: splits get missing type NaN and learned default sides.
    X, y = _data(16)
    rng = np.random.default_rng(17)
    X[rng.random(X.shape) < 0.15] = np.nan
    y = y + 2.0 * np.isnan(X[:, 0]) - 1.5 * np.isnan(X[:, 1])
    booster = _train({"num_leaves": 31, "min_data_in_leaf": 5}, X, y, 150)
    text = booster.model_to_string()
    assert 2 in _missing_types(text)
    default_left = {
        bool(int(v) & 2) for v in " ".join(re.findall(r"decision_type=(.*)", text)).split()
    }
    assert default_left == {True, False}
    X_test = _held_out(text, seed=18)
    _assert_matches(booster, _with_special_values(X_test, seed=19, zeros=True), n_single=60)


def test_nan_with_missing_type_none() -> None:
    # No NaN in training: missing type None, and LightGBM reads a NaN as 0.0.
    X, y = _data(20)
    booster = _train({"num_leaves": 31}, X, y, 100)
    assert _missing_types(booster.model_to_string()) == {0}
    X_test = _held_out(booster.model_to_string(), seed=21)
    _assert_matches(booster, _with_special_values(X_test, seed=22, zeros=True), n_single=60)


def test_zero_as_missing() -> None:
    # zero_as_missing: missing type Zero; zeros (|x| <= 1e-35) and NaNs take the default.
    X, y = _data(23)
    rng = np.random.default_rng(24)
    X[rng.random(X.shape) < 0.3] = 0.0
    y = y + 1.5 * (X[:, 2] == 0) - 2.0 * (X[:, 5] == 0)
    booster = _train({"num_leaves": 31, "zero_as_missing": True, "min_data_in_leaf": 5}, X, y, 150)
    text = booster.model_to_string()
    assert 1 in _missing_types(text)
    X_test = _held_out(text, seed=25)
    ensemble = _assert_matches(
        booster, _with_special_values(X_test, seed=26, zeros=True), n_single=60
    )
    assert len(ensemble._zero_keys)


def test_values_near_zero_thresholds() -> None:
    # Training data with many zeros puts thresholds at +-kZeroThreshold; LightGBM reads
    # |x| <= kZeroThreshold as 0.0 before comparing.
    X, y = _data(27)
    rng = np.random.default_rng(28)
    X[rng.random(X.shape) < 0.4] = 0.0
    y = y + 1.5 * (X[:, 2] == 0) - 2.0 * (X[:, 5] == 0) + (X[:, 1] < 0)
    booster = _train({"num_leaves": 31, "min_data_in_leaf": 5}, X, y, 100)
    text = booster.model_to_string()
    near_zero = [t for _, t in _thresholds(text) if abs(t) <= 2 * K_ZERO]
    assert near_zero
    X_test = _held_out(text, seed=29)
    tiny = np.array([0.0, -0.0, K_ZERO, -K_ZERO, 1e-36, -1e-36, *near_zero])
    mask = rng.random(X_test.shape) < 0.3
    X_test[mask] = rng.choice(tiny, size=int(mask.sum()))
    _assert_matches(booster, X_test, n_single=60)


def test_infinite_inputs() -> None:
    X, y = _data(30)
    booster = _train({"num_leaves": 15}, X, y, 50)
    X_test = _data(31, n=200)[0]
    rng = np.random.default_rng(32)
    X_test[rng.random(X_test.shape) < 0.2] = np.inf
    X_test[rng.random(X_test.shape) < 0.2] = -np.inf
    _assert_matches(booster, X_test)


def test_random_forest_averages() -> None:
    X, y = _data(33)
    params = {"boosting": "rf", "bagging_fraction": 0.6, "bagging_freq": 1, "num_leaves": 31}
    booster = _train(params, X, y, 40)
    assert "\naverage_output\n" in booster.model_to_string()
    ensemble = _assert_matches(booster, _held_out(booster.model_to_string(), seed=34))
    assert ensemble.average_output


def test_identity_objectives_and_custom_objective() -> None:
    X, y = _data(35, n=600)
    for objective in ("regression_l1", "quantile", "fair", "mape"):
        booster = _train({"objective": objective, "num_leaves": 7}, X, np.abs(y) + 1.0, 20)
        assert TreeEnsemble.from_lightgbm_text(booster.model_to_string()).objective == objective
        _assert_matches(booster, _data(36, n=100)[0])

    def l2(preds, data):
        return preds - data.get_label(), np.ones_like(preds)

    booster = _train({"objective": l2, "num_leaves": 7}, X, y, 20)
    assert TreeEnsemble.from_lightgbm_text(booster.model_to_string()).objective is None
    _assert_matches(booster, _data(37, n=100)[0])


def test_categorical_split_is_rejected() -> None:
    rng = np.random.default_rng(38)
    X = rng.normal(size=(1000, 3))
    X[:, 0] = rng.integers(0, 8, size=1000)
    y = np.array([0.0, 3.0, -2.0, 1.0, 5.0, -4.0, 2.0, -1.0])[X[:, 0].astype(int)] + X[:, 1]
    booster = _train({"num_leaves": 7, "max_cat_to_onehot": 2}, X, y, 10, categorical_feature=[0])
    with pytest.raises(ValueError, match="categorical"):
        TreeEnsemble.from_lightgbm_text(booster.model_to_string())
    # A categorical bit in decision_type alone is caught as well.
    plain = _train({"num_leaves": 7}, X, y, 3).model_to_string()
    tampered = re.sub(r"^decision_type=(\d+)", r"decision_type=1", plain, count=1, flags=re.M)
    with pytest.raises(ValueError, match="categorical"):
        TreeEnsemble.from_lightgbm_text(tampered)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"objective": "multiclass", "num_class": 3}, "single-output"),
        ({"objective": "poisson"}, "objective"),
        ({"objective": "binary"}, "objective"),
        ({"objective": "regression", "reg_sqrt": True}, "objective"),
        ({"linear_tree": True}, "linear"),
    ],
)
def test_unsupported_models_are_rejected(params: dict, message: str) -> None:
    X, y = _data(39, n=500)
    if params.get("objective") == "multiclass":
        y = np.digitize(y, [-1.0, 1.0]).astype(float)
    elif params.get("objective") == "binary":
        y = (y > 0).astype(float)
    elif params.get("objective") == "poisson":
        y = np.abs(y)
    booster = _train({"num_leaves": 7, **params}, X, y, 5)
    with pytest.raises(ValueError, match=message):
        TreeEnsemble.from_lightgbm_text(booster.model_to_string())


def test_malformed_text_is_rejected() -> None:
    X, y = _data(40, n=500)
    text = _train({"num_leaves": 7}, X, y, 5).model_to_string()
    with pytest.raises(ValueError, match="not a LightGBM"):
        TreeEnsemble.from_lightgbm_text("hello world")
    with pytest.raises(ValueError, match="end of trees"):
        TreeEnsemble.from_lightgbm_text(text.split("end of trees")[0])
    broken = re.sub(r"^left_child=.*$", "left_child=1 1 1 1 1 1", text, count=1, flags=re.M)
    with pytest.raises(ValueError, match="Tree=0"):
        TreeEnsemble.from_lightgbm_text(broken)
    broken = re.sub(r"^threshold=(\S+)", "threshold=abc", text, count=1, flags=re.M)
    with pytest.raises(ValueError, match="threshold"):
        TreeEnsemble.from_lightgbm_text(broken)
    broken = re.sub(r"^leaf_value=(\S+) ", "leaf_value=", text, count=1, flags=re.M)
    with pytest.raises(ValueError, match="leaf_value"):
        TreeEnsemble.from_lightgbm_text(broken)
    broken = re.sub(r"^split_feature=(\d+)", "split_feature=99", text, count=1, flags=re.M)
    with pytest.raises(ValueError, match="split_feature"):
        TreeEnsemble.from_lightgbm_text(broken)
    with pytest.raises(TypeError):
        TreeEnsemble.from_lightgbm_text(text.encode())  # type: ignore[arg-type]


def test_cycle_is_rejected() -> None:
    # Every node referenced once, yet nodes 1 and 2 form a loop cut off from the root.
    text = textwrap.dedent(
        """\
        tree
        version=v4
        num_class=1
        num_tree_per_iteration=1
        max_feature_idx=1
        objective=regression

        Tree=0
        num_leaves=4
        split_feature=0 0 1
        threshold=0 1 2
        decision_type=2 2 2
        left_child=-1 2 1
        right_child=-2 -3 -4
        leaf_value=1 2 3 4

        end of trees
        """
    )
    with pytest.raises(ValueError, match="malformed"):
        TreeEnsemble.from_lightgbm_text(text)


def test_input_validation_and_properties() -> None:
    X, y = _data(41, n=500)
    booster = _train({"num_leaves": 7}, X, y, 10)
    ensemble = TreeEnsemble.from_lightgbm_text(booster.model_to_string())
    with pytest.raises(ValueError, match="n_features=8"):
        ensemble.predict(X[:, :5])
    with pytest.raises(ValueError, match="shape"):
        ensemble.predict(X[0])
    with pytest.raises(ValueError, match="shape"):
        ensemble.predict_one(X[:2])
    assert ensemble.predict(X[:3].tolist()).shape == (3,)
    assert isinstance(ensemble.predict_one(X[0]), float)
    assert ensemble.max_depth >= 1 and ensemble.n_nodes == 10 * (2 * 7 - 1)
    assert "TreeEnsemble(n_trees=10" in repr(ensemble)
    with pytest.raises(ValueError):
        ensemble._node_value[0] = 1.0  # read-only


def test_model_without_trees() -> None:
    text = (
        "tree\nversion=v4\nnum_class=1\nmax_feature_idx=2\nobjective=regression\n\nend of trees\n"
    )
    ensemble = TreeEnsemble.from_lightgbm_text(text)
    assert ensemble.n_trees == 0
    np.testing.assert_array_equal(ensemble.predict(np.ones((4, 3))), np.zeros(4))
    assert ensemble.predict_one(np.ones(3)) == 0.0


def test_prediction_needs_no_lightgbm(tmp_path) -> None:
    # _trees.py loaded on its own (the package's __init__ may import other surrogates),
    # in a process where any import of lightgbm fails.
    X, y = _data(42, n=500)
    booster = _train({"num_leaves": 7}, X, y, 10)
    (tmp_path / "model.txt").write_text(booster.model_to_string())
    np.save(tmp_path / "X.npy", X[:20])
    np.save(tmp_path / "expected.npy", booster.predict(X[:20]))
    script = textwrap.dedent(
        f"""\
        import importlib.util
        import sys
        sys.modules["lightgbm"] = None
        import numpy as np
        spec = importlib.util.spec_from_file_location("trees", {_trees.__file__!r})
        trees = sys.modules["trees"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(trees)
        text = open({str(tmp_path / "model.txt")!r}).read()
        ensemble = trees.TreeEnsemble.from_lightgbm_text(text)
        got = ensemble.predict(np.load({str(tmp_path / "X.npy")!r}))
        np.testing.assert_allclose(got, np.load({str(tmp_path / "expected.npy")!r}), rtol=1e-9)
        assert "lightgbm" not in [m for m in sys.modules if sys.modules[m] is not None]
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
