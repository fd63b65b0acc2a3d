"""EA-HAS-Bench's search space: values, sampling, validation, constraints and encoding."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
import pytest

from optuna_eahas.space import ARCHITECTURE_PARAMS
from optuna_eahas.space import CONSTRAINT_NAMES
from optuna_eahas.space import HYPERPARAMETER_PARAMS
from optuna_eahas.space import PARAM_NAMES
from optuna_eahas.space import InvalidParameterError
from optuna_eahas.space import SearchSpace

_DATASETS = ("cifar10", "tinyimagenet")
_CHOICES = {
    "group_width": (1, 2, 4, 8, 16, 24, 32),
    "learning_rate": (0.001, 0.003, 0.005, 0.01, 0.03, 0.05, 0.1, 0.3, 0.5, 1.0),
    "max_epoch": (50, 100, 200),
    "lr_policy": ("cos", "exp", "lin"),
    "optimizer": ("sgd", "adam", "adamw"),
    "cutout": (0, 16),
}
_WM_LOW = {"cifar10": 2.5, "tinyimagenet": 1.5}
_VALID = {
    "depth": 10,
    "w0": 64,
    "wa": 20.5,
    "wm": 2.75,
    "group_width": 16,
    "learning_rate": 0.1,
    "max_epoch": 100,
    "lr_policy": "cos",
    "optimizer": "sgd",
    "cutout": 16,
}


@pytest.fixture(scope="module", params=_DATASETS)
def space(request: pytest.FixtureRequest) -> SearchSpace:
    return SearchSpace(request.param)


@pytest.fixture(scope="module")
def samples(space: SearchSpace) -> dict[str, np.ndarray]:
    return space.columns(space.sample(20000, seed=0))


def test_dimensions(space: SearchSpace) -> None:
    assert space.param_names == PARAM_NAMES == ARCHITECTURE_PARAMS + HYPERPARAMETER_PARAMS
    dists = space.distributions
    assert list(dists) == list(PARAM_NAMES)
    assert dists["depth"] == IntDistribution(6, 15)
    assert dists["w0"] == IntDistribution(48, 128, step=8)
    assert dists["wa"] == FloatDistribution(8.0, 32.0, step=0.1)
    assert dists["wm"] == FloatDistribution(_WM_LOW[space.dataset], 3.0, step=0.001)
    for name, choices in _CHOICES.items():
        assert dists[name] == CategoricalDistribution(choices)


def test_dataset_settings() -> None:
    cifar, tiny = SearchSpace("cifar10"), SearchSpace("tinyimagenet")
    assert (cifar.stem_width, cifar.num_classes) == (16, 10)
    assert (tiny.stem_width, tiny.num_classes) == (32, 200)
    assert tiny.constraints is None and cifar.constraints is not None
    with pytest.raises(ValueError, match="imagenet"):
        SearchSpace("imagenet")


def test_samples_are_on_the_grid(space: SearchSpace, samples: dict[str, np.ndarray]) -> None:
    assert set(samples["depth"].tolist()) == set(range(6, 16))
    assert set(samples["w0"].tolist()) == set(range(48, 129, 8))
    wa, wm = samples["wa"], samples["wm"]
    assert wa.min() == 8.0 and wa.max() == 32.0
    assert wm.min() == _WM_LOW[space.dataset] and wm.max() == 3.0
    np.testing.assert_allclose(wa * 10, np.round(wa * 10), atol=1e-9)
    np.testing.assert_allclose(wm * 1000, np.round(wm * 1000), atol=1e-9)
    for name, choices in _CHOICES.items():
        assert set(samples[name].tolist()) == set(choices)


def test_samples_are_canonical(space: SearchSpace) -> None:
    for cfg in space.sample(200, seed=1):
        assert list(cfg) == list(PARAM_NAMES)
        assert space.validate(cfg) == cfg
        assert all(type(cfg[name]) is int for name in ("depth", "w0", "group_width"))
        assert type(cfg["wa"]) is float and type(cfg["wm"]) is float


def test_sample_is_deterministic(space: SearchSpace) -> None:
    assert space.sample(50, seed=42) == space.sample(50, seed=42)
    assert space.sample(50, seed=42) != space.sample(50, seed=43)


def test_numeric_dimensions_are_log_uniform(samples: dict[str, np.ndarray]) -> None:
    # The median of a log-uniform variable is the geometric mean of its range, well below
    # the arithmetic mean (pycls extends the range down by one step, below low / 2 at most).
    assert abs(np.median(samples["wa"]) - math.sqrt(7.9 * 32.0)) <= 0.2  # not 20
    assert abs(np.median(samples["w0"]) - math.sqrt(40 * 128)) <= 8  # not 88
    assert np.mean(np.log(samples["wa"]) < math.log(16.0)) == pytest.approx(0.5, abs=0.02)


def test_grid_bins_follow_pycls(samples: dict[str, np.ndarray]) -> None:
    # pycls rounds log-uniform draws on (low - step, high] up, so w0 = 48 gets the bin
    # (40, 48] and w0 = 128 the bin (120, 128].
    log_range = math.log(128 / 40)
    assert np.mean(samples["w0"] == 48) == pytest.approx(math.log(48 / 40) / log_range, abs=0.01)
    assert np.mean(samples["w0"] == 128) == pytest.approx(
        math.log(128 / 120) / log_range, abs=0.01
    )


def test_group_width_follows_pycls_power2_or_log_uniform(
    samples: dict[str, np.ndarray],
) -> None:
    # A uniform power of two in [1, 32]; values >= 8 are redrawn log-uniformly on (4, 32]
    # and rounded up to multiples of 8.
    expected = {1: 1 / 6, 2: 1 / 6, 4: 1 / 6}
    for low, high in ((4, 8), (8, 16), (16, 24), (24, 32)):
        expected[high] = 0.5 * math.log(high / low) / math.log(8)
    for value, probability in expected.items():
        assert np.mean(samples["group_width"] == value) == pytest.approx(probability, abs=0.01)


def test_hyperparameters_are_uniform(samples: dict[str, np.ndarray]) -> None:
    for name in HYPERPARAMETER_PARAMS:
        choices = _CHOICES[name]
        for choice in choices:
            frequency = np.mean(samples[name] == choice)
            assert frequency == pytest.approx(1 / len(choices), abs=0.015)


def test_optuna_distributions_contain_samples(space: SearchSpace) -> None:
    dists = space.distributions
    for cfg in space.sample(500, seed=2):
        for name, value in cfg.items():
            assert dists[name]._contains(dists[name].to_internal_repr(value)), (name, value)
        trial = optuna.trial.create_trial(params=cfg, distributions=dists, value=0.0)
        assert trial.params == cfg


def test_optuna_distributions_round_trip_json(space: SearchSpace) -> None:
    for dist in space.distributions.values():
        as_json = optuna.distributions.distribution_to_json(dist)
        assert optuna.distributions.json_to_distribution(as_json) == dist


def test_validate_canonicalises() -> None:
    space = SearchSpace("cifar10")
    cfg = {
        **_VALID,
        "depth": np.int64(10),
        "w0": 64.0,
        "wa": 20.500000000000004,
        "wm": np.float64(2.75),
        "group_width": np.int32(16),
        "learning_rate": np.float64(0.1),
        "max_epoch": 100.0,
    }
    out = space.validate(cfg)
    assert out == _VALID
    assert type(out["w0"]) is int and type(out["learning_rate"]) is float


@pytest.mark.parametrize(
    "name, value",
    [
        ("depth", 5),
        ("depth", 16),
        ("depth", 6.5),
        ("depth", "7"),
        ("depth", True),
        ("w0", 40),
        ("w0", 136),
        ("w0", 52),
        ("w0", None),
        ("wa", 7.9),
        ("wa", 32.1),
        ("wa", 8.05),
        ("wa", math.nan),
        ("wa", math.inf),
        ("wm", 2.4),
        ("wm", 3.001),
        ("wm", 2.5005),
        ("wm", [2.6]),
        ("group_width", 3),
        ("group_width", 64),
        ("group_width", "8"),
        ("learning_rate", 0.002),
        ("learning_rate", math.nan),
        ("max_epoch", 150),
        ("lr_policy", "step"),
        ("lr_policy", 1),
        ("optimizer", "rmsprop"),
        ("cutout", 8),
        ("cutout", False),
    ],
)
def test_invalid_value_raises(name: str, value: Any) -> None:
    space = SearchSpace("cifar10")
    with pytest.raises(InvalidParameterError) as info:
        space.validate({**_VALID, name: value})
    assert info.value.parameter == name
    message = str(info.value)
    assert repr(name) in message
    assert space.allowed(name) in message


def test_allowed_lists_values() -> None:
    space = SearchSpace("cifar10")
    assert "6" in space.allowed("depth") and "15" in space.allowed("depth")
    assert "48" in space.allowed("w0") and "128" in space.allowed("w0")
    assert "8" in space.allowed("w0")
    assert "2.5" in space.allowed("wm") and "0.001" in space.allowed("wm")
    assert "1.5" in SearchSpace("tinyimagenet").allowed("wm")
    for name, choices in _CHOICES.items():
        assert all(repr(choice) in space.allowed(name) for choice in choices)


def test_wm_range_depends_on_dataset() -> None:
    cfg = {**_VALID, "wm": 1.6}
    assert SearchSpace("tinyimagenet").validate(cfg)["wm"] == 1.6
    with pytest.raises(InvalidParameterError, match="'wm'"):
        SearchSpace("cifar10").validate(cfg)


def test_unknown_parameter_raises() -> None:
    space = SearchSpace()
    with pytest.raises(InvalidParameterError) as info:
        space.validate({**_VALID, "lr": 0.1})
    assert info.value.parameter == "lr"
    assert "'lr'" in str(info.value)
    assert all(name in str(info.value) for name in PARAM_NAMES)
    with pytest.raises(InvalidParameterError, match="'lr'"):
        space.allowed("lr")


def test_missing_parameter_raises() -> None:
    space = SearchSpace()
    cfg = {name: value for name, value in _VALID.items() if name != "optimizer"}
    with pytest.raises(InvalidParameterError) as info:
        space.validate(cfg)
    assert info.value.parameter == "optimizer"
    assert "'optimizer'" in str(info.value)
    assert space.allowed("optimizer") in str(info.value)


def test_constrained_sampling_is_feasible() -> None:
    space = SearchSpace("cifar10")
    configs = space.sample(300, seed=3, constrained=True)
    assert configs == space.sample(300, seed=3, constrained=True)
    assert len({tuple(c.values()) for c in configs}) > 250
    for cfg in configs:
        assert space.is_feasible(cfg)
        assert all(v <= 0 for v in space.constraint_values(cfg).values())
        cx = space.complexity(cfg)
        assert 0.12e9 <= cx.flops <= 0.13e9
        assert cx.params <= 2.0e6 and cx.acts <= 1.0e6 and cx.num_stages == 2
    columns = space.columns(configs)
    for name in HYPERPARAMETER_PARAMS:
        assert set(columns[name].tolist()) == set(_CHOICES[name])


def test_constrained_sampling_raises_for_tinyimagenet() -> None:
    space = SearchSpace("tinyimagenet")
    with pytest.raises(ValueError, match="tinyimagenet"):
        space.sample(10, seed=0, constrained=True)
    cfg = space.sample(1, seed=0)[0]
    assert space.constraint_values(cfg) == {}
    assert space.is_feasible(cfg)


def test_feasible_fraction_is_about_two_percent() -> None:
    space = SearchSpace("cifar10")
    fraction = space.feasible_mask(space.columns(space.sample(20000, seed=4))).mean()
    assert 0.01 < fraction < 0.03


def test_constraint_values_are_nonpositive_iff_feasible() -> None:
    space = SearchSpace("cifar10")
    configs = space.sample(5000, seed=5) + space.sample(100, seed=5, constrained=True)
    columns = space.columns(configs)
    values = space.batch_constraint_values(columns)
    assert tuple(values) == CONSTRAINT_NAMES
    all_nonpositive = np.all([column <= 0 for column in values.values()], axis=0)
    np.testing.assert_array_equal(all_nonpositive, space.feasible_mask(columns))
    assert all_nonpositive.sum() >= 100
    for i in range(0, len(configs), 50):
        scalar = space.constraint_values(configs[i])
        assert list(scalar) == list(CONSTRAINT_NAMES)
        assert all(v <= 0 for v in scalar.values()) == space.is_feasible(configs[i])
        cx = space.complexity(configs[i])
        assert scalar["flops_max"] == pytest.approx(cx.flops / 0.13e9 - 1)
        assert scalar["num_stages"] == abs(cx.num_stages - 2)


def test_encode(space: SearchSpace) -> None:
    configs = space.sample(1000, seed=6)
    encoded = space.encode(space.columns(configs))
    assert space.encoding_size == 26
    assert encoded.shape == (1000, 26) and encoded.dtype == np.float32
    arch, onehot = encoded[:, :5], encoded[:, 5:]
    assert arch.min() == 0.0 and arch.max() == 1.0
    assert np.all((onehot == 0) | (onehot == 1))
    np.testing.assert_array_equal(onehot.sum(axis=1), 5)
    offset = 0
    for name in HYPERPARAMETER_PARAMS:
        choices = _CHOICES[name]
        block = onehot[:, offset : offset + len(choices)]
        index = [choices.index(cfg[name]) for cfg in configs]
        np.testing.assert_array_equal(block.argmax(axis=1), index)
        offset += len(choices)
    assert offset == 21


def test_encode_known_configuration() -> None:
    space = SearchSpace("cifar10")
    cfg = {**_VALID, "depth": 15, "w0": 48, "wa": 20.0, "wm": 3.0, "group_width": 1}
    row = space.encode(space.columns([cfg]))[0]
    np.testing.assert_allclose(row[:5], [1.0, 0.0, 0.5, 1.0, 0.0])
    assert np.flatnonzero(row[5:]).tolist() == [6, 10 + 1, 13 + 0, 16 + 0, 19 + 1]
    with pytest.raises(InvalidParameterError, match="optimizer"):
        space.encode(space.columns([{**cfg, "optimizer": "rmsprop"}]))


def test_space_does_not_import_torch() -> None:
    code = "import sys, optuna_eahas.space; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
