"""A small CNN on Xylo: ``expand-conv`` in the default pipeline, the emulator agrees."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import compiler
import ir
from backends.xylo.lower import config_from_graph
from backends.xylo.ops import XyloCore
from backends.xylo.target import TARGETS
from ir.ops.io import Input, Output
from ir.ops.nn import Conv2d, Flatten, Linear, SumPool2d
from ir.ops.snn import LIF
from tests.backends.xylo.snn_graphs import on_chip, raster


def lif(max_spikes: int, tau: float = 0.02) -> LIF:
    """One LIF population with scalar parameters (any layer shape)."""
    return LIF(
        tau=np.full((), tau, np.float32),
        r=np.ones((), np.float32),
        v_leak=np.zeros((), np.float32),
        v_threshold=np.ones((), np.float32),
        reset="subtract",
        max_spikes=max_spikes,
    )


def tiny_cnn(seed: int) -> ir.Graph:
    """(1, 4, 4) events (16 channels) -> conv 4x2x2 -> LIF (4, 3, 3) -> conv 4x2x2 ->
    LIF (4, 2, 2) -> sum pool 2 -> flatten -> linear -> 3 output LIF."""
    rng = np.random.default_rng(seed)

    def normal(mean: float, std: float, *shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * std + mean).astype(np.float32)

    g = ir.Graph("cnn", dt=1e-3)
    g.add("x", Input(shape=(1, 4, 4)))
    g.add("conv1", Conv2d(weight=normal(3, 4, 4, 1, 2, 2)), ["x"])
    g.add("h1", lif(31), ["conv1"])
    g.add("conv2", Conv2d(weight=normal(1, 1, 4, 4, 2, 2)), ["h1"])
    g.add("h2", lif(31), ["conv2"])
    g.add("pool", SumPool2d(kernel_size=(2, 2)), ["h2"])
    g.add("flat", Flatten(), ["pool"])
    g.add("fc", Linear(weight=normal(4, 1, 3, 4)), ["flat"])
    g.add("o", lif(1, 0.01), ["fc"])
    g.add("y", Output(), ["o"])
    return g


@pytest.mark.parametrize("seed", range(2))
def test_tiny_cnn_compiles_and_the_emulator_equals_the_interpreter(seed: int) -> None:
    graph = tiny_cnn(seed)
    target = TARGETS["xylo-audio2"]
    lowered = compiler.run_pipeline(graph, target.default_pipeline)
    (core,) = [n for n in lowered if isinstance(lowered.op(n), XyloCore)]
    assert lowered.meta(core)["layers"] == (
        ("x", "input", 16),
        ("h1", "hidden", 36),
        ("h2", "hidden", 16),
        ("o", "output", 3),
    )
    config = config_from_graph(lowered)
    assert config.validate() == []
    events = raster(seed, 16, steps=200)
    interpreted = ir.interpret(lowered, events.astype(np.float32)).numpy()
    emulated = target.emulator(config).run(on_chip(events))
    assert interpreted.sum() > 10
    np.testing.assert_array_equal(interpreted, emulated[:, :, :3])

    # The float graph expand-conv made is the CNN, exactly (integer event counts).
    expanded = compiler.run_pipeline(graph, "expand-conv{target=xylo-audio2}")
    x = torch.from_numpy(events.astype(np.float32))
    flat_out = ir.interpret(expanded, x)
    assert torch.equal(flat_out, ir.interpret(graph, x.reshape(*x.shape[:2], 1, 4, 4)))
    # Each conv neuron's input weights on the chip are the conv's window: 4 taps
    # from the 16 input channels (hardware order differs; counts do not).
    nonzero_in = np.count_nonzero(config.weights_in[:, :, 0], axis=0)
    assert sorted(nonzero_in[nonzero_in > 0].tolist()) == [4] * 36


def test_a_cnn_that_does_not_fit_xylo_names_the_op() -> None:
    graph = tiny_cnn(0)
    graph.replace("x", Input(shape=(1, 5, 5)))  # 25 channels; the rest still fits
    with pytest.raises(
        compiler.PassError,
        match=r"nn.conv2d 'conv1': input channels of 'x' \(\(1, 5, 5\) flattened\) "
        r"is 25, over xylo-audio2's limit of 16 \(max_input_channels\)",
    ):
        compiler.compile(graph, target="xylo-audio2")
