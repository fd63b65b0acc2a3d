from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
import math
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution

from optuna_eahas.space._complexity import BatchComplexity
from optuna_eahas.space._complexity import RegNetComplexity
from optuna_eahas.space._complexity import batch_complexity
from optuna_eahas.space._errors import InvalidParameterError
from optuna_eahas.space._settings import TrainingSettings

ARCHITECTURE_PARAMS = ("depth", "w0", "wa", "wm", "group_width")
HYPERPARAMETER_PARAMS = ("learning_rate", "max_epoch", "lr_policy", "optimizer", "cutout")
PARAM_NAMES = ARCHITECTURE_PARAMS + HYPERPARAMETER_PARAMS
DATASETS = ("cifar10", "tinyimagenet")

_GROUP_WIDTHS = (1, 2, 4, 8, 16, 24, 32)
_CHOICES: dict[str, tuple[Any, ...]] = {
    "group_width": _GROUP_WIDTHS,
    "learning_rate": (0.001, 0.003, 0.005, 0.01, 0.03, 0.05, 0.1, 0.3, 0.5, 1.0),
    "max_epoch": (50, 100, 200),
    "lr_policy": ("cos", "exp", "lin"),
    "optimizer": ("sgd", "adam", "adamw"),
    "cutout": (0, 16),
}
CONSTRAINT_NAMES = ("flops_min", "flops_max", "params_max", "acts_max", "num_stages")


@dataclass(frozen=True)
class _Quantised:
    """A numeric dimension on a grid of ``step`` from ``low`` to ``high``."""

    low: float
    high: float
    step: float
    decimals: int

    def snap(self, values: np.ndarray) -> np.ndarray:
        return np.round(np.round(values / self.step) * self.step, self.decimals)

    def snap_scalar(self, value: float) -> float:
        return round(round(value / self.step) * self.step, self.decimals)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """pycls's ``log_uniform``: log-uniform on ``(low - min(step, low / 2), high]``, then
        rounded up to the grid, so that every grid value (``low`` included) gets a full bin."""
        lower = self.low - min(self.step, self.low / 2)
        raw = np.exp(rng.uniform(np.log(lower), np.log(self.high), size=n))
        return np.clip(self.snap(np.ceil(raw / self.step) * self.step), self.low, self.high)


# pycls's power2_or_log_uniform(1, 32, 8) redraws group widths of 8 or more on this grid.
_GROUP_GRID = _Quantised(8, 32, 8, decimals=0)


@dataclass(frozen=True)
class PaperConstraints:
    """The complexity constraints of EA-HAS-Bench's CIFAR-10 sweep (Section 3.1).

    Only about 2 % of uniformly sampled architectures satisfy them.
    """

    flops_min: float = 0.12e9
    flops_max: float = 0.13e9
    params_max: float = 2.0e6
    acts_max: float = 1.0e6
    num_stages: int = 2


class SearchSpace:
    """EA-HAS-Bench's joint RegNet architecture x training hyperparameter space.

    The space is the one the paper samples (Section 3.1): a 2-stage-style RegNet described by
    ``depth``, ``w0``, ``wa``, ``wm`` and ``group_width``, and the hyperparameters
    ``learning_rate``, ``max_epoch``, ``lr_policy``, ``optimizer`` and ``cutout``. About
    3x10^10 configurations per dataset.

    Args:
        dataset: ``"cifar10"`` or ``"tinyimagenet"``.
    """

    def __init__(self, dataset: str = "cifar10") -> None:
        if dataset not in DATASETS:
            raise ValueError(f"Unknown dataset {dataset!r}; choose one of {list(DATASETS)}.")
        self.dataset = dataset
        self.settings = TrainingSettings()
        self.stem_width = 16 if dataset == "cifar10" else 32
        self.num_classes = 10 if dataset == "cifar10" else 200
        self.constraints = PaperConstraints() if dataset == "cifar10" else None
        wm_low = 2.5 if dataset == "cifar10" else 1.5
        self._numeric = {
            "w0": _Quantised(48, 128, 8, decimals=0),
            "wa": _Quantised(8.0, 32.0, 0.1, decimals=1),
            "wm": _Quantised(wm_low, 3.0, 0.001, decimals=3),
        }

    def __repr__(self) -> str:
        return f"SearchSpace({self.dataset!r})"

    @property
    def param_names(self) -> tuple[str, ...]:
        return PARAM_NAMES

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        """Optuna distributions of the ten parameters, in the order of ``param_names``.

        The numeric architecture dimensions are the paper's quantised grids. Optuna cannot
        combine ``log=True`` with a step, so they are uniform over that grid here;
        :meth:`sample` reproduces the paper's log-uniform sampling.
        """
        w0, wa, wm = self._numeric["w0"], self._numeric["wa"], self._numeric["wm"]
        distributions: dict[str, BaseDistribution] = {
            "depth": IntDistribution(6, 15),
            "w0": IntDistribution(int(w0.low), int(w0.high), step=int(w0.step)),
            "wa": FloatDistribution(wa.low, wa.high, step=wa.step),
            "wm": FloatDistribution(wm.low, wm.high, step=wm.step),
        }
        for name, choices in _CHOICES.items():
            distributions[name] = CategoricalDistribution(choices)
        return {name: distributions[name] for name in PARAM_NAMES}

    def allowed(self, name: str) -> str:
        """Human-readable description of the values allowed for ``name``."""
        if name == "depth":
            return "an integer from 6 to 15"
        if name in self._numeric:
            dim = self._numeric[name]
            kind = "an integer" if name == "w0" else "a number"
            return f"{kind} in [{dim.low}, {dim.high}] on a grid of step {dim.step}"
        if name in _CHOICES:
            return "one of " + ", ".join(repr(c) for c in _CHOICES[name])
        raise InvalidParameterError(name, self._unknown_message(name))

    def _unknown_message(self, name: str) -> str:
        return f"Unknown parameter {name!r}; the parameters are {', '.join(PARAM_NAMES)}."

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check a configuration and return it in canonical form (plain Python types).

        Raises:
            InvalidParameterError: for a missing or unknown name or a value outside the space;
                the message names the parameter and lists the allowed values.
        """
        unknown = [name for name in params if name not in PARAM_NAMES]
        if unknown:
            raise InvalidParameterError(unknown[0], self._unknown_message(unknown[0]))
        missing = [name for name in PARAM_NAMES if name not in params]
        if missing:
            raise InvalidParameterError(
                missing[0], f"Missing parameter {missing[0]!r}: {self.allowed(missing[0])}."
            )
        return {name: self._validate_value(name, params[name]) for name in PARAM_NAMES}

    def validate_value(self, name: str, value: Any) -> Any:
        """Check one parameter's value and return it in canonical form (see :meth:`validate`)."""
        if name not in PARAM_NAMES:
            raise InvalidParameterError(name, self._unknown_message(name))
        return self._validate_value(name, value)

    def _validate_value(self, name: str, value: Any) -> Any:
        def reject() -> InvalidParameterError:
            return InvalidParameterError(
                name, f"Invalid value {value!r} for {name!r}: expected {self.allowed(name)}."
            )

        if name in ("lr_policy", "optimizer"):
            if isinstance(value, str) and value in _CHOICES[name]:
                return value
            raise reject()
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise reject()
        number = float(value)
        if not math.isfinite(number):
            raise reject()
        if name == "depth":
            if number.is_integer() and 6 <= number <= 15:
                return int(number)
            raise reject()
        if name in self._numeric:
            dim = self._numeric[name]
            # Range first: snapping a huge value to the grid would overflow.
            if not dim.low - dim.step <= number <= dim.high + dim.step:
                raise reject()
            snapped = dim.snap_scalar(number)
            on_grid = abs(snapped - number) <= 1e-6 * max(1.0, abs(number))
            if on_grid and dim.low - 1e-9 <= snapped <= dim.high + 1e-9:
                return int(snapped) if name == "w0" else snapped
            raise reject()
        for choice in _CHOICES[name]:
            if abs(choice - number) <= 1e-9 * max(1.0, abs(choice)):
                return choice
        raise reject()

    def sample(
        self, n: int, *, seed: int | None = None, constrained: bool = False
    ) -> list[dict[str, Any]]:
        """Sample ``n`` configurations the way EA-HAS-Bench's sweep does.

        As pycls's ``regnet_sampler``: ``w0``, ``wa`` and ``wm`` are log-uniform and then
        quantised (``log_uniform``); ``group_width`` is a uniform power of two from 1 to 32,
        redrawn log-uniformly on the grid of 8 when it is 8 or more (``power2_or_log_uniform``,
        so 24 and 32 are rarer than the rest); the other dimensions are uniform over their
        values. With ``constrained=True`` (CIFAR-10 only) architectures are resampled until
        they satisfy the paper's complexity constraints.
        """
        if constrained and self.constraints is None:
            raise ValueError(f"{self.dataset} has no complexity constraints to sample under.")
        rng = np.random.default_rng(seed)
        columns = self._sample_columns(rng, n)
        if constrained:
            keep = self.feasible_mask(columns)
            while not keep.all():
                redo = np.flatnonzero(~keep)
                batch = max(len(redo) * 60, 1024)
                extra = self._sample_columns(rng, batch)
                good = np.flatnonzero(self.feasible_mask(extra))[: len(redo)]
                for name in ARCHITECTURE_PARAMS:
                    columns[name][redo[: len(good)]] = extra[name][good]
                keep[redo[: len(good)]] = True
        return self.rows(columns)

    def _sample_columns(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        columns: dict[str, np.ndarray] = {"depth": rng.integers(6, 16, size=n)}
        for name, dim in self._numeric.items():
            columns[name] = dim.sample(rng, n)
        columns["w0"] = columns["w0"].astype(np.int64)
        power2 = 2 ** rng.integers(0, 6, size=n)
        columns["group_width"] = np.where(power2 >= 8, _GROUP_GRID.sample(rng, n), power2)
        columns["group_width"] = columns["group_width"].astype(np.int64)
        for name in HYPERPARAMETER_PARAMS:
            choices = _CHOICES[name]
            columns[name] = np.asarray(choices)[rng.integers(0, len(choices), size=n)]
        return columns

    def rows(self, columns: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
        """Turn column arrays into a list of configuration dictionaries of Python types."""
        lists = {name: np.asarray(columns[name]).tolist() for name in PARAM_NAMES}
        n = len(lists["depth"])
        return [{name: lists[name][i] for name in PARAM_NAMES} for i in range(n)]

    def columns(self, configs: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """Turn configurations into column arrays (no validation; see :meth:`validate`)."""
        return {name: np.array([c[name] for c in configs]) for name in PARAM_NAMES}

    def complexity(self, params: Mapping[str, Any]) -> RegNetComplexity:
        """Exact FLOPs, parameters and activations of a configuration's RegNet."""
        return self.batch_complexity(self.columns([params])).item(0)

    def batch_complexity(self, columns: Mapping[str, np.ndarray]) -> BatchComplexity:
        """Vectorised :meth:`complexity` over column arrays."""
        return batch_complexity(
            depth=columns["depth"],
            w0=columns["w0"],
            wa=columns["wa"],
            wm=columns["wm"],
            group_width=columns["group_width"],
            stem_width=self.stem_width,
            num_classes=self.num_classes,
            settings=self.settings,
        )

    def constraint_values(self, params: Mapping[str, Any]) -> dict[str, float]:
        """The paper's constraints as Optuna-style values: feasible when every value <= 0.

        Values are relative (for example ``flops_max = flops / 0.13e9 - 1``) so that they are
        comparable across constraints. Empty for TinyImageNet, which has none.
        """
        values = self.batch_constraint_values(self.columns([params]))
        return {name: float(column[0]) for name, column in values.items()}

    def batch_constraint_values(self, columns: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.constraints is None:
            return {}
        c = self.constraints
        cx = self.batch_complexity(columns)
        return {
            "flops_min": 1.0 - cx.flops / c.flops_min,
            "flops_max": cx.flops / c.flops_max - 1.0,
            "params_max": cx.params / c.params_max - 1.0,
            "acts_max": cx.acts / c.acts_max - 1.0,
            "num_stages": np.abs(cx.num_stages - c.num_stages).astype(np.float64),
        }

    def is_feasible(self, params: Mapping[str, Any]) -> bool:
        return bool(self.feasible_mask(self.columns([params]))[0])

    def feasible_mask(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        values = self.batch_constraint_values(columns)
        mask = np.ones(len(columns["depth"]), dtype=bool)
        for column in values.values():
            mask &= column <= 0
        return mask

    @property
    def encoding_size(self) -> int:
        return len(ARCHITECTURE_PARAMS) + sum(len(_CHOICES[n]) for n in HYPERPARAMETER_PARAMS)

    def encode(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """The paper's 26-dimensional encoding (Section 4.1).

        Five min-max normalised architecture values followed by one-hot codes of the five
        hyperparameters, as float32 rows.
        """
        n = len(columns["depth"])
        bounds: dict[str, tuple[float, float]] = {"depth": (6, 15), "group_width": (1, 32)}
        for name, dim in self._numeric.items():
            bounds[name] = (dim.low, dim.high)
        low, high = np.array([bounds[name] for name in ARCHITECTURE_PARAMS], dtype=np.float64).T
        architecture = np.empty((n, len(ARCHITECTURE_PARAMS)), dtype=np.float64)
        for i, name in enumerate(ARCHITECTURE_PARAMS):
            architecture[:, i] = columns[name]
        out = np.zeros((n, self.encoding_size), dtype=np.float32)
        out[:, : len(ARCHITECTURE_PARAMS)] = (architecture - low) / (high - low)
        hot = np.empty((n, len(HYPERPARAMETER_PARAMS)), dtype=np.int64)
        for i, name in enumerate(HYPERPARAMETER_PARAMS):
            hot[:, i] = _choice_index(np.asarray(columns[name]), _CHOICES[name], name)
        out[np.arange(n)[:, None], hot + _ONE_HOT_OFFSETS] = 1.0
        return out


# Batches up to this size are looked up value by value in a dictionary (see _choice_index).
_DICT_LOOKUP_MAX = 64
_CHOICE_INDEX = {name: {c: i for i, c in enumerate(cs)} for name, cs in _CHOICES.items()}
_SORTED_CHOICES = {name: np.array(sorted(cs)) for name, cs in _CHOICES.items()}
_SORTED_ORDER = {name: np.argsort(np.array(cs), kind="stable") for name, cs in _CHOICES.items()}
# Column of each hyperparameter's first one-hot entry in the encoding.
_ONE_HOT_OFFSETS = len(ARCHITECTURE_PARAMS) + np.cumsum(
    [0, *(len(_CHOICES[name]) for name in HYPERPARAMETER_PARAMS[:-1])]
)


def _choice_index(values: np.ndarray, choices: tuple[Any, ...], name: str) -> np.ndarray:
    """Index into ``choices`` of each value, which must equal a choice exactly.

    Values are canonical (validated or sampled), so exact lookups suffice: a dictionary for
    small batches and object arrays, and for large ones a binary search over the sorted
    choices followed by an equality check, which avoids a Python loop over the rows.
    """
    if len(values) > _DICT_LOOKUP_MAX and values.dtype != object:
        ordered = _SORTED_CHOICES[name]
        if (values.dtype.kind in "US") == (ordered.dtype.kind in "US"):
            position = np.minimum(np.searchsorted(ordered, values), len(choices) - 1)
            wrong = ordered[position] != values
            if not wrong.any():
                return _SORTED_ORDER[name][position]
    lookup = _CHOICE_INDEX[name]
    try:
        return np.array([lookup[value] for value in values.tolist()], dtype=np.int64)
    except KeyError as error:
        bad = error.args[0]
        raise InvalidParameterError(name, f"Invalid value {bad!r} for {name!r}.") from None
