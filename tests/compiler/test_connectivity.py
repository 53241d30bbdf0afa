"""``compiler.connectivity``: every linear op's flat map against a brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import compiler
import ir
from compiler.allocation import from_graph
from compiler.connectivity import Connections, connections
from ir.op import Op
from ir.ops.io import Input, Output
from ir.ops.nn import (
    Affine,
    AvgPool2d,
    Conv1d,
    Conv2d,
    Flatten,
    Linear,
    Scale,
    SumPool2d,
)
from ir.ops.snn import IF


def brute_force(op: Op, in_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` by interpreting the op on one-hot inputs (the IR's meaning)."""
    g = ir.Graph("one", dt=1e-3)
    g.add("x", Input(shape=in_shape))
    g.add("op", op, ["x"])
    g.add("y", Output(), ["op"])
    n_in = int(np.prod(in_shape))
    basis = torch.cat([torch.zeros(1, n_in), torch.eye(n_in)])
    out = ir.interpret(g, basis.reshape(n_in + 1, 1, *in_shape)).double()
    flat = out.reshape(n_in + 1, -1).numpy()
    bias = flat[0]
    return (flat[1:] - bias).T, bias


def random_ops(rng: np.random.Generator) -> list[tuple[Op, tuple[int, ...]]]:
    """Ops with random parameters (small integers: every sum is exact)."""

    def ints(*shape: int) -> np.ndarray:
        w = rng.integers(-3, 4, shape).astype(np.float32)
        w[rng.random(shape) < 0.2] = 0
        return w

    groups = int(rng.choice([1, 2]))
    return [
        (
            Conv2d(
                weight=ints(4, 4 // groups, 3, 2),
                bias=ints(4),
                stride=(int(rng.integers(1, 3)), int(rng.integers(1, 3))),
                padding=(int(rng.integers(0, 2)), int(rng.integers(0, 2))),
                dilation=(int(rng.integers(1, 3)), 1),
                groups=groups,
            ),
            (4, 7, 6),
        ),
        (
            Conv1d(
                weight=ints(3, 2, 3),
                bias=None,
                stride=int(rng.integers(1, 3)),
                padding=int(rng.integers(0, 2)),
                dilation=int(rng.integers(1, 3)),
            ),
            (2, 9),
        ),
        (SumPool2d(kernel_size=(2, 3), padding=(1, 1)), (3, 5, 7)),
        (AvgPool2d(kernel_size=(2, 2), stride=(1, 2)), (2, 5, 6)),
        (Linear(weight=ints(3, 4)), (2, 4)),
        (Affine(weight=ints(3, 4), bias=ints(3)), (4,)),
        (Flatten(start_dim=1), (2, 3, 4)),
        (Scale(scale=ints(3, 1, 1)), (3, 2, 2)),
    ]


@pytest.mark.parametrize("seed", range(4))
def test_each_op_matches_its_meaning(seed: int) -> None:
    for op, in_shape in random_ops(np.random.default_rng(seed)):
        out_shape = op.infer_shape({"input": in_shape})
        conn = connections(op, in_shape, out_shape)
        w, b = brute_force(op, in_shape)
        np.testing.assert_array_equal(conn.dense(), w, err_msg=op.name)
        np.testing.assert_array_equal(
            conn.bias if conn.bias is not None else 0 * b, b, err_msg=op.name
        )
        assert np.all(conn.weight != 0)  # one entry per synapse
        np.testing.assert_array_equal(conn.fan_in(), np.count_nonzero(w, axis=1))
        np.testing.assert_array_equal(conn.fan_out(), np.count_nonzero(w, axis=0))


def sparse(w: np.ndarray, b: np.ndarray | None) -> Connections:
    dst, src = np.nonzero(w)
    return Connections(w.shape[1], w.shape[0], src, dst, w[dst, src], b)


@pytest.mark.parametrize("seed", range(4))
def test_composition_is_the_matrix_product(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(-2, 3, (7, 5)) * (rng.random((7, 5)) < 0.5)
    b = rng.integers(-2, 3, (4, 7)) * (rng.random((4, 7)) < 0.5)
    bias_a, bias_b = rng.normal(size=7), rng.normal(size=4)
    both = sparse(a.astype(float), bias_a).then(sparse(b.astype(float), bias_b))
    np.testing.assert_array_equal(both.dense(), b @ a)
    np.testing.assert_allclose(both.bias, b @ bias_a + bias_b)  # type: ignore[arg-type]
    assert np.all(both.weight != 0)  # cancelled sums are no synapse
    none = sparse(a.astype(float), None).then(sparse(b.astype(float), None))
    assert none.bias is None


def test_allocation_expands_pooling_between_layers() -> None:
    """The error the issue reported (a sum pool between two neuron layers) is gone:
    allocation's synapses are the composed chain's."""
    g = ir.Graph("pool", dt=1e-3)
    g.add("x", Input(shape=(1, 4, 4)))
    g.add("c", Conv2d(weight=np.ones((2, 1, 1, 1), np.float32)), ["x"])
    g.add("l1", IF(r=np.ones(()), v_threshold=np.ones(())), ["c"])
    g.add("p", SumPool2d(kernel_size=(2, 2)), ["l1"])
    g.add("f", Flatten(), ["p"])
    g.add("fc", Linear(weight=np.eye(3, 8, dtype=np.float32)), ["f"])
    g.add("l2", IF(r=np.ones(()), v_threshold=np.ones(())), ["fc"])
    g.add("y", Output(), ["l2"])
    net = from_graph(compiler.run_pipeline(g, "infer-shapes"))
    pairs = sorted(zip(net.dst.tolist(), net.src.tolist(), strict=True))
    # Output k reads pooled unit k: channel 0, window k of a 4x4 map (32 neurons).
    want = [(32 + k, r * 4 + c) for k, (r0, c0) in enumerate([(0, 0), (0, 2), (2, 0)])
            for r in (r0, r0 + 1) for c in (c0, c0 + 1)]  # fmt: skip
    assert pairs == sorted(want)
