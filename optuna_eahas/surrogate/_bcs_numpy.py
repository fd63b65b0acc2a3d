"""NumPy inference of the Bézier-curve surrogate (EA-HAS-Bench, Dou et al. ICLR 2023, Section 4.2).

The BCS network maps a configuration (architecture features, then hyperparameter features) to
the label vector ``[y_start, y_end, x1/E, y1, x2/E, y2, x3/E, y3]`` of a quartic Bézier
learning curve (see :func:`optuna_eahas.surrogate.bezier_labels`). It is trained in PyTorch
(``optuna_eahas.surrogate._bcs_torch``) and stored as one dict of float32 arrays per ensemble
member, named as in the network's ``state_dict`` (weights in PyTorch's ``(out, in)`` layout):

``input.shift``, ``input.scale``
    Standardisation of the input, ``z = (x - shift) * scale``.
``arch.weight``, ``arch.bias``, ``hp.weight``, ``hp.bias``
    Architecture and hyperparameter encoders (Linear + ReLU) on ``z[:, :arch_dim]`` and
    ``z[:, arch_dim:]``, concatenated.
``trunk.{i}.weight``, ``trunk.{i}.bias`` for ``i < depth``
    Hidden layers (Linear + ReLU).
``ends.weight``, ``ends.bias``
    Start and end accuracy through a sigmoid, in ``(0, 1)``.
``interior.weight``, ``interior.bias``
    ``x1/E, y1/100, x2/E, y2/100, x3/E, y3/100``, linear.

The network is trained on these scaled targets; :class:`BCSEnsemble` returns label units
(accuracies in percent).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
import threading

import numpy as np
from numpy.typing import ArrayLike
from numpy.typing import DTypeLike

__all__ = ["BCSEnsemble"]

_NUM_LABELS = 8
# Label units over network units: accuracies are in percent, x relative to the max epoch.
LABEL_SCALE = np.array([100.0, 100.0, 1.0, 100.0, 1.0, 100.0, 1.0, 100.0])
# Rows per chunk in batch prediction.
_CHUNK_ROWS = 1024


def trunk_depth(arrays: Mapping[str, np.ndarray]) -> int:
    """Number of hidden layers ``trunk.{i}`` of one member's arrays."""
    depth = 0
    while f"trunk.{depth}.weight" in arrays:
        depth += 1
    return depth


def array_names(depth: int) -> list[str]:
    """Names of one member's arrays for a trunk of ``depth`` hidden layers."""
    layers = ["arch", "hp", *(f"trunk.{i}" for i in range(depth)), "ends", "interior"]
    return ["input.shift", "input.scale"] + [
        f"{layer}.{kind}" for layer in layers for kind in ("weight", "bias")
    ]


class BCSEnsemble:
    """An ensemble of BCS networks evaluated with NumPy (Section 4.2).

    Build one with :meth:`from_arrays`. :meth:`predict` averages the members' label vectors;
    :meth:`predict_member` gives one member's (a noisy single run). Both return label units,
    in the ensemble's ``dtype``: accuracies in percent, ``x`` relative to the max epoch. The
    interior control points are linear outputs and not clipped;
    :func:`~optuna_eahas.surrogate.sample_bezier` projects them before sampling a curve.

    All members are evaluated together: each layer is one stacked ``matmul`` over the members
    (the two encoders are one block-diagonal layer), written into buffers that single-row
    queries reuse (one set per thread), and the sigmoid is computed as
    ``(1 + tanh(z / 2)) / 2`` with the halving folded into the ``ends`` weights.
    """

    __slots__ = (
        "_arch_dim",
        "_dtype",
        "_shift",
        "_scale",
        "_weights",
        "_biases",
        "_widths",
        "_out_scale",
        "_out_offset",
        "_local",
    )

    def __init__(
        self,
        shift: np.ndarray,
        scale: np.ndarray,
        weights: Sequence[np.ndarray],
        biases: Sequence[np.ndarray],
        *,
        arch_dim: int,
    ) -> None:
        # shift, scale: (M, 1, d); weights[l]: (M, in, out); biases[l]: (M, 1, out). The last
        # layer has the 8 outputs with the ``ends`` rows already halved.
        self._arch_dim = arch_dim
        self._dtype = shift.dtype
        self._shift = shift
        self._scale = scale
        self._weights = tuple(weights)
        self._biases = tuple(biases)
        self._widths = (shift.shape[-1], *(w.shape[-1] for w in weights))
        n_members = len(shift)
        # Mean over m members of (50 + 50 tanh) for the ends and of 100 y for the interior.
        self._out_scale = {
            m: (LABEL_SCALE * np.array([0.5, 0.5, 1, 1, 1, 1, 1, 1]) / m).astype(self._dtype)
            for m in {1, n_members}
        }
        self._out_offset = np.array([50.0, 50.0, 0, 0, 0, 0, 0, 0], dtype=self._dtype)
        self._local = threading.local()

    @classmethod
    def from_arrays(
        cls,
        members: Sequence[Mapping[str, np.ndarray]],
        *,
        arch_dim: int,
        dtype: DTypeLike = np.float32,
    ) -> BCSEnsemble:
        """Build an ensemble from each member's named arrays (the module docstring's format).

        ``dtype`` (``float32`` or ``float64``) is the precision of evaluation.
        """
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype}.")
        if len(members) == 0:
            raise ValueError("members must not be empty.")
        depth = trunk_depth(members[0])
        names = array_names(depth)
        arrays = []
        for k, member in enumerate(members):
            if set(member) != set(names):
                raise ValueError(
                    f"member {k} has arrays {sorted(member)}, expected {sorted(names)}."
                )
            arrays.append({name: np.asarray(member[name], dtype=np.float64) for name in names})
            for name in names:
                if arrays[k][name].shape != arrays[0][name].shape:
                    raise ValueError(
                        f"member {k}'s {name!r} has shape {arrays[k][name].shape}, member 0's "
                        f"{arrays[0][name].shape}."
                    )
                if not np.isfinite(arrays[k][name]).all():
                    raise ValueError(f"member {k}'s {name!r} is not finite.")
        first = arrays[0]
        encoder_width, arch_in = first["arch.weight"].shape
        hp_encoder_width, hp_in = first["hp.weight"].shape
        if arch_in != arch_dim:
            raise ValueError(f"arch.weight has {arch_in} inputs, but arch_dim is {arch_dim}.")
        n_features = arch_in + hp_in
        previous = encoder_width + hp_encoder_width
        expected: dict[str, tuple[int, ...]] = {
            "input.shift": (n_features,),
            "input.scale": (n_features,),
            "arch.bias": (encoder_width,),
            "hp.bias": (hp_encoder_width,),
            "ends.bias": (2,),
            "interior.bias": (6,),
        }
        for i in range(depth):
            width = first[f"trunk.{i}.weight"].shape[0]
            expected[f"trunk.{i}.weight"] = (width, previous)
            expected[f"trunk.{i}.bias"] = (width,)
            previous = width
        expected["ends.weight"] = (2, previous)
        expected["interior.weight"] = (6, previous)
        for name, shape in expected.items():
            if first[name].shape != shape:
                raise ValueError(f"{name!r} has shape {first[name].shape}, expected {shape}.")

        def stack(name: str) -> np.ndarray:
            return np.stack([member[name] for member in arrays])

        encoder = np.zeros((len(arrays), n_features, encoder_width + hp_encoder_width))
        encoder[:, :arch_dim, :encoder_width] = stack("arch.weight").transpose(0, 2, 1)
        encoder[:, arch_dim:, encoder_width:] = stack("hp.weight").transpose(0, 2, 1)
        weights = [encoder]
        biases = [np.concatenate([stack("arch.bias"), stack("hp.bias")], axis=1)]
        for i in range(depth):
            weights.append(stack(f"trunk.{i}.weight").transpose(0, 2, 1))
            biases.append(stack(f"trunk.{i}.bias"))
        half = np.array([0.5, 0.5, 1, 1, 1, 1, 1, 1])
        head = np.concatenate([stack("ends.weight"), stack("interior.weight")], axis=1)
        weights.append(head.transpose(0, 2, 1) * half)
        biases.append(np.concatenate([stack("ends.bias"), stack("interior.bias")], axis=1) * half)
        return cls(
            np.ascontiguousarray(stack("input.shift")[:, None], dtype=dtype),
            np.ascontiguousarray(stack("input.scale")[:, None], dtype=dtype),
            [np.ascontiguousarray(w, dtype=dtype) for w in weights],
            [np.ascontiguousarray(b[:, None], dtype=dtype) for b in biases],
            arch_dim=arch_dim,
        )

    @property
    def n_members(self) -> int:
        return len(self._shift)

    @property
    def n_features(self) -> int:
        return self._widths[0]

    @property
    def arch_dim(self) -> int:
        return self._arch_dim

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Mean label vectors ``(n, 8)`` of the members for the rows of ``X`` ``(n, d)``."""
        return self._predict(X, slice(None))

    def predict_member(self, X: ArrayLike, k: int) -> np.ndarray:
        """Label vectors ``(n, 8)`` of member ``k`` for the rows of ``X`` ``(n, d)``."""
        if not -self.n_members <= k < self.n_members:
            raise IndexError(f"member {k} out of range for {self.n_members} members.")
        k %= self.n_members
        return self._predict(X, slice(k, k + 1))

    def _predict(self, X: ArrayLike, members: slice) -> np.ndarray:
        x = np.asarray(X, dtype=self._dtype)
        if x.ndim != 2 or x.shape[1] != self._widths[0]:
            raise ValueError(f"X must have shape (n, {self._widths[0]}), got {x.shape}.")
        n_rows = len(x)
        m = len(self._shift[members])
        result = np.empty((n_rows, _NUM_LABELS), dtype=self._dtype)
        if n_rows == 1:
            buffers = getattr(self._local, "buffers", None)
            if buffers is None:
                buffers = self._local.buffers = self._buffers(1)
            self._evaluate(x, members, [buffer[members] for buffer in buffers], result, m)
        elif n_rows > 1:
            buffers = self._buffers(min(n_rows, _CHUNK_ROWS))
            for start in range(0, n_rows, _CHUNK_ROWS):
                chunk = x[start : start + _CHUNK_ROWS]
                views = [buffer[members, : len(chunk)] for buffer in buffers]
                self._evaluate(chunk, members, views, result[start : start + len(chunk)], m)
        return result

    def _buffers(self, n_rows: int) -> list[np.ndarray]:
        return [np.empty((self.n_members, n_rows, w), dtype=self._dtype) for w in self._widths]

    def _evaluate(
        self,
        x: np.ndarray,
        members: slice,
        buffers: list[np.ndarray],
        out: np.ndarray,
        m: int,
    ) -> None:
        h = buffers[0]
        np.subtract(x, self._shift[members], out=h)
        np.multiply(h, self._scale[members], out=h)
        last = len(self._weights) - 1
        for i, (weight, bias) in enumerate(zip(self._weights, self._biases, strict=True)):
            a = buffers[i + 1]
            np.matmul(h, weight[members], out=a)
            np.add(a, bias[members], out=a)
            if i < last:
                np.maximum(a, 0, out=a)
            h = a
        ends = h[..., :2]
        np.tanh(ends, out=ends)
        np.add.reduce(h, axis=0, out=out)
        np.multiply(out, self._out_scale[m], out=out)
        np.add(out, self._out_offset, out=out)
