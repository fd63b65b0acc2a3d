"""Evaluate LightGBM regression forests in NumPy, without LightGBM at query time.

EA-HAS-Bench's surrogates are LightGBM regressors stored in LightGBM's text model format
(``Booster.model_to_string()``).  :class:`TreeEnsemble` parses that text and flattens every
tree into a few arrays, so that predictions need only NumPy.  It reproduces LightGBM's
prediction exactly (same comparisons, same missing-value rules, trees summed in the same
order), not approximately.

How a batch is evaluated
------------------------
Internal nodes are grouped into *keys*: distinct ``(feature, threshold, direction of zero,
direction of NaN)`` tuples (many nodes share a threshold because LightGBM splits on bin
boundaries).  For a chunk of rows, one vectorised comparison gives the direction taken at
every key for every row.  The trees are then walked depth-wise for all rows and trees at
once: a node-index array of shape ``(n_trees, n_rows)`` takes one step per loop iteration
(three gathers and two additions; the loop runs over depth, never over rows or trees).
Children of an internal node are stored next to each other, so ``next = left + go_right``;
a leaf points at itself, so rows that have reached a leaf stay there.  Trees are ordered
by depth, deepest first, and step ``d`` only touches the trees deeper than ``d``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["TreeEnsemble"]

# LightGBM's ``kZeroThreshold`` (1e-35f, widened to double).  LightGBM's predictor drops
# feature values with ``|x| <= kZeroThreshold`` (they become 0.0) and ``Tree::IsZero`` uses
# the same bound.
_K_ZERO_THRESHOLD = float(np.float32(1e-35))

# ``decision_type`` bits, as in LightGBM's ``tree.h``.
_CATEGORICAL_MASK = 1
_DEFAULT_LEFT_MASK = 2
_MISSING_NONE, _MISSING_ZERO, _MISSING_NAN = 0, 1, 2

# Objectives whose prediction is the raw score (identity link).  ``regression sqrt``
# (``reg_sqrt=True``) squares the raw score and is rejected.
_IDENTITY_OBJECTIVES = frozenset(
    {"regression", "regression_l1", "huber", "fair", "quantile", "mape"}
)

# Rows per chunk in batch prediction are chosen so that a chunk's node-index array holds
# about this many entries (it and its companions then stay in the CPU caches).
_CHUNK_ENTRIES = 1 << 15
_MIN_CHUNK_ROWS = 16
_MAX_CHUNK_ROWS = 4096


@dataclass(frozen=True)
class _Tree:
    """One tree as LightGBM stores it (node ``i``'s children: ``>= 0`` node, ``< 0`` leaf
    ``~child``)."""

    split_feature: np.ndarray
    threshold: np.ndarray
    decision_type: np.ndarray
    left_child: np.ndarray
    right_child: np.ndarray
    leaf_value: np.ndarray

    @property
    def num_leaves(self) -> int:
        return len(self.leaf_value)


class TreeEnsemble:
    """A LightGBM regression forest flattened into NumPy arrays.

    Build one with :meth:`from_lightgbm_text`; :meth:`predict` evaluates many rows at once
    and :meth:`predict_one` one row with less overhead.

    Supported models: one output (``num_class=1``), numerical splits only, no linear trees,
    and an identity-output objective (``regression``, ``regression_l1``, ``huber``,
    ``fair``, ``quantile``, ``mape``, or no objective line, as with a custom objective,
    where LightGBM predicts raw scores).  Random-forest models (``boosting="rf"``, whose
    text has an ``average_output`` line) are supported: as in LightGBM, the prediction is
    the mean of the trees instead of their sum.  Anything else raises :class:`ValueError`.

    Missing values follow LightGBM: with missing type ``NaN`` a NaN goes the node's default
    direction; with missing type ``Zero`` zero and NaN go the default direction; with
    missing type ``None`` NaN is treated as 0.0.  Values with ``|x| <= 1e-35`` count as
    zero, as in LightGBM's predictor.  Leaf values are used as stored: the text's leaf
    values already include the learning rate (``shrinkage``).
    """

    __slots__ = (
        "_n_features",
        "_n_trees",
        "_max_depth",
        "_average_output",
        "_objective",
        "_key_feature",
        "_key_threshold",
        "_key_zero_right",
        "_key_nan_right",
        "_zero_sensitive",
        "_node_key",
        "_node_child",
        "_node_value",
        "_roots",
        "_roots_in_order",
        "_unsort",
        "_active_trees",
    )

    def __init__(
        self,
        trees: Sequence[_Tree],
        n_features: int,
        *,
        average_output: bool = False,
        objective: str | None = "regression",
    ) -> None:
        self._n_features = int(n_features)
        self._n_trees = len(trees)
        self._average_output = bool(average_output)
        self._objective = objective
        self._flatten(trees)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_lightgbm_text(cls, text: str) -> TreeEnsemble:
        """Parse LightGBM's text model format (``Booster.model_to_string()`` or a model
        file's contents)."""
        if not isinstance(text, str):
            raise TypeError(f"expected the model text as str, got {type(text).__name__}")
        header, flags, tree_blocks = _split_model_text(text)
        n_features = _header_int(header, "max_feature_idx") + 1
        if n_features < 0:
            raise ValueError(f"invalid max_feature_idx={header['max_feature_idx']!r}")
        num_class = _header_int(header, "num_class", default=1)
        per_iteration = _header_int(header, "num_tree_per_iteration", default=num_class)
        if num_class != 1 or per_iteration != 1:
            raise ValueError(
                "only single-output models are supported, got "
                f"num_class={num_class}, num_tree_per_iteration={per_iteration}"
            )
        objective = header.get("objective")
        if objective is not None:
            tokens = objective.split()
            if not tokens or tokens[0] not in _IDENTITY_OBJECTIVES or len(tokens) > 1:
                raise ValueError(
                    f"unsupported objective {objective!r}: only regression objectives with "
                    f"identity output are supported ({', '.join(sorted(_IDENTITY_OBJECTIVES))}"
                    ", without 'sqrt')"
                )
        trees = [_parse_tree(name, block, n_features) for name, block in tree_blocks]
        return cls(
            trees,
            n_features,
            average_output="average_output" in flags,
            objective=objective,
        )

    def _flatten(self, trees: Sequence[_Tree]) -> None:
        keys: dict[tuple[int, float, bool, bool], int] = {}
        node_key: list[np.ndarray] = []
        node_child: list[np.ndarray] = []
        node_value: list[np.ndarray] = []
        depths = np.zeros(len(trees), dtype=np.intp)
        flat: list[tuple[list[int], list[int], list[float], list[int]]] = []
        for t, tree in enumerate(trees):
            key_of, child, value, depth = _layout_tree(tree, keys)
            flat.append((key_of, child, value, depth))
            depths[t] = max(depth)
        # Deepest trees first, so that step d of the walk touches a prefix of the trees.
        order = np.argsort(-depths, kind="stable")
        unsort = np.empty_like(order)
        unsort[order] = np.arange(len(order))
        n_keys = len(keys)
        roots = np.empty(len(trees), dtype=np.intp)
        offset = 0
        for t in order:
            key_of, child, value, _ = flat[t]
            roots[t] = offset
            # Leaves read key ``n_keys``, a sentinel column that never goes right.
            node_key.append(np.array([n_keys if k < 0 else k for k in key_of], dtype=np.intp))
            node_child.append(np.asarray(child, dtype=np.intp) + offset)
            node_value.append(np.asarray(value, dtype=np.float64))
            offset += len(child)

        key_arr = list(keys)  # insertion order == key ids
        self._key_feature = np.array([k[0] for k in key_arr], dtype=np.intp)
        self._key_threshold = np.array([k[1] for k in key_arr], dtype=np.float64)
        self._key_zero_right = np.array([k[2] for k in key_arr], dtype=bool)
        self._key_nan_right = np.array([k[3] for k in key_arr], dtype=bool)
        # Whether some value with |x| <= kZeroThreshold would go another way than a plain
        # ``x > threshold`` says; only then must a chunk's tiny values be looked at.
        thr = self._key_threshold
        zr = self._key_zero_right
        plain = (zr & (thr < -_K_ZERO_THRESHOLD)) | (~zr & (thr >= _K_ZERO_THRESHOLD))
        self._zero_sensitive = bool(np.any(~plain))

        empty_i = np.zeros(0, dtype=np.intp)
        self._node_key = np.concatenate(node_key) if node_key else empty_i
        self._node_child = np.concatenate(node_child) if node_child else empty_i
        self._node_value = np.concatenate(node_value) if node_value else np.zeros(0)
        self._roots = roots[order]
        self._roots_in_order = roots
        self._unsort = unsort
        sorted_depths = depths[order]
        self._max_depth = int(sorted_depths[0]) if len(trees) else 0
        self._active_trees = tuple(
            int(np.count_nonzero(sorted_depths > d)) for d in range(self._max_depth)
        )
        for arr in (
            self._key_feature,
            self._key_threshold,
            self._key_zero_right,
            self._key_nan_right,
            self._node_key,
            self._node_child,
            self._node_value,
            self._roots,
            self._roots_in_order,
            self._unsort,
        ):
            arr.flags.writeable = False

    # ------------------------------------------------------------------ properties

    @property
    def n_features(self) -> int:
        """Number of input columns (``max_feature_idx + 1``)."""
        return self._n_features

    @property
    def n_trees(self) -> int:
        return self._n_trees

    @property
    def max_depth(self) -> int:
        """Depth of the deepest tree (0 when all trees are single leaves)."""
        return self._max_depth

    @property
    def n_nodes(self) -> int:
        """Internal nodes plus leaves, over all trees."""
        return len(self._node_child)

    @property
    def average_output(self) -> bool:
        """True for random-forest models: the prediction is the trees' mean."""
        return self._average_output

    @property
    def objective(self) -> str | None:
        return self._objective

    def __repr__(self) -> str:
        return (
            f"TreeEnsemble(n_trees={self._n_trees}, n_features={self._n_features}, "
            f"max_depth={self._max_depth}, n_nodes={self.n_nodes}, "
            f"objective={self._objective!r}, average_output={self._average_output})"
        )

    # ------------------------------------------------------------------ prediction

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predict rows of ``X`` (shape ``(n_rows, n_features)``); returns ``(n_rows,)``
        float64, equal to LightGBM's ``Booster.predict(X)``."""
        X = self._check_input(X, ndim=2)
        n_rows = X.shape[0]
        if n_rows == 1:
            return np.array([self._predict_row(X[0])])
        out = np.zeros(n_rows, dtype=np.float64)
        if n_rows == 0 or self._n_trees == 0:
            return out
        has_nan = bool(np.isnan(X).any())
        has_tiny = self._zero_sensitive and bool((np.abs(X) <= _K_ZERO_THRESHOLD).any())
        chunk = min(max(_CHUNK_ENTRIES // self._n_trees, _MIN_CHUNK_ROWS), _MAX_CHUNK_ROWS, n_rows)
        walker = _ChunkWalker(self, chunk)
        for start in range(0, n_rows, chunk):
            stop = min(start + chunk, n_rows)
            if stop - start != walker.n_rows:
                walker = _ChunkWalker(self, stop - start)
            walker.run(X[start:stop], out[start:stop], has_nan, has_tiny)
        if self._average_output:
            out /= self._n_trees
        return out

    def predict_one(self, x: np.ndarray) -> float:
        """Predict one row ``x`` (shape ``(n_features,)``)."""
        return self._predict_row(self._check_input(x, ndim=1))

    def _predict_row(self, x: np.ndarray) -> float:
        if self._n_trees == 0:
            return 0.0
        values = x[self._key_feature]
        go_right = np.zeros(len(values) + 1, dtype=bool)  # last: the leaves' sentinel key
        np.greater(values, self._key_threshold, out=go_right[:-1])
        if self._zero_sensitive or np.isnan(values).any():
            _fix_special(values, go_right[:-1], self)
        node_key = self._node_key
        node_child = self._node_child
        node = self._roots_in_order
        for _ in range(self._max_depth):
            node = node_child[node] + go_right[node_key[node]]
        total = np.cumsum(self._node_value[node])[-1]  # sequential, as LightGBM sums
        if self._average_output:
            total /= self._n_trees
        return float(total)

    def _check_input(self, X: np.ndarray, ndim: int) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != ndim or X.shape[-1] != self._n_features:
            expected = "(n_rows, n_features)" if ndim == 2 else "(n_features,)"
            raise ValueError(
                f"expected an array of shape {expected} with n_features={self._n_features}, "
                f"got shape {X.shape}"
            )
        return X


class _ChunkWalker:
    """Buffers for walking a fixed number of rows through all trees."""

    def __init__(self, ensemble: TreeEnsemble, n_rows: int) -> None:
        self.ensemble = ensemble
        self.n_rows = n_rows
        n_keys = len(ensemble._key_feature)
        n_trees = len(ensemble._roots)
        # go_right[r, k]: row r goes right at key k; column n_keys is the leaves' sentinel.
        self.go_right = np.zeros((n_rows, n_keys + 1), dtype=bool)
        self.key_values = np.empty((n_rows, n_keys), dtype=np.float64)
        self.row_offset = np.arange(n_rows, dtype=np.intp) * (n_keys + 1)
        self.node = np.empty((n_trees, n_rows), dtype=np.intp)
        self.index = np.empty((n_trees, n_rows), dtype=np.intp)
        self.step = np.empty((n_trees, n_rows), dtype=bool)
        self.values = np.empty((n_trees, n_rows), dtype=np.float64)

    def run(self, X: np.ndarray, out: np.ndarray, has_nan: bool, has_tiny: bool) -> None:
        ens = self.ensemble
        values = np.take(X, ens._key_feature, axis=1, out=self.key_values)
        decisions = self.go_right[:, :-1]
        np.greater(values, ens._key_threshold, out=decisions)
        if (has_nan and np.isnan(X).any()) or (
            has_tiny and (np.abs(X) <= _K_ZERO_THRESHOLD).any()
        ):
            _fix_special(values, decisions, ens)
        go_right = self.go_right.reshape(-1)
        node_key = ens._node_key
        node_child = ens._node_child
        node = self.node
        node[...] = ens._roots[:, None]
        for n_active in ens._active_trees:
            cur = node[:n_active]
            idx = self.index[:n_active]
            step = self.step[:n_active]
            np.take(node_key, cur, out=idx, mode="clip")
            idx += self.row_offset
            np.take(go_right, idx, out=step, mode="clip")
            np.take(node_child, cur, out=cur, mode="clip")
            cur += step
        np.take(ens._node_value, node, out=self.values, mode="clip")
        # Back to the model's tree order, then a sequential sum over trees (reducing over
        # the leading axis adds row after row), exactly as LightGBM accumulates.
        np.add.reduce(self.values.take(ens._unsort, axis=0), axis=0, out=out)


def _fix_special(values: np.ndarray, go_right: np.ndarray, ens: TreeEnsemble) -> None:
    """Apply LightGBM's zero and NaN rules to ``go_right`` (shape of ``values``)."""
    if ens._zero_sensitive:
        zero = np.abs(values) <= _K_ZERO_THRESHOLD
        if zero.any():
            np.copyto(go_right, np.broadcast_to(ens._key_zero_right, values.shape), where=zero)
    nan = np.isnan(values)
    if nan.any():
        np.copyto(go_right, np.broadcast_to(ens._key_nan_right, values.shape), where=nan)


def _layout_tree(
    tree: _Tree, keys: dict[tuple[int, float, bool, bool], int]
) -> tuple[list[int], list[int], list[float], list[int]]:
    """Breadth-first layout of one tree with adjacent children.

    Returns per position: key id (``-1`` for leaves), child position (left child, or the
    position itself for a leaf), leaf value (0.0 for internal nodes) and depth.
    """
    refs = [0 if tree.num_leaves > 1 else -1]  # LightGBM refs: node >= 0, leaf ~ref
    depth = [0]
    key_of: list[int] = []
    child: list[int] = []
    value: list[float] = []
    seen = set()
    pos = 0
    while pos < len(refs):
        ref = refs[pos]
        if ref >= 0:
            if ref in seen:
                raise ValueError("malformed tree: a node is reached twice")
            seen.add(ref)
            dtype = int(tree.decision_type[ref])
            thr = float(tree.threshold[ref])
            missing = (dtype >> 2) & 3
            default_right = not (dtype & _DEFAULT_LEFT_MASK)
            zero_compares_right = 0.0 > thr
            if missing == _MISSING_NONE:
                zero_right = nan_right = zero_compares_right
            elif missing == _MISSING_ZERO:
                zero_right = nan_right = default_right
            else:
                zero_right, nan_right = zero_compares_right, default_right
            key = (int(tree.split_feature[ref]), thr, zero_right, nan_right)
            key_of.append(keys.setdefault(key, len(keys)))
            child.append(len(refs))
            value.append(0.0)
            refs.append(int(tree.left_child[ref]))
            refs.append(int(tree.right_child[ref]))
            depth.append(depth[pos] + 1)
            depth.append(depth[pos] + 1)
        else:
            key_of.append(-1)
            child.append(pos)
            value.append(float(tree.leaf_value[~ref]))
        pos += 1
    if len(refs) != 2 * tree.num_leaves - 1 or len(seen) != tree.num_leaves - 1:
        raise ValueError("malformed tree: nodes and leaves do not form one binary tree")
    leaves = sorted(~r for r in refs if r < 0)
    if leaves != list(range(tree.num_leaves)):
        raise ValueError("malformed tree: leaf indices are not 0 .. num_leaves - 1")
    return key_of, child, value, [depth[p] for p in range(len(refs)) if refs[p] < 0]


# ---------------------------------------------------------------------- text parsing


def _split_model_text(
    text: str,
) -> tuple[dict[str, str], set[str], list[tuple[str, dict[str, str]]]]:
    """Split the text into header ``key=value`` pairs, bare header flags and tree blocks."""
    header: dict[str, str] = {}
    flags: set[str] = set()
    trees: list[tuple[str, dict[str, str]]] = []
    block: dict[str, str] | None = None
    ended = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == "end of trees":
            ended = True
            break
        key, sep, value = line.partition("=")
        if key == "Tree":
            block = {}
            trees.append((value, block))
        elif block is not None:
            if sep:
                block[key] = value
        elif sep:
            header[key] = value
        else:
            flags.add(line)
    if "tree" not in flags or "max_feature_idx" not in header:
        raise ValueError("not a LightGBM text model (expected the output of model_to_string())")
    if not ended:
        raise ValueError("truncated LightGBM model text: no 'end of trees' line")
    return header, flags, trees


def _header_int(header: dict[str, str], key: str, default: int | None = None) -> int:
    if key not in header:
        if default is None:
            raise ValueError(f"LightGBM model text lacks '{key}='")
        return default
    try:
        return int(header[key])
    except ValueError:
        raise ValueError(f"invalid {key}={header[key]!r} in LightGBM model text") from None


def _parse_tree(name: str, block: dict[str, str], n_features: int) -> _Tree:
    where = f"Tree={name}"

    def field(key: str) -> str:
        if key not in block:
            raise ValueError(f"{where}: missing '{key}='")
        return block[key]

    def ints(key: str, n: int) -> np.ndarray:
        try:
            arr = np.array([int(v) for v in field(key).split()], dtype=np.int64)
        except ValueError:
            raise ValueError(f"{where}: invalid {key}") from None
        if len(arr) != n:
            raise ValueError(f"{where}: {key} has {len(arr)} entries, expected {n}")
        return arr

    def floats(key: str, n: int) -> np.ndarray:
        # Python's float() is correctly rounded, so the 17 significant digits LightGBM
        # writes give back the exact doubles.
        try:
            arr = np.array([float(v) for v in field(key).split()], dtype=np.float64)
        except ValueError:
            raise ValueError(f"{where}: invalid {key}") from None
        if len(arr) != n:
            raise ValueError(f"{where}: {key} has {len(arr)} entries, expected {n}")
        return arr

    try:
        num_leaves = int(field("num_leaves"))
    except ValueError:
        raise ValueError(f"{where}: invalid num_leaves") from None
    if num_leaves < 1:
        raise ValueError(f"{where}: num_leaves={num_leaves}")
    if int(block.get("num_cat", "0")) > 0:
        raise ValueError(
            f"{where} has categorical splits (num_cat={block['num_cat']}); only numerical "
            "splits are supported: train without categorical_feature"
        )
    if block.get("is_linear", "0").strip() not in ("", "0"):
        raise ValueError(f"{where} is a linear tree (linear_tree=true); not supported")
    n_int = num_leaves - 1
    decision_type = ints("decision_type", n_int) if n_int else np.zeros(0, np.int64)
    if np.any(decision_type & _CATEGORICAL_MASK):
        raise ValueError(
            f"{where} has categorical splits (decision_type bit 0); only numerical splits "
            "are supported: train without categorical_feature"
        )
    if np.any(((decision_type >> 2) & 3) > _MISSING_NAN):
        raise ValueError(f"{where}: invalid missing type in decision_type")
    if n_int:
        split_feature = ints("split_feature", n_int)
        threshold = floats("threshold", n_int)
        left_child = ints("left_child", n_int)
        right_child = ints("right_child", n_int)
    else:
        split_feature = left_child = right_child = np.zeros(0, np.int64)
        threshold = np.zeros(0)
    leaf_value = floats("leaf_value", num_leaves)
    if np.any((split_feature < 0) | (split_feature >= n_features)):
        raise ValueError(f"{where}: split_feature out of range 0 .. {n_features - 1}")
    children = np.concatenate([left_child, right_child])
    if np.any((children >= n_int) | (children < -num_leaves)):
        raise ValueError(f"{where}: child index out of range")
    if np.isnan(threshold).any():
        raise ValueError(f"{where}: NaN threshold")
    return _Tree(split_feature, threshold, decision_type, left_child, right_child, leaf_value)
