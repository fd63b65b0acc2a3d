"""The vectorised complexity against a literal scalar transcription of pycls.

The reference below copies pycls's ``generate_regnet``, ``adjust_block_compatibility`` and
``*_cx`` accumulators (``pycls/models/{regnet,blocks,anynet}.py``) one configuration at a
time, composed as EA-HAS-Bench's RegNet: ``res_stem_cifar``, SE residual bottleneck blocks
with bottleneck ratio 1 and SE ratio 0.25, stride 2 at every stage, a linear head.
"""

from __future__ import annotations

import numpy as np
import pytest

from optuna_eahas.space import SearchSpace
from optuna_eahas.space import batch_complexity
from optuna_eahas.space import regnet_complexity

# ------------------------------ pycls, transcribed literally ------------------------------ #


def generate_regnet(w_a, w_0, w_m, d, q=8):
    ws_cont = np.arange(d) * w_a + w_0
    ks = np.round(np.log(ws_cont / w_0) / np.log(w_m))
    ws_all = w_0 * np.power(w_m, ks)
    ws_all = np.round(np.divide(ws_all, q)).astype(int) * q
    ws, ds = np.unique(ws_all, return_counts=True)
    return ws.tolist(), ds.tolist()


def adjust_block_compatibility(ws, bs, gs):
    vs = [int(max(1, w * b)) for w, b in zip(ws, bs, strict=True)]
    gs = [int(min(g, v)) for g, v in zip(gs, vs, strict=True)]
    ms = [np.lcm(g, b) if b > 1 else g for g, b in zip(gs, bs, strict=True)]
    vs = [max(m, int(round(v / m) * m)) for v, m in zip(vs, ms, strict=True)]
    ws = [int(v / b) for v, b in zip(vs, bs, strict=True)]
    assert all(w * b % g == 0 for w, b, g in zip(ws, bs, gs, strict=True))
    return ws, bs, gs


def conv2d_cx(cx, w_in, w_out, k, *, stride=1, groups=1, bias=False):
    h, w, flops, params, acts = cx["h"], cx["w"], cx["flops"], cx["params"], cx["acts"]
    h, w = (h - 1) // stride + 1, (w - 1) // stride + 1
    flops += k * k * w_in * w_out * h * w // groups + (w_out if bias else 0)
    params += k * k * w_in * w_out // groups + (w_out if bias else 0)
    acts += w_out * h * w
    return {"h": h, "w": w, "flops": flops, "params": params, "acts": acts}


def norm2d_cx(cx, w_in):
    return {**cx, "params": cx["params"] + 2 * w_in}


def gap2d_cx(cx, _w_in):
    return {**cx, "h": 1, "w": 1}


def linear_cx(cx, w_in, w_out, *, bias=False):
    flops = cx["flops"] + w_in * w_out + (w_out if bias else 0)
    params = cx["params"] + w_in * w_out + (w_out if bias else 0)
    return {**cx, "flops": flops, "params": params, "acts": cx["acts"] + w_out}


def se_cx(cx, w_in, w_se):
    h, w = cx["h"], cx["w"]
    cx = gap2d_cx(cx, w_in)
    cx = conv2d_cx(cx, w_in, w_se, 1, bias=True)
    cx = conv2d_cx(cx, w_se, w_in, 1, bias=True)
    cx["h"], cx["w"] = h, w
    return cx


def bottleneck_transform_cx(cx, w_in, w_out, stride, params):
    w_b = int(round(w_out * params["bot_mul"]))
    w_se = int(round(w_in * params["se_r"]))
    groups = w_b // params["group_w"]
    cx = conv2d_cx(cx, w_in, w_b, 1)
    cx = norm2d_cx(cx, w_b)
    cx = conv2d_cx(cx, w_b, w_b, 3, stride=stride, groups=groups)
    cx = norm2d_cx(cx, w_b)
    cx = se_cx(cx, w_b, w_se) if w_se else cx
    cx = conv2d_cx(cx, w_b, w_out, 1)
    cx = norm2d_cx(cx, w_out)
    return cx


def res_bottleneck_block_cx(cx, w_in, w_out, stride, params):
    if (w_in != w_out) or (stride != 1):
        h, w = cx["h"], cx["w"]
        cx = conv2d_cx(cx, w_in, w_out, 1, stride=stride)
        cx = norm2d_cx(cx, w_out)
        cx["h"], cx["w"] = h, w
    return bottleneck_transform_cx(cx, w_in, w_out, stride, params)


def res_stem_cifar_cx(cx, w_in, w_out):
    cx = conv2d_cx(cx, w_in, w_out, 3)
    return norm2d_cx(cx, w_out)


def anynet_cx(p, im_size=32):
    cx = {"h": im_size, "w": im_size, "flops": 0, "params": 0, "acts": 0}
    cx = res_stem_cifar_cx(cx, 3, p["stem_w"])
    prev_w = p["stem_w"]
    keys = ["depths", "widths", "strides", "bot_muls", "group_ws"]
    for d, w, s, b, g in zip(*[p[k] for k in keys], strict=True):
        params = {"bot_mul": b, "group_w": g, "se_r": p["se_r"]}
        for _ in range(d):
            cx = res_bottleneck_block_cx(cx, prev_w, w, s, params)
            s, prev_w = 1, w
    cx = gap2d_cx(cx, prev_w)
    return linear_cx(cx, prev_w, p["num_classes"], bias=True)


def regnet_reference(cfg, stem_w, num_classes):
    ws, ds = generate_regnet(cfg["wa"], cfg["w0"], cfg["wm"], cfg["depth"])
    ss = [2 for _ in ws]
    bs = [1.0 for _ in ws]
    gs = [cfg["group_width"] for _ in ws]
    ws, bs, gs = adjust_block_compatibility(ws, bs, gs)
    p = {
        "stem_w": stem_w,
        "depths": ds,
        "widths": ws,
        "strides": ss,
        "bot_muls": bs,
        "group_ws": gs,
        "se_r": 0.25,
        "num_classes": num_classes,
    }
    cx = anynet_cx(p)
    return {
        "flops": cx["flops"],
        "params": cx["params"],
        "acts": cx["acts"],
        "widths": ws,
        "depths": ds,
        "group_widths": gs,
    }


# ------------------------------------------ tests ----------------------------------------- #


@pytest.mark.parametrize("dataset", ["cifar10", "tinyimagenet"])
def test_matches_pycls_reference(dataset: str) -> None:
    space = SearchSpace(dataset)
    configs = space.sample(250, seed=7)
    batch = space.batch_complexity(space.columns(configs))
    for i, cfg in enumerate(configs):
        expected = regnet_reference(cfg, space.stem_width, space.num_classes)
        assert space.complexity(cfg).to_dict() == expected, cfg
        assert batch.item(i).to_dict() == expected, cfg
        assert batch.num_stages[i] == len(expected["widths"])


def test_matches_pycls_reference_on_constrained_cifar10() -> None:
    space = SearchSpace("cifar10")
    for cfg in space.sample(50, seed=3, constrained=True):
        expected = regnet_reference(cfg, 16, 10)
        assert space.complexity(cfg).to_dict() == expected, cfg


def test_regnet_complexity_function_matches_space() -> None:
    space = SearchSpace("tinyimagenet")
    for cfg in space.sample(20, seed=1):
        direct = regnet_complexity(cfg, stem_width=32, num_classes=200)
        assert direct == space.complexity(cfg)


def test_batch_complexity_handles_mixed_depths() -> None:
    space = SearchSpace("cifar10")
    configs = space.sample(64, seed=11)
    columns = space.columns(configs)
    batch = batch_complexity(
        depth=columns["depth"],
        w0=columns["w0"],
        wa=columns["wa"],
        wm=columns["wm"],
        group_width=columns["group_width"],
        stem_width=16,
        num_classes=10,
    )
    assert len(batch) == 64
    assert len(set(columns["depth"].tolist())) > 1
    for i, cfg in enumerate(configs):
        assert batch.item(i) == space.complexity(cfg)
        assert sum(batch.item(i).depths) == cfg["depth"]


_HYPERPARAMETERS = {
    "learning_rate": 0.1,
    "max_epoch": 100,
    "lr_policy": "cos",
    "optimizer": "sgd",
    "cutout": 0,
}


def test_hand_checked_cifar10_two_stages() -> None:
    # w0=48, wa=8, wm=3, d=6: ws_cont = 48..88; log(ws/48)/log(3) = 0, .14, .26, .37, .47, .55
    # -> k = 0,0,0,0,0,1 -> stages (48 x5), (144 x1); group width 8 divides both.
    # stem 3->16 at 32x32: flops 27*16*1024 = 442368, params 432+32 = 464, acts 16384.
    # s1.b1 16->48, 32->16, groups 6, w_se 4:
    #   proj 16*48*256 = 196608 | a 16*48*1024 = 786432 | b 9*48*8*256 = 884736
    #   se 48*4+4 + 4*48+48 = 436 | c 48*48*256 = 589824            -> flops 2458036
    #   params 864 + (768+96) + (3456+96) + 436 + (2304+96) = 8116
    #   acts 12288 + 49152 + 12288 + 4+48 + 12288 = 86068
    # s1.b2-5 48->48 at 16x16, w_se 12: flops 2*589824 + 884736 + 588+624 = 2065596,
    #   params 2*(2304+96) + (3456+96) + 1212 = 9564, acts 3*12288 + 60 = 36924 (each x4)
    # s2.b1 48->144, 16->8, groups 18, w_se 12:
    #   proj 48*144*64 = 442368 | a 48*144*256 = 1769472 | b 9*144*8*64 = 663552
    #   se 1740 + 1872 | c 144*144*64 = 1327104                    -> flops 4206108
    #   params (6912+288) + (6912+288) + (10368+288) + 3612 + (20736+288) = 49692
    #   acts 9216 + 36864 + 9216 + 12+144 + 9216 = 64668
    # head 144*10+10 = 1450 flops and params, 10 acts.
    cfg = {"depth": 6, "w0": 48, "wa": 8.0, "wm": 3.0, "group_width": 8, **_HYPERPARAMETERS}
    cx = SearchSpace("cifar10").complexity(cfg)
    assert (cx.widths, cx.depths, cx.group_widths) == ((48, 144), (5, 1), (8, 8))
    assert cx.flops == 442368 + 2458036 + 4 * 2065596 + 4206108 + 1450 == 15370346
    assert cx.params == 464 + 8116 + 4 * 9564 + 49692 + 1450 == 97978
    assert cx.acts == 16384 + 86068 + 4 * 36924 + 64668 + 10 == 314826


def test_hand_checked_tinyimagenet_group_width_rounding() -> None:
    # w0=64, wa=8, wm=1.5, d=6: log(ws/64)/log(1.5) = 0, .29, .55, .79, 1, 1.2
    # -> stages (64 x2), (96 x4); group width 24 rounds 64 to 72 (2.67 -> 3) and keeps 96.
    # stem 3->32: flops 27*32*1024 = 884736, params 864+64 = 928, acts 32768.
    # s1.b1 32->72, 32->16, groups 3, w_se 8:
    #   proj 32*72*256 = 589824 | a 32*72*1024 = 2359296 | b 9*72*24*256 = 3981312
    #   se 72*8+8 + 8*72+72 = 1232 | c 72*72*256 = 1327104          -> flops 8258768
    #   params (2304+144) + (2304+144) + (15552+144) + 1232 + (5184+144) = 27152
    #   acts 18432 + 73728 + 18432 + 80 + 18432 = 129104
    # s1.b2 72->72 at 16x16, w_se 18: flops 2*1327104 + 3981312 + 1314+1368 = 6638202,
    #   params 2*(5184+144) + (15552+144) + 2682 = 29034, acts 3*18432 + 90 = 55386
    # s2.b1 72->96, 16->8, groups 4, w_se 18:
    #   proj 72*96*64 = 442368 | a 72*96*256 = 1769472 | b 9*96*24*64 = 1327104
    #   se 1746 + 1824 | c 96*96*64 = 589824                        -> flops 4132338
    #   params (6912+192) + (6912+192) + (20736+192) + 3570 + (9216+192) = 48114
    #   acts 6144 + 24576 + 6144 + 114 + 6144 = 43122
    # s2.b2-4 96->96 at 8x8, w_se 24: flops 2*589824 + 1327104 + 2328+2400 = 2511480,
    #   params 2*(9216+192) + (20736+192) + 4728 = 44472, acts 3*6144 + 120 = 18552 (each x3)
    # head 96*200+200 = 19400 flops and params, 200 acts.
    cfg = {"depth": 6, "w0": 64, "wa": 8.0, "wm": 1.5, "group_width": 24, **_HYPERPARAMETERS}
    cx = SearchSpace("tinyimagenet").complexity(cfg)
    assert (cx.widths, cx.depths, cx.group_widths) == ((72, 96), (2, 4), (24, 24))
    assert cx.flops == 884736 + 8258768 + 6638202 + 4132338 + 3 * 2511480 + 19400 == 27467884
    assert cx.params == 928 + 27152 + 29034 + 48114 + 3 * 44472 + 19400 == 258044
    assert cx.acts == 32768 + 129104 + 55386 + 43122 + 3 * 18552 + 200 == 316236


def test_hand_checked_stages_of_equal_adjusted_width() -> None:
    # w0=48, wa=8, wm=1.5, d=6: log(ws/48)/log(1.5) = 0, .38, .71, 1, 1.26, 1.49
    # -> stages (48 x2), (72 x4); group width 32 rounds both to 64 (1.5 -> 2, 2.25 -> 2).
    # The stages stay separate: s2.b1 is 64->64 with stride 2, so it keeps its projection.
    # stem 3->32: 884736 flops, 928 params, 32768 acts.
    # s1.b1 32->64, 32->16, groups 2, w_se 8:
    #   proj 32*64*256 = 524288 | a 32*64*1024 = 2097152 | b 9*64*32*256 = 4718592
    #   se 64*8+8 + 8*64+64 = 1096 | c 64*64*256 = 1048576          -> flops 8389704
    #   params (2048+128) + (2048+128) + (18432+128) + 1096 + (4096+128) = 28232
    #   acts 16384 + 65536 + 16384 + 72 + 16384 = 114760
    # s1.b2 64->64 at 16x16, w_se 16: flops 2*1048576 + 4718592 + 1040+1088 = 6817872,
    #   params 2*(4096+128) + (18432+128) + 2128 = 29136, acts 3*16384 + 80 = 49232
    # s2.b1 64->64, 16->8, w_se 16:
    #   proj 64*64*64 = 262144 | a 64*64*256 = 1048576 | b 9*64*32*64 = 1179648
    #   se 2128 | c 64*64*64 = 262144                               -> flops 2754640
    #   params (4096+128) * 3 + (18432+128) + 2128 = 33360
    #   acts 4096 + 16384 + 4096 + 80 + 4096 = 28752
    # s2.b2-4 at 8x8: flops 2*262144 + 1179648 + 2128 = 1706064, params 29136,
    #   acts 3*4096 + 80 = 12368 (each x3)
    # head 64*200+200 = 13000 flops and params, 200 acts.
    cfg = {"depth": 6, "w0": 48, "wa": 8.0, "wm": 1.5, "group_width": 32, **_HYPERPARAMETERS}
    cx = SearchSpace("tinyimagenet").complexity(cfg)
    assert (cx.widths, cx.depths, cx.group_widths) == ((64, 64), (2, 4), (32, 32))
    assert cx.flops == 884736 + 8389704 + 6817872 + 2754640 + 3 * 1706064 + 13000 == 23978144
    assert cx.params == 928 + 28232 + 29136 + 33360 + 3 * 29136 + 13000 == 192064
    assert cx.acts == 32768 + 114760 + 49232 + 28752 + 3 * 12368 + 200 == 262816


@pytest.mark.parametrize("dataset", ["cifar10", "tinyimagenet"])
def test_batch_equals_rows_at_every_depth(dataset: str) -> None:
    # All blocks are computed at once and masked; rows of every depth must not see each other.
    space = SearchSpace(dataset)
    configs = space.sample(600, seed=13)
    assert {c["depth"] for c in configs} == set(range(6, 16))
    batch = space.batch_complexity(space.columns(configs))
    for i in range(0, 600, 7):
        assert batch.item(i) == space.complexity(configs[i])
        expected = regnet_reference(configs[i], space.stem_width, space.num_classes)
        assert batch.item(i).to_dict() == expected
