"""The ``dce`` pass."""

from __future__ import annotations

import numpy as np

import ir
from compiler import run_pipeline
from ir.ops import io, nn, snn


def test_removes_what_reaches_no_output_and_keeps_inputs() -> None:
    g = ir.Graph("g", dt=1e-3)
    g.add("x", io.Input(shape=(3,)))
    g.add("unused_input", io.Input(shape=(5,)))
    g.add("fc", nn.Linear(weight=np.ones((2, 3), np.float32)), ["x"])
    g.add("dead1", nn.ReLU(), ["fc"])
    g.add("dead2", nn.Scale(scale=np.float32(2)), ["dead1"])
    g.add("y", io.Output(), ["fc"])
    out = run_pipeline(g, "dce")
    assert sorted(out.nodes()) == ["fc", "unused_input", "x", "y"]
    x = {
        "x": np.ones((1, 2, 3), np.float32),
        "unused_input": np.zeros((1, 2, 5), np.float32),
    }
    assert np.array_equal(ir.interpret(out, x).numpy(), ir.interpret(g, x).numpy())
    assert len(g) == 6  # input untouched


def test_keeps_recurrent_loops_that_feed_an_output() -> None:
    g = ir.Graph("g", dt=1e-3)
    g.add("x", io.Input(shape=(2,)))
    lif = snn.LIF(tau=0.01, r=10.0, v_leak=0.0, v_threshold=1.0)
    g.add("lif", lif, ["x"])
    g.add("rec", nn.Linear(weight=np.eye(2, dtype=np.float32)), ["lif"])
    g.connect("rec", "lif", recurrent=True)
    g.add("y", io.Output(), ["lif"])
    out = run_pipeline(g, "dce")
    assert sorted(out.nodes()) == ["lif", "rec", "x", "y"]
