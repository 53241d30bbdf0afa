"""The ``canonicalize`` pass: identities go, scale/dense chains fuse, meaning stays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import ir
from compiler import run_pipeline
from ir.ops import io, nn, snn


def chain(*ops: ir.Op, width: int = 3, dt: float | None = None) -> ir.Graph:
    g = ir.Graph("chain", dt=dt)
    g.add("x", io.Input(shape=(width,)))
    prev = "x"
    for i, op in enumerate(ops):
        prev = g.add(f"n{i}", op, [prev])
    g.add("y", io.Output(), [prev])
    return g


def same_outputs(a: ir.Graph, b: ir.Graph, width: int, *, atol: float = 1e-5) -> bool:
    x = torch.randn(4, 3, width, generator=torch.Generator().manual_seed(0))
    ya, yb = ir.interpret(a, x), ir.interpret(b, x)
    return torch.allclose(ya, yb, rtol=1e-5, atol=atol)


def f32(a: object) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def test_scales_fuse_into_one() -> None:
    g = chain(nn.Scale(scale=f32(2.0)), nn.Scale(scale=f32([1.0, 3.0, 0.5])))
    out = run_pipeline(g, "canonicalize")
    assert [out.op(n).name for n in out.topo_order()] == [
        "io.input",
        "nn.scale",
        "io.output",
    ]
    (node,) = [n for n in out.nodes() if out.op(n).name == "nn.scale"]
    assert out.op(node).scale.tolist() == [2.0, 6.0, 1.0]
    assert same_outputs(g, out, 3)


def test_scale_folds_into_the_dense_layer_keeping_its_name() -> None:
    w = f32([[1, 2, 3], [4, 5, 6]])
    g = chain(
        nn.Scale(scale=f32([1, 10, 100])), nn.Linear(weight=w), nn.Scale(scale=f32(0.5))
    )
    out = run_pipeline(g, "canonicalize")
    assert sorted(out.nodes()) == ["n1", "x", "y"]
    assert out.op("n1").weight.tolist() == [[0.5, 10, 150], [2, 25, 300]]
    assert same_outputs(g, out, 3)


def test_dense_layers_fuse_with_bias_unless_the_result_grows() -> None:
    rng = np.random.default_rng(0)
    a = nn.Affine(weight=f32(rng.normal(size=(4, 3))), bias=f32(rng.normal(size=4)))
    b = nn.Linear(weight=f32(rng.normal(size=(2, 4))))
    g = chain(a, b)
    out = run_pipeline(g, "canonicalize")
    assert sorted(out.nodes()) == ["n0", "x", "y"]
    assert isinstance(out.op("n0"), nn.Affine)
    assert out.op("n0").weight.shape == (2, 3)
    assert same_outputs(g, out, 3)
    # A bottleneck 20 -> 2 -> 20 would become 20x20 = 400 > 2*20 + 20*2 weights.
    up = nn.Linear(weight=f32(rng.normal(size=(20, 2))))
    down = nn.Linear(weight=f32(rng.normal(size=(2, 20))))
    g2 = chain(down, up, width=20)
    assert sorted(run_pipeline(g2, "canonicalize").nodes()) == ["n0", "n1", "x", "y"]


def test_identities_are_removed() -> None:
    g = ir.Graph("ids", dt=1e-3)
    g.add("x", io.Input(shape=(2, 3)))
    g.add("one", nn.Scale(scale=f32(1.0)), ["x"])
    g.add("sum", nn.Add(), ["one"])
    g.add("flat_noop", nn.Flatten(start_dim=1, end_dim=1), ["sum"])
    g.add("d0", snn.Delay(delay=f32(0.0)), ["flat_noop"])
    g.add("relu", nn.ReLU(), ["d0"])
    g.add("y", io.Output(), ["relu"])
    out = run_pipeline(g, "canonicalize")
    assert sorted(out.nodes()) == ["relu", "x", "y"]
    assert out.producers("relu") == ["x"]
    x = torch.randn(2, 4, 2, 3)
    assert torch.equal(ir.interpret(g, x), ir.interpret(out, x))


def test_what_must_stay_stays() -> None:
    rng = np.random.default_rng(1)
    g = ir.Graph("keep", dt=1e-3)
    g.add("x", io.Input(shape=(3,)))
    g.add("a", nn.Linear(weight=f32(rng.normal(size=(3, 3)))), ["x"])
    g.add("b", nn.Linear(weight=f32(rng.normal(size=(3, 3)))), ["a"])
    g.add("side", nn.ReLU(), ["a"])  # a has two users: no fusion with b
    g.add("sum", nn.Add(), ["b", "side"])  # two inputs: not an identity
    g.add("lif", snn.LIF(tau=0.02, r=20.0, v_leak=0.0, v_threshold=1.0), ["sum"])
    g.add(
        "rec", nn.Scale(scale=f32(1.0)), ["lif"]
    )  # identity, but feeds a recurrent edge
    g.connect("rec", "lif", recurrent=True)
    g.add("y", io.Output(), ["lif"])
    out = run_pipeline(g, "canonicalize")
    assert {"a", "b", "side", "sum", "lif"} <= set(out.nodes())
    x = torch.randn(2, 6, 3)
    assert torch.equal(ir.interpret(g, x), ir.interpret(out, x))


def test_input_graph_is_not_mutated() -> None:
    g = chain(nn.Scale(scale=f32(2.0)), nn.Scale(scale=f32(3.0)))
    before = ir.to_text(g)
    run_pipeline(g, "canonicalize")
    assert ir.to_text(g) == before


@st.composite
def dense_chains(draw: st.DrawFn) -> tuple[list[ir.Op], int]:
    width = draw(st.integers(1, 5))
    n = width
    ops: list[ir.Op] = []
    values = st.floats(-2, 2, allow_nan=False, width=32)
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(
            st.sampled_from(["scale", "vscale", "linear", "affine", "relu", "add"])
        )
        if kind == "scale":
            ops.append(nn.Scale(scale=f32(draw(values))))
        elif kind == "vscale":
            ops.append(
                nn.Scale(scale=f32(draw(st.lists(values, min_size=n, max_size=n))))
            )
        elif kind in ("linear", "affine"):
            m = draw(st.integers(1, 5))
            w = f32(draw(st.lists(values, min_size=m * n, max_size=m * n))).reshape(
                m, n
            )
            if kind == "linear":
                ops.append(nn.Linear(weight=w))
            else:
                b = f32(draw(st.lists(values, min_size=m, max_size=m)))
                ops.append(nn.Affine(weight=w, bias=b))
            n = m
        elif kind == "relu":
            ops.append(nn.ReLU())
        else:
            ops.append(nn.Add())
    return ops, width


@given(dense_chains())
def test_interpreter_agrees_before_and_after(case: tuple[list[ir.Op], int]) -> None:
    ops, width = case
    g = chain(*ops, width=width)
    out = run_pipeline(g, "canonicalize")
    ir.verify(out)
    assert len(out) <= len(g)
    assert same_outputs(g, out, width, atol=1e-4)
    # Canonical: running it again changes nothing.
    assert ir.to_text(run_pipeline(out, "canonicalize")) == ir.to_text(out)


@pytest.mark.parametrize("power", [0.25, 2.0, 8.0])
def test_power_of_two_gain_fuses_bit_exactly(power: float) -> None:
    rng = np.random.default_rng(2)
    g = chain(
        nn.Linear(weight=f32(rng.normal(size=(4, 3)))), nn.Scale(scale=f32(power))
    )
    out = run_pipeline(g, "canonicalize")
    x = torch.randn(3, 5, 3)
    assert torch.equal(ir.interpret(g, x), ir.interpret(out, x))
