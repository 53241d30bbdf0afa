"""The ``fold-bn`` pass: batchnorms merge into the layer before them, meaning stays."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import ir
from compiler import run_pipeline
from frontends.pytorch import from_module
from ir.ops import io
from ir.ops import nn as irnn


def with_stats(model: nn.Module, shape: tuple[int, ...], seed: int = 0) -> nn.Module:
    """``model`` in eval mode with non-trivial batchnorm parameters and statistics."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=gen) * 2 - 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen))
        model.train()
        for _ in range(5):  # running stats move away from mean 0, var 1
            model(torch.randn(16, *shape, generator=gen) * 3 + 1.5)
    return model.eval()


def same_outputs(a: ir.Graph, b: ir.Graph, shape: tuple[int, ...]) -> bool:
    x = torch.randn(4, 2, *shape, generator=torch.Generator().manual_seed(1))
    return torch.allclose(ir.interpret(a, x), ir.interpret(b, x), rtol=1e-5, atol=1e-5)


def ops_of(g: ir.Graph) -> list[str]:
    return [g.op(n).name for n in g.topo_order()]


def fold(g: ir.Graph) -> ir.Graph:
    out = run_pipeline(g, "fold-bn")
    ir.verify(out)
    return out


class ResBlock(nn.Module):
    """A ResNet basic block with a downsampling shortcut, then a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.short = nn.Conv2d(3, 8, 1, stride=2, bias=False)
        self.short_bn = nn.BatchNorm2d(8)
        self.pool = nn.AvgPool2d(4)
        self.fc = nn.Linear(8, 5)
        self.fc_bn = nn.BatchNorm1d(5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y)) + self.short_bn(self.short(x))
        y = self.pool(torch.relu(y)).flatten(1)
        return self.fc_bn(self.fc(y))


MODELS = {
    "conv2d-bias": (
        lambda: nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4)),
        (2, 6, 6),
        1,
    ),
    "conv2d-no-bias": (
        lambda: nn.Sequential(
            nn.Conv2d(2, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU()
        ),
        (2, 6, 6),
        1,
    ),
    "conv2d-groups": (
        lambda: nn.Sequential(nn.Conv2d(4, 4, 3, groups=2), nn.BatchNorm2d(4)),
        (4, 5, 5),
        1,
    ),
    "linear": (
        lambda: nn.Sequential(nn.Linear(6, 4, bias=False), nn.BatchNorm1d(4)),
        (6,),
        1,
    ),
    "affine": (
        lambda: nn.Sequential(
            nn.Linear(6, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3)
        ),
        (6,),
        1,
    ),
    "conv1d": (
        lambda: nn.Sequential(
            nn.Conv1d(3, 5, 3, stride=2, bias=False), nn.BatchNorm1d(5)
        ),
        (3, 11),
        1,
    ),
    "resnet-block": (ResBlock, (3, 8, 8), 4),
}


@pytest.mark.parametrize("key", sorted(MODELS))
def test_pytorch_models_fold_and_keep_their_meaning(key: str) -> None:
    make, shape, n_bn = MODELS[key]
    torch.manual_seed(0)
    model = with_stats(make(), shape)
    g = from_module(model, torch.zeros(1, *shape))
    assert ops_of(g).count("nn.batchnorm") == n_bn
    out = fold(g)
    assert "nn.batchnorm" not in ops_of(out)
    assert len(out) == len(g) - n_bn
    assert same_outputs(g, out, shape)
    # The graph also still computes what PyTorch does.
    x = torch.randn(3, *shape)
    with torch.no_grad():
        expected = model(x)
    got = ir.interpret(out, x.unsqueeze(1))[:, 0]
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_folded_layers_keep_their_names_and_gain_a_bias() -> None:
    model = with_stats(ResBlock(), (3, 8, 8))
    g = from_module(model, torch.zeros(1, 3, 8, 8))
    out = fold(g)
    for layer, bn in [("conv1", "bn1"), ("conv2", "bn2"), ("fc", "fc_bn")]:
        assert layer in out
        assert bn not in out
    assert isinstance(out.op("fc"), irnn.Affine)
    conv1 = out.op("conv1")
    assert isinstance(conv1, irnn.Conv2d)
    assert conv1.bias is not None
    assert conv1.weight.dtype == conv1.bias.dtype == np.float32
    # Users of the batchnorms now read the layers.
    assert set(out.producers("add")) == {"conv2", "short"}


def test_linear_becomes_affine_with_the_expected_parameters() -> None:
    w = np.array([[1.0, 2.0], [3.0, -1.0]], dtype=np.float32)
    bn = irnn.BatchNorm(
        mean=np.array([1.0, -2.0], np.float32),
        var=np.array([3.0, 0.0], np.float32),
        weight=np.array([2.0, 0.5], np.float32),
        bias=np.array([0.5, 1.0], np.float32),
        eps=1.0,
    )
    g = ir.Graph("g")
    g.add("x", io.Input(shape=(2,)))
    g.add("fc", irnn.Linear(weight=w), ["x"])
    g.add("bn", bn, ["fc"])
    g.add("y", io.Output(), ["bn"])
    out = fold(g)
    fc = out.op("fc")
    assert isinstance(fc, irnn.Affine)
    np.testing.assert_allclose(fc.weight, [[1.0, 2.0], [1.5, -0.5]])
    np.testing.assert_allclose(fc.bias, [2.0 * (0 - 1) / 2 + 0.5, 0.5 * 2 + 1.0])
    assert out.producers("y") == ["fc"]


def test_bn_after_a_layer_with_two_users_stays() -> None:
    class TwoUsers(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3, padding=1)
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            c = self.conv(x)
            return self.bn(c) + torch.relu(c)

    model = with_stats(TwoUsers(), (2, 5, 5))
    g = from_module(model, torch.zeros(1, 2, 5, 5))
    out = fold(g)
    assert ir.to_text(out) == ir.to_text(g)


def test_bn_directly_after_the_input_stays() -> None:
    model = with_stats(nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2)), (4,))
    g = from_module(model, torch.zeros(1, 4))
    out = fold(g)
    assert ir.to_text(out) == ir.to_text(g)


def test_bn_over_the_first_dim_of_a_dense_output_stays() -> None:
    # Linear acts on L (last dim), BatchNorm1d on C (first): even with C == L the
    # scale is per row, not per output feature, so it cannot go into the weights.
    model = with_stats(nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)), (3, 4))
    g = from_module(model, torch.zeros(1, 3, 4))
    out = fold(g)
    assert ir.to_text(out) == ir.to_text(g)


def test_bn_summing_two_inputs_stays() -> None:
    rng = np.random.default_rng(0)
    ones, zeros = np.ones(3, np.float32), np.zeros(3, np.float32)
    bn = irnn.BatchNorm(mean=zeros + 0.5, var=ones, weight=ones * 2, bias=zeros)
    g = ir.Graph("g")
    g.add("x", io.Input(shape=(3,)))
    g.add("fc", irnn.Linear(weight=rng.normal(size=(3, 3)).astype(np.float32)), ["x"])
    g.add("other", irnn.ReLU(), ["x"])
    g.add("bn", bn, ["fc", "other"])  # sums two inputs
    g.add("y", io.Output(), ["bn"])
    assert ir.to_text(fold(g)) == ir.to_text(g)


def test_zero_variance_without_eps_stays() -> None:
    zeros = np.zeros(2, np.float32)
    bn = irnn.BatchNorm(mean=zeros, var=zeros, weight=zeros + 1, bias=zeros, eps=0.0)
    g = ir.Graph("g")
    g.add("x", io.Input(shape=(2,)))
    g.add("fc", irnn.Linear(weight=np.eye(2, dtype=np.float32)), ["x"])
    g.add("bn", bn, ["fc"])
    g.add("y", io.Output(), ["bn"])
    assert ir.to_text(fold(g)) == ir.to_text(g)


def test_a_chain_of_batchnorms_folds_completely() -> None:
    model = with_stats(
        nn.Sequential(nn.Conv1d(2, 3, 3), nn.BatchNorm1d(3), nn.BatchNorm1d(3)), (2, 7)
    )
    g = from_module(model, torch.zeros(1, 2, 7))
    out = fold(g)
    assert ops_of(out) == ["io.input", "nn.conv1d", "io.output"]
    assert same_outputs(g, out, (2, 7))


def test_input_graph_is_not_mutated() -> None:
    g = from_module(with_stats(ResBlock(), (3, 8, 8)), torch.zeros(1, 3, 8, 8))
    before = ir.to_text(g)
    out = run_pipeline(g, "fold-bn")
    assert ir.to_text(g) == before
    assert ir.to_text(out) != before


def test_spikeforge_opt_runs_the_pass(tmp_path: Path) -> None:
    g = from_module(with_stats(ResBlock(), (3, 8, 8)), torch.zeros(1, 3, 8, 8))
    src = tmp_path / "in.sfir"
    ir.save(g, src, inline_limit=10**9)
    done = subprocess.run(
        [sys.executable, "-m", "compiler.cli", "opt", str(src), "-p", "fold-bn"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ir.to_text(run_pipeline(g, "fold-bn"))


finite = st.floats(-3, 3, allow_nan=False, width=32)


@st.composite
def conv_bn_graphs(draw: st.DrawFn) -> tuple[ir.Graph, tuple[int, ...]]:
    """A dense or convolution layer followed by a batchnorm with random parameters."""
    c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)

    def vec(elements: st.SearchStrategy[float]) -> np.ndarray:
        values = draw(st.lists(elements, min_size=c_out, max_size=c_out))
        return np.asarray(values, dtype=np.float32)

    kind = draw(st.sampled_from(["linear", "affine", "conv1d", "conv2d"]))
    has_bias = draw(st.booleans())
    bias = rng.normal(size=c_out).astype(np.float32) if has_bias else None
    layer: ir.Op
    shape: tuple[int, ...]
    if kind in ("linear", "affine"):
        w = rng.normal(size=(c_out, c_in)).astype(np.float32)
        shape = (c_in,)
        layer = (
            irnn.Linear(weight=w)
            if kind == "linear"
            else irnn.Affine(weight=w, bias=rng.normal(size=c_out).astype(np.float32))
        )
    elif kind == "conv1d":
        shape = (c_in, 6)
        layer = irnn.Conv1d(
            weight=rng.normal(size=(c_out, c_in, 3)).astype(np.float32), bias=bias
        )
    else:
        shape = (c_in, 5, 5)
        layer = irnn.Conv2d(
            weight=rng.normal(size=(c_out, c_in, 2, 3)).astype(np.float32),
            bias=bias,
            padding=(1, 0),
        )
    bn = irnn.BatchNorm(
        mean=vec(finite),
        var=vec(st.floats(0.0625, 9, width=32)),  # |gamma|/sigma <= 12,
        weight=vec(finite),
        bias=vec(finite),
        eps=draw(st.sampled_from([1e-5, 1e-3, 0.1])),
    )
    g = ir.Graph("prop")
    g.add("x", io.Input(shape=shape))
    g.add("layer", layer, ["x"])
    g.add("bn", bn, ["layer"])
    g.add("y", io.Output(), ["bn"])
    return g, shape


@given(conv_bn_graphs())
def test_interpreter_agrees_for_random_batchnorms(
    case: tuple[ir.Graph, tuple[int, ...]],
) -> None:
    g, shape = case
    out = fold(g)
    assert sorted(out.nodes()) == ["layer", "x", "y"]
    assert same_outputs(g, out, shape)
    # Folding again finds nothing to do.
    assert ir.to_text(run_pipeline(out, "fold-bn")) == ir.to_text(out)
