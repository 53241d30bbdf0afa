"""The ``infer-shapes`` pass."""

from __future__ import annotations

import numpy as np
import pytest

import ir
from compiler import run_pipeline
from ir.ops import io, nn


def test_writes_shapes_to_meta_and_they_print() -> None:
    g = ir.Graph("g")
    g.add("x", io.Input(shape=(1, 8, 8)))
    g.add(
        "conv",
        nn.Conv2d(weight=np.ones((4, 1, 3, 3), np.float32), padding=(1, 1)),
        ["x"],
    )
    g.add("pool", nn.AvgPool2d(kernel_size=(2, 2)), ["conv"])
    g.add("flat", nn.Flatten(), ["pool"])
    g.add("y", io.Output(), ["flat"])
    out = run_pipeline(g, "infer-shapes")
    assert out.meta("conv")["shape"] == (4, 8, 8)
    assert out.meta("pool")["shape"] == (4, 4, 4)
    assert out.meta("flat")["shape"] == (64,)
    assert "meta {shape = (64)}" in ir.to_text(out)
    assert ir.parse(ir.to_text(out)).is_equivalent(out)
    assert "shape" not in g.meta("conv")


def test_a_stale_shape_is_caught() -> None:
    g = ir.Graph("g")
    g.add("x", io.Input(shape=(3,)))
    g.add("fc", nn.Linear(weight=np.ones((2, 3), np.float32)), ["x"])
    g.add("y", io.Output(), ["fc"])
    out = run_pipeline(g, "infer-shapes")
    out.meta("fc")["shape"] = (5,)
    with pytest.raises(ir.VerifyError, match=r"node 'fc': meta shape \(5,\) disagrees"):
        ir.verify(out)
