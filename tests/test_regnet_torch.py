"""The PyTorch RegNet against the analytic complexity of the search space."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from optuna_eahas.space import InvalidParameterError  # noqa: E402
from optuna_eahas.space import SearchSpace  # noqa: E402
from optuna_eahas.train import RegNet  # noqa: E402

_DATASETS = ("cifar10", "tinyimagenet")


def _forward(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Evaluate ``model`` on ``x`` and count the multiply-adds of one image with hooks on
    every convolution and linear layer."""
    total = 0

    def hook(module: torch.nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        per_image = output[0].numel()
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            total += per_image * module.in_channels // module.groups * kh * kw
        else:
            total += per_image * module.in_features
        if module.bias is not None:
            total += per_image

    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    handles = [layer.register_forward_hook(hook) for layer in layers]
    model.eval()
    with torch.no_grad():
        out = model(x)
    for handle in handles:
        handle.remove()
    return out, total


@pytest.mark.parametrize("dataset", _DATASETS)
def test_parameter_count_matches_analytic(dataset: str) -> None:
    space = SearchSpace(dataset)
    for cfg in space.sample(15, seed=5):
        model = RegNet(cfg, dataset=dataset)
        assert sum(p.numel() for p in model.parameters()) == space.complexity(cfg).params, cfg


@pytest.mark.parametrize("dataset", _DATASETS)
def test_forward_shape_and_flops_match_analytic(dataset: str) -> None:
    space = SearchSpace(dataset)
    torch.manual_seed(0)
    for cfg in space.sample(2, seed=9):
        out, flops = _forward(RegNet(cfg, dataset=dataset), torch.randn(2, 3, 32, 32))
        assert out.shape == (2, space.num_classes)
        assert torch.isfinite(out).all()
        assert flops == space.complexity(cfg).flops, cfg


def test_constrained_cifar10_models_match_analytic() -> None:
    space = SearchSpace("cifar10")
    for cfg in space.sample(2, seed=2, constrained=True):
        model = RegNet(cfg)
        cx = space.complexity(cfg)
        assert sum(p.numel() for p in model.parameters()) == cx.params
        assert _forward(model, torch.randn(1, 3, 32, 32))[1] == cx.flops
        assert 0.12e9 <= cx.flops <= 0.13e9


def test_structure_follows_pycls() -> None:
    # Two stages of equal adjusted width (see test_complexity): s2.b1 still projects.
    cfg = {
        "depth": 6,
        "w0": 48,
        "wa": 8.0,
        "wm": 1.5,
        "group_width": 32,
        "learning_rate": 0.1,
        "max_epoch": 100,
        "lr_policy": "cos",
        "optimizer": "sgd",
        "cutout": 0,
    }
    model = RegNet(cfg, dataset="tinyimagenet")
    names = [name for name, _ in model.named_children()]
    assert names == ["stem", "s1", "s2", "head"]
    assert [len(model.s1), len(model.s2)] == [2, 4]
    assert model.s1.b1.proj.stride == (2, 2) and model.s1.b2.proj is None
    assert model.s2.b1.proj.in_channels == model.s2.b1.proj.out_channels == 64
    assert model.s2.b1.f.b.stride == (2, 2) and model.s2.b1.f.b.groups == 2
    assert model.s1.b1.f.se.f_ex[0].out_channels == 8  # round(0.25 * 32): SE uses w_in
    assert model.s1.b2.f.se.f_ex[0].out_channels == 16
    assert model.stem.conv.stride == (1, 1) and model.stem.conv.bias is None
    assert model.head.fc.out_features == 200
    keys = model.state_dict().keys()
    assert {"s1.b1.proj.weight", "s1.b1.bn.running_mean", "s1.b1.f.se.f_ex.2.bias"} <= keys
    assert sum(p.numel() for p in model.parameters()) == 192064


def test_build_from_complexity() -> None:
    space = SearchSpace("tinyimagenet")
    cfg = space.sample(1, seed=4)[0]
    cx = space.complexity(cfg)
    model = RegNet(cx, dataset="tinyimagenet")
    assert model.complexity == cx
    assert sum(p.numel() for p in model.parameters()) == cx.params
    out, flops = _forward(model, torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 200) and flops == cx.flops


def test_invalid_configuration_raises() -> None:
    cfg = SearchSpace().sample(1, seed=0)[0]
    with pytest.raises(InvalidParameterError, match="group_width"):
        RegNet({**cfg, "group_width": 3})


def test_initialisation_follows_pycls() -> None:
    torch.manual_seed(0)
    cfg = SearchSpace().sample(1, seed=6, constrained=True)[0]
    model = RegNet(cfg)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            assert module.eps == 1e-5 and module.momentum == 0.1
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0)
        elif isinstance(module, torch.nn.Linear):
            assert torch.all(module.bias == 0)
            assert module.weight.std().item() == pytest.approx(0.01, rel=0.1)
        elif isinstance(module, torch.nn.Conv2d) and module.weight.numel() > 4000:
            fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
            std = math.sqrt(2.0 / fan_out)
            assert module.weight.std().item() == pytest.approx(std, rel=0.1)
        elif isinstance(module, torch.nn.ReLU):
            assert module.inplace
    zero = RegNet(cfg, zero_init_final_gamma=True)
    final = [m for name, m in zero.named_modules() if name.endswith(".f.c_bn")]
    assert len(final) == cfg["depth"]
    assert all(torch.all(m.weight == 0) for m in final)
    assert torch.all(zero.stem.bn.weight == 1)
