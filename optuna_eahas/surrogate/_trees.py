"""Evaluate LightGBM regression forests in NumPy, without LightGBM at query time.

EA-HAS-Bench's surrogates are LightGBM regressors stored in LightGBM's text model format
(``Booster.model_to_string()``).  :class:`TreeEnsemble` parses that text (no pickle, no
LightGBM) and flattens every tree into a few arrays, so that predictions need only NumPy.
It reproduces LightGBM's predictions exactly, not approximately: the same ``x <= threshold``
comparisons on float64, the same zero and missing-value rules, and the trees summed in the
same order.

How rows are evaluated
----------------------
Internal nodes are grouped into *keys*, the distinct ``(feature, threshold, side of zero,
side of NaN)`` tuples (many nodes share a threshold, since LightGBM splits on bin
boundaries).  One vectorised comparison gives, for every row, the side taken at every key.
The trees are then walked depth-wise for all rows and trees at once: an array of node
indices of shape ``(n_trees, n_rows)`` advances one level per loop iteration (three gathers
and two additions; the loop runs over depth, never over rows or trees).  The two children
of an internal node are stored next to each other, so ``next = left + goes_right``, and a
leaf points at itself, so a row that has reached a leaf stays there.  Trees are stored
deepest first, and level ``d`` touches only the trees deeper than ``d``.  Rows are
processed in chunks that keep these arrays in the CPU caches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TreeEnsemble"]

# LightGBM's ``kZeroThreshold`` (1e-35f, widened to double).  LightGBM's predictor drops
# feature values with ``|x| <= kZeroThreshold`` (they become 0.0), and ``Tree::IsZero``
# uses the same bound.
_K_ZERO_THRESHOLD = float(np.float32(1e-35))

# ``decision_type`` bits, as in LightGBM's ``tree.h``: bit 0 categorical, bit 1 default
# left, bits 2-3 the missing type.
_CATEGORICAL_MASK = 1
_DEFAULT_LEFT_MASK = 2
_MISSING_NONE, _MISSING_ZERO, _MISSING_NAN = 0, 1, 2

# Objectives whose prediction is the raw score (identity output).  ``regression sqrt``
# (``reg_sqrt=True``) squares the raw score and is rejected.
_IDENTITY_OBJECTIVES = ("fair", "huber", "mape", "quantile", "regression", "regression_l1")

# Batch prediction walks chunks of rows whose node-index array, of shape
# ``(n_trees, chunk_rows)``, has about this many entries.
_CHUNK_ENTRIES = 1 << 15
_MIN_CHUNK_ROWS = 16
_MAX_CHUNK_ROWS = 4096

_INT_FIELDS = ("split_feature", "decision_type", "left_child", "right_child")


@dataclass(frozen=True)
class _Forest:
    """LightGBM's per-tree arrays, concatenated over the trees in model order.

    Tree ``t`` owns ``num_leaves[t] - 1`` consecutive entries of the node arrays and
    ``num_leaves[t]`` of ``leaf_value``.  Children are LightGBM's: ``c >= 0`` is internal
    node ``c`` of the same tree, ``c < 0`` its leaf ``~c``.
    """

    names: tuple[str, ...]
    num_leaves: np.ndarray
    split_feature: np.ndarray
    threshold: np.ndarray
    decision_type: np.ndarray
    left_child: np.ndarray
    right_child: np.ndarray
    leaf_value: np.ndarray


class TreeEnsemble:
    """A LightGBM regression forest flattened into NumPy arrays.

    Build one with :meth:`from_lightgbm_text`.  :meth:`predict` evaluates a batch of rows,
    :meth:`predict_one` a single row with less overhead (``predict`` uses the same path for
    a one-row batch).  Instances are immutable and safe to share between threads.

    Supported models: a single output (``num_class=1``), numerical splits only (a
    categorical split raises :class:`ValueError`), no linear trees, and an objective whose
    output is the raw score: ``regression`` (also ``regression_l1``, ``huber``, ``fair``,
    ``quantile`` and ``mape``), or no objective line, which is what a custom objective
    leaves and where LightGBM also predicts raw scores.  ``regression sqrt`` and the
    objectives with a link function (``poisson``, ``binary``, ...) raise
    :class:`ValueError`.  Random-forest models (``boosting="rf"``, whose text has an
    ``average_output`` line) are supported: as LightGBM does, the prediction is then the
    mean of the trees instead of their sum.

    Leaf values are used as stored; the text's leaf values already include the learning
    rate (a tree's ``shrinkage`` line is bookkeeping).  Missing values follow LightGBM:
    with missing type ``NaN`` a NaN takes the node's default side; with missing type
    ``Zero`` zeros and NaNs take the default side; with missing type ``None`` a NaN is read
    as 0.0.  Values with ``|x| <= 1e-35`` count as zero, as in LightGBM's predictor.
    """

    __slots__ = (
        "_n_features",
        "_n_trees",
        "_max_depth",
        "_average_output",
        "_objective",
        "_key_feature",
        "_keys_per_feature",
        "_key_threshold",
        "_key_zero_right",
        "_key_nan_right",
        "_zero_keys",
        "_nan_keys",
        "_node_key",
        "_node_child",
        "_node_value",
        "_roots",
        "_roots_in_order",
        "_unsort",
        "_active_trees",
        "_row_next_table",
    )

    def __init__(
        self,
        forest: _Forest,
        n_features: int,
        *,
        average_output: bool = False,
        objective: str | None = "regression",
    ) -> None:
        # Private: use from_lightgbm_text.
        self._n_features = int(n_features)
        self._n_trees = len(forest.num_leaves)
        self._average_output = bool(average_output)
        self._objective = objective
        self._flatten(forest)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_lightgbm_text(cls, text: str) -> TreeEnsemble:
        """Parse LightGBM's text model format, the output of ``Booster.model_to_string()``
        (or a model file's contents).  Raises :class:`ValueError` for malformed text and
        unsupported models."""
        if not isinstance(text, str):
            raise TypeError(f"expected the model text as str, got {type(text).__name__}")
        header, flags, blocks = _split_model_text(text)
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
        if objective is not None and objective.strip() not in _IDENTITY_OBJECTIVES:
            raise ValueError(
                f"unsupported objective {objective!r}: only objectives whose prediction is "
                f"the raw score are supported ({', '.join(_IDENTITY_OBJECTIVES)}; not "
                "'regression sqrt')"
            )
        forest = _parse_trees(blocks, n_features)
        return cls(
            forest,
            n_features,
            average_output="average_output" in flags,
            objective=None if objective is None else objective.strip(),
        )

    def _flatten(self, forest: _Forest) -> None:
        num_leaves = forest.num_leaves
        n_trees = len(num_leaves)
        n_internal = num_leaves - 1
        n_nodes = 2 * num_leaves - 1
        int_start = _exclusive_cumsum(n_internal)
        leaf_start = _exclusive_cumsum(num_leaves)
        node_start = _exclusive_cumsum(n_nodes)
        total_int = int(n_internal.sum())
        total_nodes = int(n_nodes.sum())

        # Keys: distinct (feature, threshold, side of zero, side of NaN).  The missing
        # type decides where zeros and NaNs go: None reads NaN as 0.0; Zero sends zero and
        # NaN to the default side; NaN sends NaN to the default side.
        dtype = forest.decision_type
        missing = (dtype >> 2) & 3
        default_right = (dtype & _DEFAULT_LEFT_MASK) == 0
        zero_compares_right = forest.threshold < 0.0
        fields = (
            forest.split_feature,
            forest.threshold,
            np.where(missing == _MISSING_ZERO, default_right, zero_compares_right),
            np.where(missing == _MISSING_NONE, zero_compares_right, default_right),
        )
        by_key = np.lexsort(fields[::-1])
        first = np.zeros(total_int, dtype=bool)  # first node of its key, in key order
        first[:1] = True
        for field in fields:
            ordered = field[by_key]
            first[1:] |= ordered[1:] != ordered[:-1]
        node_key_of_internal = np.empty(total_int, dtype=np.intp)
        node_key_of_internal[by_key] = np.cumsum(first) - 1
        keys = [field[by_key[first]] for field in fields]
        n_keys = len(keys[0])
        self._key_feature = keys[0].astype(np.intp)  # sorted: keys are grouped by feature
        self._keys_per_feature = np.bincount(self._key_feature, minlength=self._n_features)
        self._key_threshold = keys[1].astype(np.float64)
        self._key_zero_right = keys[2].astype(bool)
        self._key_nan_right = keys[3].astype(bool)
        # The keys where a plain ``x > threshold`` can be wrong: for some |x| <= 1e-35
        # (compared as 0.0, or sent to the default side), and for NaN when NaN goes right
        # (``NaN > threshold`` is False).
        thr, zero_right = self._key_threshold, self._key_zero_right
        plain = (zero_right & (thr < -_K_ZERO_THRESHOLD)) | (
            ~zero_right & (thr >= _K_ZERO_THRESHOLD)
        )
        self._zero_keys = np.flatnonzero(~plain)
        self._nan_keys = np.flatnonzero(self._key_nan_right)

        # Layout: tree t owns slots node_start[t] .. + n_nodes[t] - 1; its root sits in the
        # first slot and the children of its internal node i in the next two slots after
        # 2 * i, so every node (but the root) gets the slot where its parent points.
        tree_of_int = np.repeat(np.arange(n_trees), n_internal)
        local = np.arange(total_int) - int_start[tree_of_int]
        left_slot = node_start[tree_of_int] + 1 + 2 * local
        slot_of_int = np.full(total_int, -1, dtype=np.intp)
        slot_of_leaf = np.full(len(forest.leaf_value), -1, dtype=np.intp)
        has_split = n_internal > 0
        slot_of_int[int_start[has_split]] = node_start[has_split]
        slot_of_leaf[leaf_start[~has_split]] = node_start[~has_split]
        int_refs = np.zeros(total_int, dtype=np.intp)
        leaf_refs = np.zeros(len(forest.leaf_value), dtype=np.intp)
        for children, slots in (
            (forest.left_child, left_slot),
            (forest.right_child, left_slot + 1),
        ):
            inner = children >= 0
            target = int_start[tree_of_int[inner]] + children[inner]
            slot_of_int[target] = slots[inner]
            int_refs += np.bincount(target, minlength=total_int)
            target = leaf_start[tree_of_int[~inner]] + ~children[~inner]
            slot_of_leaf[target] = slots[~inner]
            leaf_refs += np.bincount(target, minlength=len(leaf_refs))
        expected_int_refs = np.ones(total_int, dtype=np.intp)
        expected_int_refs[int_start[has_split]] = 0
        bad = np.zeros(n_trees, dtype=bool)
        bad[tree_of_int[int_refs != expected_int_refs]] = True
        tree_of_leaf = np.repeat(np.arange(n_trees), num_leaves)
        bad[tree_of_leaf[leaf_refs != has_split[tree_of_leaf]]] = True
        _raise_malformed(forest, bad)

        node_key = np.full(total_nodes, n_keys, dtype=np.intp)  # n_keys: never goes right
        node_key[slot_of_int] = node_key_of_internal
        node_child = np.arange(total_nodes, dtype=np.intp)  # a leaf points at itself
        node_child[slot_of_int] = left_slot
        node_value = np.zeros(total_nodes, dtype=np.float64)
        node_value[slot_of_leaf] = forest.leaf_value

        # Depths, level by level from the roots; each slot is reached once, since every
        # node but a root has exactly one parent.  A slot never reached lies on a cycle.
        is_internal = np.zeros(total_nodes, dtype=bool)
        is_internal[slot_of_int] = True
        depth = np.full(total_nodes, -1, dtype=np.intp)
        depth[node_start] = 0
        frontier = node_start[has_split]
        level = 0
        while frontier.size:
            level += 1
            kids = np.concatenate([node_child[frontier], node_child[frontier] + 1])
            depth[kids] = level
            frontier = kids[is_internal[kids]]
        tree_of_node = np.repeat(np.arange(n_trees), n_nodes)
        bad = np.zeros(n_trees, dtype=bool)
        bad[tree_of_node[depth < 0]] = True
        _raise_malformed(forest, bad)
        tree_depth = np.maximum.reduceat(depth, node_start) if n_trees else np.zeros(0, np.intp)

        # Store the trees deepest first, so that level d of the walk touches a prefix.
        order = np.argsort(-tree_depth, kind="stable")
        unsort = np.empty(n_trees, dtype=np.intp)
        unsort[order] = np.arange(n_trees)
        new_start = np.empty(n_trees, dtype=np.intp)
        new_start[order] = _exclusive_cumsum(n_nodes[order])
        shift = (new_start - node_start)[tree_of_node]
        moved = np.arange(total_nodes) + shift
        self._node_key = np.empty(total_nodes, dtype=np.intp)
        self._node_key[moved] = node_key
        self._node_child = np.empty(total_nodes, dtype=np.intp)
        self._node_child[moved] = node_child + shift
        self._node_value = np.empty(total_nodes, dtype=np.float64)
        self._node_value[moved] = node_value
        self._roots = np.ascontiguousarray(new_start[order])
        self._roots_in_order = new_start
        self._unsort = unsort
        sorted_depth = tree_depth[order]
        self._max_depth = int(sorted_depth[0]) if n_trees else 0
        self._active_trees = tuple(
            int(np.count_nonzero(sorted_depth > d)) for d in range(self._max_depth)
        )
        # A single row either walks with three gathers per level, or first builds every
        # node's next node (two passes over all nodes) and then gathers once per level.
        # Rough costs measured with NumPy: 1 us per call, 1.5 ns per gathered tree, and
        # 2.5 ns per node for the table.
        saved_per_level = 3 * (1e-6 + 1.5e-9 * n_trees)
        self._row_next_table = 2.5e-9 * total_nodes < self._max_depth * saved_per_level
        for name in self.__slots__:
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                value.flags.writeable = False

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
        """Depth of the deepest tree (0 when every tree is a single leaf)."""
        return self._max_depth

    @property
    def n_nodes(self) -> int:
        """Internal nodes plus leaves, over all trees."""
        return len(self._node_child)

    @property
    def average_output(self) -> bool:
        """True for random-forest models, whose prediction is the mean of the trees."""
        return self._average_output

    @property
    def objective(self) -> str | None:
        """The model's ``objective=`` line (``None`` when it has none)."""
        return self._objective

    def __repr__(self) -> str:
        return (
            f"TreeEnsemble(n_trees={self._n_trees}, n_features={self._n_features}, "
            f"max_depth={self._max_depth}, n_nodes={self.n_nodes}, "
            f"objective={self._objective!r}, average_output={self._average_output})"
        )

    # ------------------------------------------------------------------ prediction

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predict the rows of ``X``, shape ``(n_rows, n_features)``.

        Returns float64 of shape ``(n_rows,)``, equal to LightGBM's ``Booster.predict(X)``.
        """
        X = self._check_input(X, ndim=2)
        n_rows = X.shape[0]
        if n_rows == 1:
            return np.array([self._predict_row(X[0])])
        out = np.zeros(n_rows, dtype=np.float64)
        if n_rows == 0 or self._n_trees == 0:
            return out
        special = _has_zero_or_nan(X, self)
        chunk = min(max(_CHUNK_ENTRIES // self._n_trees, _MIN_CHUNK_ROWS), _MAX_CHUNK_ROWS, n_rows)
        walker = _ChunkWalker(self, chunk)
        for start in range(0, n_rows, chunk):
            stop = min(start + chunk, n_rows)
            if stop - start != walker.n_rows:
                walker = _ChunkWalker(self, stop - start)
            walker.run(X[start:stop], out[start:stop], special)
        if self._average_output:
            out /= self._n_trees
        return out

    def predict_one(self, x: np.ndarray) -> float:
        """Predict one row ``x``, shape ``(n_features,)``."""
        return self._predict_row(self._check_input(x, ndim=1))

    def _predict_row(self, x: np.ndarray) -> float:
        if self._n_trees == 0:
            return 0.0
        values = np.repeat(x, self._keys_per_feature)  # x[key_feature]
        goes_right = np.zeros(len(values) + 1, dtype=bool)  # the last: leaves' sentinel
        np.greater(values, self._key_threshold, out=goes_right[:-1])
        if _has_zero_or_nan(x, self):
            _apply_zero_and_nan_rules(values, goes_right[:-1], self)
        node = self._roots_in_order
        if self._row_next_table:
            next_node = self._node_child + goes_right[self._node_key]
            for _ in range(self._max_depth):
                node = next_node[node]
        else:
            node_key = self._node_key
            node_child = self._node_child
            for _ in range(self._max_depth):
                node = node_child[node] + goes_right[node_key[node]]
        total = np.cumsum(self._node_value[node])[-1]  # sequential, as LightGBM sums
        if self._average_output:
            total /= self._n_trees
        return float(total)

    def _check_input(self, X: np.ndarray, ndim: int) -> np.ndarray:
        X = np.ascontiguousarray(X, dtype=np.float64)
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
        # goes_right[r, k]: row r goes right at key k; column n_keys is the leaves' sentinel.
        self.goes_right = np.zeros((n_rows, n_keys + 1), dtype=bool)
        self.row_offset = np.arange(n_rows, dtype=np.intp) * (n_keys + 1)
        self.node = np.empty((n_trees, n_rows), dtype=np.intp)
        self.index = np.empty((n_trees, n_rows), dtype=np.intp)
        self.step = np.empty((n_trees, n_rows), dtype=bool)
        self.values = np.empty((n_trees, n_rows), dtype=np.float64)

    def run(self, X: np.ndarray, out: np.ndarray, special: bool = True) -> None:
        """Predict the rows ``X`` into ``out`` (before averaging); ``special=False``
        promises that ``X`` holds no NaN and no ``|x| <= 1e-35``."""
        ens = self.ensemble
        # X[:, key_feature], faster since keys are grouped by feature.
        values = np.repeat(X, ens._keys_per_feature, axis=1)
        decisions = self.goes_right[:, :-1]
        np.greater(values, ens._key_threshold, out=decisions)
        if special and _has_zero_or_nan(X, ens):
            _apply_zero_and_nan_rules(values, decisions, ens)
        goes_right = self.goes_right.reshape(-1)
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
            np.take(goes_right, idx, out=step, mode="clip")
            np.take(node_child, cur, out=cur, mode="clip")
            cur += step
        np.take(ens._node_value, node, out=self.values, mode="clip")
        # Back to the model's tree order, then add the trees one after another (a reduction
        # over the leading axis adds row after row), as LightGBM accumulates.
        ordered = self.values.take(ens._unsort, axis=0)
        if self.n_rows == 1:  # NumPy would sum a lone column pairwise
            out[:] = np.cumsum(ordered[:, 0])[-1]
        else:
            np.add.reduce(ordered, axis=0, out=out)


def _has_zero_or_nan(X: np.ndarray, ens: TreeEnsemble) -> bool:
    """Whether ``X`` holds a NaN or a ``|x| <= 1e-35`` that may need the rules below."""
    if not (len(ens._zero_keys) or len(ens._nan_keys)) or X.size == 0:
        return False
    return not np.abs(X).min() > _K_ZERO_THRESHOLD  # NaN: min is NaN, comparison False


def _apply_zero_and_nan_rules(
    values: np.ndarray, goes_right: np.ndarray, ens: TreeEnsemble
) -> None:
    """Correct ``goes_right`` (shaped like ``values``, keys on the last axis) where a
    value is zero (``|x| <= 1e-35``) or NaN."""
    keys = ens._zero_keys
    if len(keys):
        zero = np.abs(values[..., keys]) <= _K_ZERO_THRESHOLD
        if zero.any():
            goes_right[..., keys] = np.where(
                zero, ens._key_zero_right[keys], goes_right[..., keys]
            )
    keys = ens._nan_keys
    if len(keys):
        nan = np.isnan(values[..., keys])
        if nan.any():
            goes_right[..., keys] |= nan


def _exclusive_cumsum(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts), dtype=np.intp)
    np.cumsum(counts[:-1], out=out[1:])
    return out


def _raise_malformed(forest: _Forest, bad: np.ndarray) -> None:
    if bad.any():
        name = forest.names[int(np.argmax(bad))]
        raise ValueError(
            f"Tree={name}: malformed tree (its nodes and leaves do not form one binary tree)"
        )


# ---------------------------------------------------------------------- text parsing


def _split_model_text(
    text: str,
) -> tuple[dict[str, str], set[str], list[tuple[str, dict[str, str]]]]:
    """Split the text into header ``key=value`` pairs, bare header words and tree blocks."""
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


def _parse_trees(blocks: list[tuple[str, dict[str, str]]], n_features: int) -> _Forest:
    names = tuple(name for name, _ in blocks)
    num_leaves = np.zeros(len(blocks), dtype=np.intp)
    tokens: dict[str, list[str]] = {key: [] for key in (*_INT_FIELDS, "threshold")}
    leaf_tokens: list[str] = []
    for t, (name, block) in enumerate(blocks):
        where = f"Tree={name}"
        try:
            n_leaves = int(block["num_leaves"])
        except KeyError:
            raise ValueError(f"{where}: missing 'num_leaves='") from None
        except ValueError:
            raise ValueError(f"{where}: invalid num_leaves={block['num_leaves']!r}") from None
        if n_leaves < 1:
            raise ValueError(f"{where}: num_leaves={n_leaves}")
        if block.get("num_cat", "0").strip() not in ("", "0"):
            raise ValueError(
                f"{where} has categorical splits (num_cat={block['num_cat']}); only numerical "
                "splits are supported: train without categorical_feature"
            )
        if block.get("is_linear", "0").strip() not in ("", "0"):
            raise ValueError(f"{where} is a linear tree (linear_tree=true); not supported")
        num_leaves[t] = n_leaves
        for key, n in (*((k, n_leaves - 1) for k in tokens), ("leaf_value", n_leaves)):
            if key not in block:
                if n == 0:
                    continue
                raise ValueError(f"{where}: missing '{key}='")
            values = block[key].split()
            if len(values) != n:
                raise ValueError(f"{where}: {key} has {len(values)} entries, expected {n}")
            (leaf_tokens if key == "leaf_value" else tokens[key]).extend(values)

    arrays: dict[str, np.ndarray] = {}
    for key, values in (*tokens.items(), ("leaf_value", leaf_tokens)):
        kind = np.float64 if key in ("threshold", "leaf_value") else np.intp
        try:
            # NumPy's string-to-float conversion is correctly rounded, so the 17
            # significant digits LightGBM writes give back the exact doubles.
            arrays[key] = np.array(values, dtype=kind).reshape(-1)
        except (ValueError, OverflowError):
            raise ValueError(f"invalid number in a tree's {key} line") from None

    n_internal = num_leaves - 1
    tree_of_int = np.repeat(np.arange(len(blocks)), n_internal)

    def check(bad: np.ndarray, what: str) -> None:
        if bad.any():
            raise ValueError(f"Tree={names[tree_of_int[np.argmax(bad)]]}: {what}")

    dtype = arrays["decision_type"]
    check(
        (dtype & _CATEGORICAL_MASK) != 0,
        "categorical split (decision_type bit 0); only numerical splits are supported: "
        "train without categorical_feature",
    )
    check((dtype < 0) | (((dtype >> 2) & 3) > _MISSING_NAN), "invalid decision_type")
    feature = arrays["split_feature"]
    check((feature < 0) | (feature >= n_features), f"split_feature outside 0..{n_features - 1}")
    check(np.isnan(arrays["threshold"]), "NaN threshold")
    for key in ("left_child", "right_child"):
        child = arrays[key]
        check(
            (child >= n_internal[tree_of_int]) | (child < -num_leaves[tree_of_int]),
            f"{key} out of range",
        )
    return _Forest(
        names=names,
        num_leaves=num_leaves,
        split_feature=feature,
        threshold=arrays["threshold"],
        decision_type=dtype,
        left_child=arrays["left_child"],
        right_child=arrays["right_child"],
        leaf_value=arrays["leaf_value"],
    )
