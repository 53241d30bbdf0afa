"""The ``replicate`` pass: k copies of every neuron, read out as their mean."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import compiler
import ir
from backends.dynapse.config import DynapseConfig
from backends.dynapse.target import DYNAPSE2
from compiler.errors import PipelineError
from compiler.passes.replicate import (
    HIDDEN_META,
    READOUT_META,
    replicate_graph,
    single_copy,
)
from ir.ops.io import Input, Output
from ir.ops.nn import Linear
from ir.ops.snn import IF

pytestmark = pytest.mark.filterwarnings(
    "ignore::backends.dynapse.adapt.DynapseAdapterWarning"
)


def chain(seed: int = 0, n_in: int = 12, hidden: int = 10, out: int = 3) -> ir.Graph:
    """A random IF chain with a recurrent hidden layer, per-neuron thresholds."""
    rng = np.random.default_rng(seed)
    g = ir.Graph("chain", dt=1e-3)
    g.add("x", Input(shape=(n_in,)))
    w1 = np.abs(rng.normal(0.3, 0.2, (hidden, n_in))).astype(np.float32)
    g.add("fc1", Linear(weight=w1), ["x"])
    g.add("h", _if(hidden, rng), ["fc1"])
    w2 = rng.normal(0.2, 0.4, (out, hidden)).astype(np.float32)
    g.add("fc2", Linear(weight=w2), ["h"])
    g.add("o", _if(out, rng), ["fc2"])
    g.add("y", Output(), ["o"])
    return compiler.run_pipeline(g, "infer-shapes")


def _if(n: int, rng: np.random.Generator) -> IF:
    return IF(
        r=np.full(n, 800.0, np.float32),
        v_threshold=np.full(n, rng.uniform(0.8, 1.2), np.float32),
        reset="subtract",
    )


def feedforward(seed: int = 0) -> ir.Graph:
    return chain(seed)


def _shaped(g: ir.Graph) -> ir.Graph:
    return compiler.run_pipeline(g, "infer-shapes")


def spikes(n: int = 6, steps: int = 50, n_in: int = 12, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((n, steps, n_in), 0.25), generator=gen)


@pytest.mark.parametrize("copies", [2, 4, 8])
def test_the_float_function_is_exactly_the_original(copies: int) -> None:
    g = feedforward()
    r = compiler.run_pipeline(g, f"replicate{{copies={copies}}}")
    x = spikes()
    assert torch.equal(ir.interpret(r, x), ir.interpret(g, x))
    assert ir.to_text(r) == ir.to_text(ir.parse(ir.to_text(r)))  # round trip
    (readout,) = [n for n in r.nodes() if READOUT_META in r.meta(n)]
    assert r.meta(readout)[READOUT_META] == copies
    assert r.shape("h") == (10 * copies,)
    # Copy j of neuron i is neuron j n + i; copies read only their own copy.
    w2 = r.op("fc2").weight
    assert np.count_nonzero(w2[:3, 10:]) == 0
    assert np.count_nonzero(w2[3:6, :10]) == 0


@pytest.mark.parametrize(("copies", "outputs"), [(1, 4), (2, 4), (2, 6), (4, 4)])
def test_output_copies_read_hidden_copy_j_mod_copies(copies: int, outputs: int) -> None:
    g = feedforward()
    r = compiler.run_pipeline(
        g, f"replicate{{copies={copies} output-copies={outputs}}}"
    )
    x = spikes()
    assert torch.equal(ir.interpret(r, x), ir.interpret(g, x))
    assert ir.to_text(r) == ir.to_text(ir.parse(ir.to_text(r)))  # round trip
    assert r.shape("h") == (10 * copies,)
    assert r.shape("o") == (3 * outputs,)
    (readout,) = [n for n in r.nodes() if READOUT_META in r.meta(n)]
    assert r.meta(readout)[READOUT_META] == outputs
    assert r.meta(readout).get(HIDDEN_META, copies) == copies
    assert (HIDDEN_META in r.meta(readout)) == (outputs != copies)
    w2, w = r.op("fc2").weight, g.op("fc2").weight
    for j in range(outputs):  # output copy j reads hidden copy j mod copies only
        rows = w2[3 * j : 3 * j + 3]
        h = j % copies
        assert np.array_equal(rows[:, 10 * h : 10 * h + 10], w)
        assert np.count_nonzero(rows) == np.count_nonzero(w)
    assert _shaped(single_copy(r)).is_equivalent(g)


@pytest.mark.parametrize("outputs", [1, 3, 5])
def test_output_copies_must_be_a_multiple_of_copies(outputs: int) -> None:
    with pytest.raises(PipelineError, match=r"output-copies must be 0 .* got"):
        compiler.run_pipeline(
            feedforward(), f"replicate{{copies=2 output-copies={outputs}}}"
        )


def test_recurrent_layers_stay_within_their_copy() -> None:
    g = ir.Graph("rnn", dt=1e-3)
    rng = np.random.default_rng(3)
    g.add("x", Input(shape=(4,)))
    g.add("fc", Linear(weight=rng.uniform(0.2, 0.6, (5, 4)).astype(np.float32)), ["x"])
    g.add("n", _if(5, rng), ["fc"])
    g.add("rec", Linear(weight=rng.normal(0, 0.3, (5, 5)).astype(np.float32)))
    g.connect("n", "rec", recurrent=True)
    g.connect("rec", "n")
    g.add("y", Output(), ["n"])
    g = compiler.run_pipeline(g, "infer-shapes")
    r = replicate_graph(g, 2)
    x = spikes(n_in=4)
    assert torch.equal(ir.interpret(r, x), ir.interpret(g, x))
    w = r.op("rec").weight
    assert np.count_nonzero(w[:5, 5:]) == 0
    assert np.array_equal(w[5:, 5:], w[:5, :5])
    assert _shaped(single_copy(r)).is_equivalent(g)
    r = replicate_graph(g, 1, 3)  # the only layer is the last: 3 copies
    assert torch.equal(ir.interpret(r, x), ir.interpret(g, x))
    assert np.array_equal(r.op("rec").weight, np.kron(np.eye(3), g.op("rec").weight))


def test_single_copy_undoes_replicate() -> None:
    g = feedforward()
    r = replicate_graph(g, 4)
    assert _shaped(single_copy(r)).is_equivalent(g)
    assert _shaped(single_copy(g)).is_equivalent(g)


def test_bad_uses_are_errors_naming_the_node() -> None:
    g = feedforward()
    with pytest.raises(PipelineError, match="copies must be >= 1"):
        compiler.run_pipeline(g, "replicate{copies=0}")
    r = replicate_graph(g, 2)
    with pytest.raises(ValueError, match="already replicated"):
        replicate_graph(r, 2)
    placed = compiler.run_pipeline(g, "allocate-cores{target=dynapse2}")
    with pytest.raises(ValueError, match="node 'h' is already placed"):
        replicate_graph(placed, 2)
    assert replicate_graph(g, 1).is_equivalent(g)


def test_xylo_refuses_a_population_readout() -> None:
    r = replicate_graph(feedforward(), 2)
    with pytest.raises(Exception, match="population readout"):
        compiler.compile(r, target="xylo-audio2")


def _lowered(graph: ir.Graph) -> DynapseConfig:
    placed = compiler.run_pipeline(
        graph, "allocate-cores{target=dynapse2},quantize-dynapse{i-scale=1e-08}"
    )
    return DYNAPSE2.lower(placed)


@pytest.mark.parametrize(("copies", "outputs"), [(4, 0), (2, 8)])
def test_ideal_chip_runs_the_replicated_network_like_the_original(
    copies: int, outputs: int
) -> None:
    g = feedforward()
    x = spikes(n=8, steps=80)
    one = DYNAPSE2.emulator(_lowered(g), seed=None).run(x)
    config = _lowered(replicate_graph(g, copies, outputs))
    assert config.output_copies == (outputs or copies)
    many = DYNAPSE2.emulator(config, seed=None).run(x)
    assert many.shape == one.shape
    # Every copy on the ideal chip is the same neuron, up to its core's fit of the
    # weights (4 base weights per core) and float rounding: within a spike.
    diff = np.abs(many.sum(1) - one.sum(1))
    assert diff.max() <= 1, diff
    assert np.mean(diff == 0) >= 0.8, diff


def test_replication_cuts_the_spread_of_a_rate_across_chips() -> None:
    g = feedforward()
    x = spikes(n=4, steps=100)
    target = dataclasses.replace(DYNAPSE2, relative_std=0.2)
    spread = {}
    for copies in (1, 4):
        config = _lowered(replicate_graph(g, copies))
        counts = target.population(config, list(range(1, 25))).run(x).sum(2)
        rates = counts.mean(axis=1)  # (chips, channels)
        spread[copies] = float(rates.std(axis=0).mean())
    # Four independent copies: half the spread in theory; allow for the finite chips.
    assert spread[4] < 0.7 * spread[1], spread


def test_config_round_trips_its_copies(tmp_path: object) -> None:
    config = _lowered(replicate_graph(feedforward(), 2))
    config.save(tmp_path)  # type: ignore[arg-type]
    loaded = DynapseConfig.load(tmp_path)  # type: ignore[arg-type]
    assert loaded.output_copies == 2
    assert '"output_copies"' in config.to_json()
    assert '"output_copies"' not in _lowered(feedforward()).to_json()
    bad = dataclasses.replace(config, output_copies=4)
    assert any("output_copies" in e for e in bad.validate())


def test_compile_with_replicate_in_the_default_pipeline() -> None:
    g = feedforward()
    pipeline = DYNAPSE2.default_pipeline.replace(
        "allocate-cores", "replicate{copies=2},allocate-cores"
    )
    x = spikes(n=4, steps=60)
    result = compiler.compile(
        g, target="dynapse2", pipeline=pipeline, calibration=x.numpy()
    )
    assert result.config.output_copies == 2
    out = result.emulator(seed=None).run(x.numpy())
    assert out.shape == (4, 60, 3)
    assert "i_scale_choice" in result.graph.meta("x")
    assert result.report.resources["redundancy"].startswith("2 copies of every neuron")
    more = compiler.compile(
        g,
        target="dynapse2",
        pipeline=pipeline.replace("copies=2", "copies=2 output-copies=6"),
        calibration=x.numpy(),
    )
    assert more.config.output_copies == 6
    assert len(more.config.neurons) == 2 * 10 + 6 * 3
    assert more.report.resources["redundancy"].startswith(
        "6 copies of each output neuron and 2 of every other"
    )
    plain = compiler.compile(g, target="dynapse2", pipeline=DYNAPSE2.default_pipeline)
    # 13 neurons of 1,024: 78 copies would fit.
    assert "hold up to 78 copies" in plain.report.resources["redundancy"]
