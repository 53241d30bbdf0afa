"""The ``quantize-xylo`` and ``allocate-xylo`` passes: a float chain to one core."""

from __future__ import annotations

import numpy as np
import pytest

import ir
from backends.xylo.lower import config_from_graph, hop_delay
from backends.xylo.ops import XyloCore
from backends.xylo.target import TARGETS
from compiler import run_pipeline
from compiler.errors import PassError, PipelineError
from ir.ops.io import Input, Output
from ir.ops.nn import Linear
from ir.ops.snn import IF, LI
from tests.backends.xylo.snn_graphs import (
    cuba_graph,
    dense,
    lif,
    lif_graph,
    on_chip,
    raster,
)


def lowered(graph: ir.Graph, target: str = "xylo-audio2") -> ir.Graph:
    return run_pipeline(graph, TARGETS[target].default_pipeline)


def core_of(graph: ir.Graph) -> str:
    (core,) = [n for n in graph.nodes() if isinstance(graph.op(n), XyloCore)]
    return core


def test_pipeline_gives_one_core_that_round_trips_as_text() -> None:
    graph = lowered(cuba_graph(0))
    assert [graph.op(n).name for n in graph.topo_order()] == [
        "io.input",
        "xylo.core",
        "io.output",
    ]
    core = core_of(graph)
    meta = graph.meta(core)
    assert meta["layers"] == (
        ("x", "input", 5),
        ("h1", "hidden", 10),
        ("h2", "hidden", 6),
        ("o", "output", 2),
    )
    # Per layer (h1, h2, o): errors of int8 weights scaled to the full range.
    assert meta["quant_rel_rms"].shape == (3,)
    assert np.all(meta["quant_rel_rms"] < 0.02), meta["quant_rel_rms"]
    assert np.all(meta["quant_clipped"] == 0)
    assert sorted(meta["hidden_ids"]) == list(range(16))
    text = ir.to_text(graph)
    again = ir.parse(text)
    assert ir.to_text(again) == text
    assert again.meta(core)["layers"] == meta["layers"]


@pytest.mark.parametrize("make", [lif_graph, cuba_graph])
def test_interpreter_on_the_lowered_graph_equals_the_emulator(make) -> None:  # type: ignore[no-untyped-def]
    graph = lowered(make(1))
    config = config_from_graph(graph)
    assert config.validate() == []
    n_in = graph.shape(graph.inputs()[0])[0]
    n_out = graph.shape(graph.outputs()[0])[0]
    events = raster(1, n_in, steps=120)
    interpreted = ir.interpret(graph, events.astype(np.float32)).numpy()
    emulated = TARGETS["xylo-audio2"].emulator(config).run(on_chip(events))
    assert interpreted.sum() > 10
    np.testing.assert_array_equal(interpreted, emulated[:, :, :n_out])


def windowed_graph(seed: int, n2: int = 120) -> ir.Graph:
    """4 inputs -> 100 LIF -> n2 LIF -> 5 output LIF: both windows matter on audio3."""
    rng = np.random.default_rng(seed)
    g = ir.Graph("wide", dt=1e-3)
    g.add("x", Input(shape=(4,)))
    g.add("fc1", Linear(weight=dense(rng, (100, 4), 8, 4)), ["x"])
    g.add("h1", lif(100, 0.02, 31), ["fc1"])
    g.add("fc2", Linear(weight=dense(rng, (n2, 100), 1, 0.2)), ["h1"])
    g.add("h2", lif(n2, 0.02, 31), ["fc2"])
    g.add("fc3", Linear(weight=dense(rng, (5, n2), 1, 0.3)), ["h2"])
    g.add("o", lif(5, 0.01, 1), ["fc3"])
    g.add("y", Output(), ["o"])
    return g


def test_allocation_respects_the_windows_and_keeps_behaviour() -> None:
    float_graph = windowed_graph(0)
    before = run_pipeline(
        float_graph, "infer-shapes,quantize-xylo{variant=xylo-audio3}"
    )
    after = run_pipeline(before, "allocate-xylo")
    meta = after.meta(core_of(after))
    ids = meta["hidden_ids"]
    assert np.all(ids[:100] < 128)  # h1 takes input: the first 128 ids
    assert np.all(ids[100:] >= 220 - 128)  # h2 feeds the readout: the last 128
    config = config_from_graph(after)
    assert config.validate() == []
    assert config.neuron_map["h1:0"] == ["hidden", int(ids[0])]
    assert config.neuron_map["o:4"] == ["output", 4]
    events = raster(2, 4, steps=80)
    out_before = ir.interpret(before, events.astype(np.float32)).numpy()
    out_after = ir.interpret(after, events.astype(np.float32)).numpy()
    emulated = TARGETS["xylo-audio3"].emulator(config).run(on_chip(events))
    assert out_after.sum() > 10
    np.testing.assert_array_equal(out_after, emulated[:, :, :5])
    # Placement only reorders additions of non-saturating currents here.
    np.testing.assert_array_equal(out_before, out_after)
    assert hop_delay(after) == 2 == hop_delay(float_graph)
    with pytest.raises(PassError, match=r"200 hidden neurons project to the readout"):
        run_pipeline(windowed_graph(0, 200), TARGETS["xylo-audio3"].default_pipeline)


def test_if_neurons_get_the_slowest_leak() -> None:
    rng = np.random.default_rng(3)
    g = ir.Graph("if", dt=1e-3)
    g.add("x", Input(shape=(3,)))
    g.add("fc1", Linear(weight=dense(rng, (6, 3), 1, 0.5)), ["x"])
    theta = np.ones(6, np.float32)
    g.add(
        "h",
        IF(r=np.float32(1e3), v_threshold=theta, reset="subtract", max_spikes=31),
        ["fc1"],
    )
    g.add("fc2", Linear(weight=dense(rng, (2, 6), 1, 0.5)), ["h"])
    g.add("o", IF(r=np.float32(1e3), v_threshold=theta[:2], reset="subtract"), ["fc2"])
    g.add("y", Output(), ["o"])
    op = lowered(g).op("core")
    assert isinstance(op, XyloCore)
    assert np.all(op.dash_mem == 15)
    assert np.all(op.dash_mem_out == 15)
    assert np.all(op.dash_syn == 1)


def test_options_and_order_errors() -> None:
    with pytest.raises(PipelineError, match="xylo-audio2, xylo-audio3"):
        run_pipeline(lif_graph(0), "quantize-xylo{variant=xylo-nope}")
    with pytest.raises(PipelineError, match="v_headroom"):
        run_pipeline(lif_graph(0), "quantize-xylo{v-headroom=0.5}")
    with pytest.raises(Exception, match="run quantize-xylo first"):
        run_pipeline(lif_graph(0), "allocate-xylo")
    with pytest.raises(Exception, match="no bias registers"):
        # xylo-v1 has no bias; cuba_graph's v_leak and affine bias need one.
        run_pipeline(cuba_graph(0), "infer-shapes,quantize-xylo{variant=xylo-v1}")


def li(n: int, tau: float) -> LI:
    return LI(
        tau=np.full(n, tau, np.float32),
        r=np.ones(n, np.float32),
        v_leak=np.zeros(n, np.float32),
    )


def two_synapse_graph(seed: int) -> ir.Graph:
    """4 inputs -> (fast, slow synapse filters) -> 12 LIF (recurrent into the fast
    one, NIR-style recurrent edge on the spike side) -> 3 output LIF."""
    rng = np.random.default_rng(seed)
    g = ir.Graph("two", dt=1e-3)
    g.add("x", Input(shape=(4,)))
    g.add("fa", Linear(weight=dense(rng, (12, 4), 6, 3)), ["x"])
    g.add("fb", Linear(weight=dense(rng, (12, 4), 6, 3)), ["x"])
    g.add("syn_fast", li(12, 0.004), ["fa"])
    g.add("syn_slow", li(12, 0.03), ["fb"])
    g.add("h", lif(12, 0.02, 31), ["syn_fast", "syn_slow"])
    g.add("rec", Linear(weight=dense(rng, (12, 12), 0.5, 0)))
    g.connect("h", "rec", recurrent=True)
    g.connect("rec", "syn_fast")
    g.add("fo", Linear(weight=dense(rng, (3, 12), 4, 2)), ["h"])
    g.add("o", lif(3, 0.01, 1), ["fo"])
    g.add("y", Output(), ["o"])
    return g


def test_two_synaptic_time_constants_use_both_synapses() -> None:
    float_graph = two_synapse_graph(4)
    graph = lowered(float_graph)
    op = graph.op(core_of(graph))
    assert isinstance(op, XyloCore)
    assert op.weights_in.shape == (4, 12, 2)
    # tau 4 ms and 30 ms at dt 1 ms: nearest decay factors 1 - 2^-2 and 1 - 2^-5.
    assert np.all(op.dash_syn == 2)
    assert np.all(op.dash_syn_2 == 5)
    assert np.any(op.weights_rec[:, :, 0] != 0)
    assert not np.any(op.weights_rec[:, :, 1])  # the recurrence feeds the fast one
    config = config_from_graph(graph)
    events = raster(4, 4, steps=300)
    emulated = TARGETS["xylo-audio2"].emulator(config).run(on_chip(events))[:, :, :3]
    np.testing.assert_array_equal(
        ir.interpret(graph, events.astype(np.float32)).numpy(), emulated
    )
    # The chip tracks the float graph's spike counts (one step of hop delay).
    reference = ir.interpret(float_graph, events.astype(np.float32)).numpy()
    counts_ref, counts_chip = reference[:, :-1].sum(1), emulated[:, 1:].sum(1)
    assert counts_ref.sum() > 100
    assert np.abs(counts_chip - counts_ref).sum() / counts_ref.sum() < 0.1
    with pytest.raises(
        PassError, match=r"layer 'h' has 2 synaptic time constants on xylo-imu"
    ):
        lowered(float_graph, "xylo-imu")
