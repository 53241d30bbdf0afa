"""The ``expand-conv`` pass: conv/pool/flatten chains to flat weights, same meaning."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import compiler
import ir
from compiler.errors import PassError
from compiler.passes.expand_conv import ExpandConvPass
from ir.ops.io import Input, Output
from ir.ops.nn import (
    Affine,
    AvgPool2d,
    Conv1d,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    SumPool2d,
)
from ir.ops.snn import IF, LIF
from tests.backends.xylo.snn_graphs import lif_graph


def ints(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Small integer weights: every sum the interpreter makes is exact."""
    w = rng.integers(-2, 4, shape).astype(np.float32)
    w[rng.random(shape) < 0.25] = 0
    return w


def if_layer(rng: np.random.Generator, shape: tuple[int, ...]) -> IF:
    threshold = rng.uniform(1.5, 4.0, shape).astype(np.float32)
    return IF(r=np.full((), 1000.0, np.float32), v_threshold=threshold)


def lif_layer(rng: np.random.Generator, shape: tuple[int, ...]) -> LIF:
    return LIF(
        tau=rng.uniform(0.005, 0.05, shape).astype(np.float32),
        r=np.full((), 20.0, np.float32),
        v_leak=np.zeros(()),
        v_threshold=np.full((), 2.0, np.float32),
        reset="subtract",
        max_spikes=int(rng.integers(1, 4)),
    )


def random_cnn(seed: int) -> ir.Graph:
    """input -> conv (random stride, padding, groups, bias) -> neurons (per-channel
    parameters) [-> recurrent conv] -> sum or average pool -> conv or flatten ->
    dense -> neurons -> output."""
    rng = np.random.default_rng(seed)
    c_in = int(rng.integers(1, 3))
    h, w = (int(v) for v in rng.integers(6, 10, 2))
    g = ir.Graph(f"cnn{seed}", dt=1e-3)
    g.add("x", Input(shape=(c_in, h, w)))
    c1 = 2 * int(rng.integers(1, 3))
    groups = c_in if c1 % c_in == 0 and rng.random() < 0.5 else 1
    pad = int(rng.integers(0, 2))
    g.add(
        "conv1",
        Conv2d(
            weight=ints(rng, c1, c_in // groups, 3, 3),
            bias=ints(rng, c1) if rng.random() < 0.5 else None,
            stride=(1, int(rng.integers(1, 3))),
            padding=(pad, pad),
            groups=groups,
        ),
        ["x"],
    )
    shape1 = g.shape("conv1")
    g.add("n1", lif_layer(rng, (c1, 1, 1)), ["conv1"])
    if rng.random() < 0.5:  # a lateral convolution, read back a step later
        lateral = Conv2d(weight=ints(rng, c1, c1, 3, 3), padding=(1, 1))
        g.add("lateral", lateral)
        g.connect("n1", "lateral", recurrent=True)
        g.connect("lateral", "n1")
    pool = SumPool2d if rng.random() < 0.5 else AvgPool2d
    g.add("pool1", pool(kernel_size=(2, 2), stride=(1, 1)), ["n1"])
    if rng.random() < 0.5:
        g.add("conv2", Conv2d(weight=ints(rng, 3, c1, 2, 2)), ["pool1"])
        g.add("n2", if_layer(rng, (3, 1, 1)), ["conv2"])
        g.add("flat", Flatten(), ["n2"])
    else:
        g.add("flat", Flatten(), ["pool1"])
    n_flat = int(np.prod(g.shape("flat")))
    fc = Affine(weight=np.abs(ints(rng, 5, n_flat)), bias=ints(rng, 5))
    g.add("fc", fc, ["flat"])
    g.add("out", if_layer(rng, (5,)), ["fc"])
    g.add("y", Output(), ["out"])
    assert shape1[0] == c1
    return compiler.run_pipeline(g, "infer-shapes")


def spikes(seed: int, shape: tuple[int, ...], steps: int = 25) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand((3, steps, *shape), generator=gen) < 0.4).float()


@pytest.mark.parametrize("seed", range(8))
def test_random_cnns_agree_exactly_with_the_interpreter(seed: int) -> None:
    graph = random_cnn(seed)
    flat = compiler.run_pipeline(graph, "expand-conv")
    for node in flat:
        op = flat.op(node)
        assert op.name.startswith(("io.", "snn.")) or isinstance(op, (Linear, Affine))
        assert len(flat.shape(node)) == 1
    assert flat.meta("x")["flattened_from"] == graph.shape("x")
    assert flat.meta("fc")["expanded_from"][-1] == "nn.affine 'fc'"
    assert "pool1" not in flat
    x = spikes(seed, graph.shape("x"))
    _, before = ir.interpret(graph, x, record=True)
    _, after = ir.interpret(flat, x.reshape(3, 25, -1), record=True)
    for layer in ("n1", "n2", "out"):
        if layer in graph:
            want = before[layer]["output"].reshape(3, 25, -1)
            assert torch.equal(after[layer]["output"], want), layer
    assert before["out"]["output"].sum() > 0
    if "lateral" in graph:
        (edge,) = [e for e in flat.in_edges("lateral") if e.src == "n1"]
        assert edge.recurrent


def test_conv1d_chain_agrees() -> None:
    rng = np.random.default_rng(0)
    g = ir.Graph("audio", dt=1e-3)
    g.add("x", Input(shape=(2, 12)))
    g.add("c", Conv1d(weight=ints(rng, 4, 2, 3), stride=2, padding=1), ["x"])
    g.add("n", if_layer(rng, (4, 1)), ["c"])
    g.add("f", Flatten(), ["n"])
    g.add("fc", Linear(weight=ints(rng, 3, 24)), ["f"])
    g.add("o", if_layer(rng, (3,)), ["fc"])
    g.add("y", Output(), ["o"])
    flat = ExpandConvPass().run(g)
    x = spikes(1, (2, 12), steps=30)
    want = ir.interpret(g, x)
    assert want.sum() > 0
    assert torch.equal(ir.interpret(flat, x.reshape(3, 30, -1)), want)


def test_graphs_without_convs_are_unchanged() -> None:
    graph = lif_graph(0)
    assert compiler.run_pipeline(graph, "expand-conv").is_equivalent(graph)


def test_meta_prints_and_parses_back() -> None:
    flat = compiler.run_pipeline(random_cnn(1), "expand-conv")
    text = ir.to_text(flat)
    back = ir.parse(text)
    assert ir.to_text(back) == text
    assert back.meta("fc")["expanded_from"] == flat.meta("fc")["expanded_from"]


def pooled_classifier(n_out: int = 10) -> ir.Graph:
    """The issue's failing case: (1, 8, 8) -> conv 4x3x3 -> IF -> sum pool -> flatten
    -> linear -> IF."""
    g = ir.Graph("pooled", dt=1e-3)
    g.add("x", Input(shape=(1, 8, 8)))
    g.add("conv1", Conv2d(weight=np.ones((4, 1, 3, 3), np.float32)), ["x"])
    g.add("h", IF(r=np.ones(()), v_threshold=np.ones(())), ["conv1"])
    g.add("pool1", SumPool2d(kernel_size=(2, 2)), ["h"])
    g.add("flat", Flatten(), ["pool1"])
    g.add("fc", Linear(weight=np.ones((n_out, 36), np.float32)), ["flat"])
    g.add("o", IF(r=np.ones(()), v_threshold=np.ones(())), ["fc"])
    g.add("y", Output(), ["o"])
    return g


def test_what_does_not_fit_names_the_op_the_limit_and_the_value() -> None:
    fan_in = (
        r"nn.sumpool2d 'pool1' \(expanded with nn.flatten 'flat', nn.linear 'fc'\): "
        r"fan-in .*of layer 'o' neuron 0 is 144, over dynapse2's limit of 64 "
        r"\(cam_entries\)"
    )
    with pytest.raises(PassError, match=fan_in):
        compiler.compile(pooled_classifier(), target="dynapse2")
    inputs = r"nn.conv2d 'conv1': input channels of 'x' \(\(1, 8, 8\) flattened\) is 64"
    with pytest.raises(PassError, match=inputs + r", over xylo-audio2's limit of 16"):
        compiler.compile(pooled_classifier(), target="xylo-audio2")

    def wide(c1: int, c2: int, k2: int = 3) -> ir.Graph:
        g = ir.Graph("wide", dt=1e-3)
        g.add("x", Input(shape=(1, 4, 4)))
        w1 = np.ones((c1, 1, 3, 3), np.float32)
        g.add("conv1", Conv2d(weight=w1, padding=(1, 1)), ["x"])
        g.add("h1", IF(r=np.ones(()), v_threshold=np.ones(())), ["conv1"])
        w2 = np.ones((c2, c1, k2, k2), np.float32)
        g.add("conv2", Conv2d(weight=w2, padding=(k2 // 2, k2 // 2)), ["h1"])
        g.add("h2", IF(r=np.ones(()), v_threshold=np.ones(())), ["conv2"])
        g.add("flat", Flatten(), ["h2"])
        g.add("fc", Linear(weight=np.ones((3, c2 * 16), np.float32)), ["flat"])
        g.add("o", IF(r=np.ones(()), v_threshold=np.ones(())), ["fc"])
        g.add("y", Output(), ["o"])
        return g

    hidden = (
        r"nn.conv2d 'conv1': hidden neurons \(layer 'h1': 1,280, all hidden layers\) "
        r"is 1,296, over xylo-audio2's limit of 1,000 \(max_hidden_neurons\)"
    )
    with pytest.raises(PassError, match=hidden):
        compiler.run_pipeline(wide(80, 1), "expand-conv{target=xylo-audio2}")
    fan_out = (
        r"nn.conv2d 'conv2': fan-out of layer 'h1' neuron 5 is 144, over "
        r"xylo-audio2's limit of 64 \(max_fanout\)"
    )  # an inner pixel reaches 16 channels x 3 x 3 positions
    with pytest.raises(PassError, match=fan_out):
        compiler.run_pipeline(wide(16, 16), "expand-conv{target=xylo-audio2}")
    neurons = (
        r"nn.conv2d 'conv1': neurons \(layer 'h1': 1,024, all layers\) is 1,043, over "
        r"dynapse2's limit of 1,024 \(chips x cores_per_chip x neurons_per_core\)"
    )
    with pytest.raises(PassError, match=neurons):
        compiler.run_pipeline(wide(64, 1, k2=1), "expand-conv{target=dynapse2}")


def test_ops_that_cannot_expand_are_named() -> None:
    g = pooled_classifier()
    g.replace("pool1", MaxPool2d(kernel_size=(2, 2)))
    with pytest.raises(
        PassError, match=r"nn.maxpool2d 'pool1' has shape \(4, 3, 3\).*use average"
    ):
        compiler.run_pipeline(g, "expand-conv")
    with pytest.raises(PassError, match="unknown target 'chip9'"):
        compiler.run_pipeline(pooled_classifier(), "expand-conv{target=chip9}")
