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
Batches of rows are processed in chunks that keep the working arrays in the CPU caches,
and each chunk finds its leaves in one of two ways.

*Leaf bit vectors* (QuickScorer, Lucchese et al., SIGIR 2015), when no tree has more than
64 leaves: number each tree's leaves from left to right; a node that sends a row right
rules out the leaves of its left subtree, and the row's leaf is the leftmost one not ruled
out.  A tree's internal nodes are packed eight to a byte, and a table per tree and byte
holds the leaves ruled out by every pattern of sides, so a tree costs a few table lookups
per row whatever its depth.

*Walking*, otherwise: an array of node indices of shape ``(n_trees, n_rows)`` advances one
level per loop iteration (the loop runs over depth, never over rows or trees).  The two
children of an internal node are stored next to each other, so ``next = left +
goes_right``, and a leaf points at itself, so a row that has reached a leaf stays there.
Each node's left child and key are packed into one integer, so that a level costs two
gathers (the packed node, then the side taken at its key).  Trees are stored deepest
first, and level ``d`` touches only the trees deeper than ``d``.

A single row is walked through all trees at once too, either level by level or through a
table of every node's next node, whichever is cheaper for the model's size.
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

# Batch prediction processes chunks of rows whose arrays of shape ``(n_trees, chunk_rows)``
# (node indices or leaves) have about this many entries.
_CHUNK_ENTRIES = 1 << 15
_MIN_CHUNK_ROWS = 16
_MAX_CHUNK_ROWS = 4096
# A packed node holds its left child above bit 32 and the offset of its key's row in the
# chunk's decision table below it.
_PACK_SHIFT = 32
_PACK_MASK = (1 << _PACK_SHIFT) - 1
# Trees with at most this many leaves are evaluated with leaf bit vectors (see _LeafBits).
_MAX_BIT_LEAVES = 64
_BYTE_SHIFTS = np.arange(8, dtype=np.uint64)[:, None]

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
        "_bits",
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
        self._bits = _LeafBits.build(
            num_leaves, node_key, node_child, node_value, depth, is_internal, n_keys
        )

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
        rules = _special_rules(X, self)
        kind = _ChunkWalker if self._bits is None else _ChunkBits
        chunk = min(max(_CHUNK_ENTRIES // self._n_trees, _MIN_CHUNK_ROWS), _MAX_CHUNK_ROWS)
        # Key offsets must fit below the packed left child.
        chunk = max(1, min(chunk, n_rows, _PACK_MASK // (len(self._key_feature) + 1)))
        evaluator = kind(self, chunk)
        for start in range(0, n_rows, chunk):
            stop = min(start + chunk, n_rows)
            if stop - start != evaluator.n_rows:
                evaluator = kind(self, stop - start)
            evaluator.run(X[start:stop], out[start:stop], rules)
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
        _apply_zero_and_nan_rules(values, goes_right[:-1], self, _special_rules(x, self))
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
        # goes_right[k, r]: row r goes right at key k; row n_keys is the leaves' sentinel.
        self.goes_right = np.zeros((n_keys + 1, n_rows), dtype=bool)
        # Left child above _PACK_SHIFT, and the offset of the key's row of goes_right.
        self.packed = (ensemble._node_child << _PACK_SHIFT) | (ensemble._node_key * n_rows)
        self.row = np.arange(n_rows, dtype=np.intp)
        self.root_child = ensemble._node_child[ensemble._roots, None]
        self.root_key = ensemble._node_key[ensemble._roots]
        self.node = np.empty((n_trees, n_rows), dtype=np.intp)
        self.index = np.empty((n_trees, n_rows), dtype=np.intp)
        self.step = np.empty((n_trees, n_rows), dtype=bool)
        self.values = np.empty((n_trees, n_rows), dtype=np.float64)

    def run(self, X: np.ndarray, out: np.ndarray, rules: tuple[bool, bool]) -> None:
        """Predict the rows ``X`` into ``out`` (before averaging); ``rules`` says whether
        ``X`` may need the zero and the NaN rules (see :func:`_special_rules`)."""
        ens = self.ensemble
        _decide(ens, X, self.goes_right[:-1], rules)
        goes_right = self.goes_right.reshape(-1)
        packed = self.packed
        node = self.node
        # Level 0: every row is at the roots, whose sides are rows of goes_right.
        np.add(self.root_child, self.goes_right[self.root_key], out=node)
        for n_active in ens._active_trees[1:]:
            cur = node[:n_active]
            idx = self.index[:n_active]
            step = self.step[:n_active]
            np.take(packed, cur, out=idx, mode="clip")
            np.right_shift(idx, _PACK_SHIFT, out=cur)
            idx &= _PACK_MASK
            idx += self.row
            np.take(goes_right, idx, out=step, mode="clip")
            cur += step
        np.take(ens._node_value, node, out=self.values, mode="clip")
        _add_trees(self.values.take(ens._unsort, axis=0), out)


class _ChunkBits:
    """Buffers for evaluating a fixed number of rows with leaf bit vectors (see _LeafBits)."""

    def __init__(self, ensemble: TreeEnsemble, n_rows: int) -> None:
        bits = ensemble._bits
        assert bits is not None
        self.ensemble = ensemble
        self.bits = bits
        self.n_rows = n_rows
        n_trees, n_bytes = ensemble._n_trees, bits.n_bytes
        # Rows padded to whole 8-byte words; padding rows go left everywhere.
        width = -(-n_rows // 8) * 8
        self.goes_right = np.zeros((len(ensemble._key_feature) + 1, width), dtype=bool)
        self.sides = np.empty((n_trees * n_bytes * 8, width), dtype=bool)
        self.shifted = np.empty((n_trees, n_bytes, 8, width // 8), dtype=np.uint64)
        self.codes = np.empty((n_trees, n_bytes, width // 8), dtype=np.uint64)
        self.index = np.empty((n_trees, n_bytes, width), dtype=np.intp)
        self.ruled_out = np.empty((n_trees, n_bytes, width), dtype=bits.tables.dtype)

    def run(self, X: np.ndarray, out: np.ndarray, rules: tuple[bool, bool]) -> None:
        """Predict the rows ``X`` into ``out`` (before averaging); ``rules`` as for
        :meth:`_ChunkWalker.run`."""
        ens, bits = self.ensemble, self.bits
        _decide(ens, X, self.goes_right[:-1, : len(X)], rules)
        # The sides at each tree's nodes, as bytes of words that hold eight rows each.
        np.take(self.goes_right, bits.node_keys, axis=0, out=self.sides)
        words = self.sides.view(np.uint64).reshape(self.shifted.shape)
        np.left_shift(words, _BYTE_SHIFTS, out=self.shifted)
        np.bitwise_or.reduce(self.shifted, axis=2, out=self.codes)
        np.add(self.codes.view(np.uint8), bits.table_offsets, out=self.index)
        np.take(bits.tables, self.index, out=self.ruled_out, mode="clip")
        ruled_out = np.bitwise_or.reduce(self.ruled_out, axis=1)
        # The leftmost leaf not ruled out: the lowest zero bit, 2**k = 0.5 * 2**(k + 1).
        lowest = np.bitwise_and(ruled_out + 1, ~ruled_out).astype(np.float64)
        leaf = np.frexp(lowest)[1] + bits.leaf_offsets
        values = bits.leaf_values.take(leaf[:, : self.n_rows], mode="clip")
        _add_trees(values, out)


@dataclass(frozen=True)
class _LeafBits:
    """Tables for evaluating trees with bit vectors of their leaves (see the module doc).

    Leaves are numbered from left to right within their tree.  A tree's internal nodes fill
    ``n_bytes * 8`` slots (the missing ones get the never-right sentinel key); the table
    entry ``tables[(tree * n_bytes + byte) * 256 + pattern]`` holds the leaves ruled out
    by the nodes of that byte whose bits are set in ``pattern`` (sent right), so a row's
    ruled-out leaves are the union over a tree's bytes.
    """

    n_bytes: int
    node_keys: np.ndarray  # (n_trees * n_bytes * 8,): the key of each node slot
    tables: np.ndarray  # (n_trees * n_bytes * 256,): ruled-out leaves as bits
    table_offsets: np.ndarray  # (n_trees, n_bytes, 1): the start of each byte's table
    leaf_values: np.ndarray  # (n_trees * max_leaves,): by tree and leaf number
    leaf_offsets: np.ndarray  # (n_trees, 1): tree * max_leaves - 1 (frexp's exponent is k + 1)

    @classmethod
    def build(
        cls,
        num_leaves: np.ndarray,
        node_key: np.ndarray,
        node_child: np.ndarray,
        node_value: np.ndarray,
        depth: np.ndarray,
        is_internal: np.ndarray,
        n_keys: int,
    ) -> _LeafBits | None:
        """Tables for the trees laid out as in ``TreeEnsemble._flatten`` (model order), or
        ``None`` when a tree has more than ``_MAX_BIT_LEAVES`` leaves."""
        n_trees = len(num_leaves)
        max_leaves = int(num_leaves.max(initial=1))
        if max_leaves > _MAX_BIT_LEAVES:
            return None
        dtype = next(
            d for d in (np.uint16, np.uint32, np.uint64) if max_leaves <= np.iinfo(d).bits
        )
        n_bytes = max(1, -(-(max_leaves - 1) // 8))
        internal = np.flatnonzero(is_internal)
        left = node_child[internal]
        # Leaves under every node (bottom-up), then the number of every node's leftmost
        # leaf (top-down), one depth at a time.
        below = (~is_internal).astype(np.intp)
        first = np.zeros(len(node_key), dtype=np.intp)
        levels = [depth[internal] == d for d in range(int(depth.max(initial=0)))]
        for at_level in reversed(levels):
            below[internal[at_level]] = below[left[at_level]] + below[left[at_level] + 1]
        for at_level in levels:
            parent, child = internal[at_level], left[at_level]
            first[child] = first[parent]
            first[child + 1] = first[parent] + below[child]
        # A node sending a row right rules out the leaves of its left subtree.
        width = below[left].astype(np.uint64)
        masks = ((np.uint64(1) << width) - np.uint64(1)) << first[internal].astype(np.uint64)
        tree_of_node = np.repeat(np.arange(n_trees), 2 * num_leaves - 1)
        tree = tree_of_node[internal]
        slot = (
            tree * (n_bytes * 8)
            + np.arange(len(internal))
            - _exclusive_cumsum(num_leaves - 1)[tree]
        )
        node_keys = np.full(n_trees * n_bytes * 8, n_keys, dtype=np.intp)
        node_keys[slot] = node_key[internal]
        node_masks = np.zeros((n_trees, n_bytes, 8), dtype=dtype)
        node_masks.reshape(-1)[slot] = masks
        tables = np.zeros((n_trees, n_bytes, 256), dtype=dtype)
        for bit in range(8):  # the patterns with this bit set, from those below it
            tables[..., 1 << bit : 2 << bit] = tables[..., : 1 << bit] | node_masks[..., bit, None]
        leaves = np.flatnonzero(~is_internal)
        leaf_values = np.zeros(n_trees * max_leaves, dtype=np.float64)
        leaf_values[tree_of_node[leaves] * max_leaves + first[leaves]] = node_value[leaves]
        bits = cls(
            n_bytes=n_bytes,
            node_keys=node_keys,
            tables=tables.reshape(-1),
            table_offsets=np.arange(0, n_trees * n_bytes * 256, 256).reshape(n_trees, n_bytes, 1),
            leaf_values=leaf_values,
            leaf_offsets=np.arange(-1, n_trees * max_leaves - 1, max_leaves)[:, None],
        )
        for array in vars(bits).values():
            if isinstance(array, np.ndarray):
                array.flags.writeable = False
        return bits


def _decide(
    ens: TreeEnsemble, X: np.ndarray, goes_right: np.ndarray, rules: tuple[bool, bool]
) -> None:
    """Write the side every row of ``X`` takes at every key into ``goes_right`` (keys, rows)."""
    # X.T[key_feature], faster since keys are grouped by feature.
    values = np.repeat(X.T, ens._keys_per_feature, axis=0)
    np.greater(values, ens._key_threshold[:, None], out=goes_right)
    _apply_zero_and_nan_rules(values, goes_right, ens, rules)


def _add_trees(values: np.ndarray, out: np.ndarray) -> None:
    """Sum ``values`` (trees in model order, rows) into ``out``, one tree after another as
    LightGBM accumulates (a reduction over the leading axis adds row after row)."""
    if values.shape[1] == 1:  # NumPy would sum a lone column pairwise
        out[:] = np.cumsum(values[:, 0])[-1]
    else:
        np.add.reduce(values, axis=0, out=out)


def _special_rules(X: np.ndarray, ens: TreeEnsemble) -> tuple[bool, bool]:
    """Whether ``X`` needs the zero rule (a ``|x| <= 1e-35`` where some key compares zero
    specially) and the NaN rule (a NaN where some key sends NaN right)."""
    zero = len(ens._zero_keys) > 0 and bool((np.abs(X) <= _K_ZERO_THRESHOLD).any())
    nan = len(ens._nan_keys) > 0 and bool(np.isnan(X).any())
    return zero, nan


def _apply_zero_and_nan_rules(
    values: np.ndarray, goes_right: np.ndarray, ens: TreeEnsemble, rules: tuple[bool, bool]
) -> None:
    """Correct ``goes_right`` (shaped like ``values``, keys on the first axis) where a
    value is zero (``|x| <= 1e-35``) or NaN, as far as ``rules`` (zero, NaN) ask."""
    zero_rule, nan_rule = rules
    if zero_rule:
        keys = ens._zero_keys
        zero = np.abs(values[keys]) <= _K_ZERO_THRESHOLD
        right = ens._key_zero_right[keys].reshape(-1, *(1,) * (values.ndim - 1))
        goes_right[keys] = np.where(zero, right, goes_right[keys])
    if nan_rule:
        keys = ens._nan_keys
        goes_right[keys] |= np.isnan(values[keys])


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
