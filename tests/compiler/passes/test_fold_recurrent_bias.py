"""The ``fold-recurrent-bias`` pass: a recurrent bias moves into the feed-forward
weight where that is exact, and nowhere else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import ir
from compiler import run_pipeline
from frontends.nir import from_nir
from ir.ops import io, nn, snn

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "nir"


def fold(graph: ir.Graph) -> ir.Graph:
    out = run_pipeline(graph, "fold-recurrent-bias")
    ir.verify(out)
    return out


def lif(n: int) -> snn.LIF:
    return snn.LIF(
        tau=np.full(n, 0.01, np.float32),
        r=np.full(n, 5.0, np.float32),
        v_leak=np.zeros(n, np.float32),
        v_threshold=np.ones(n, np.float32),
        reset="subtract",
    )


def recurrent_graph(
    *, spike_side: bool, bias: float, ff_bias: bool = True, seed: int = 0
) -> ir.Graph:
    """x -> ff -> lif, with w_rec: lif -> w_rec -> lif (recurrent edge on either side)."""
    rng = np.random.default_rng(seed)
    g = ir.Graph("rec", dt=1e-3)
    g.add("x", io.Input(shape=(3,)))
    w = rng.normal(0, 1.5, (6, 3)).astype(np.float32)
    ff = (
        nn.Affine(weight=w, bias=rng.normal(0, 0.2, 6).astype(np.float32))
        if ff_bias
        else nn.Linear(weight=w)
    )
    g.add("ff", ff, ["x"])
    g.add("lif", lif(6), ["ff"])
    g.add(
        "w_rec",
        nn.Affine(
            weight=rng.normal(0, 0.5, (6, 6)).astype(np.float32),
            bias=np.full(6, bias, np.float32),
        ),
    )
    g.connect("lif", "w_rec", recurrent=spike_side)
    g.connect("w_rec", "lif", recurrent=not spike_side)
    g.add("y", io.Output(), ["lif"])
    return g


def events(seed: int = 1, n: int = 3) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(4, 60, n, generator=gen) < 0.3).to(torch.float64)


def test_snntorch_rsynaptic_bias_folds_and_spikes_stay() -> None:
    graph = from_nir(
        FIXTURES / "snntorch_rsynaptic.nir", reset="subtract", reset_delay=True
    )
    folded = fold(graph)
    assert isinstance(folded.op("1.w_rec"), nn.Linear)
    ff = folded.op("0")
    assert isinstance(ff, nn.Affine)
    before = graph.op("0")
    rec = graph.op("1.w_rec")
    assert isinstance(before, nn.Affine)
    assert isinstance(rec, nn.Affine)
    np.testing.assert_allclose(
        ff.bias, before.bias.astype(np.float64) + rec.bias.astype(np.float64)
    )
    (record,) = folded.meta("1.w_rec")["adapted"]
    assert record[0] == "fold-recurrent-bias"
    assert "'0'" in record[3]
    data = np.load(FIXTURES / "snntorch_rsynaptic.npz")
    x = torch.as_tensor(data["input"], dtype=torch.float64)
    out_before, rec_before = ir.interpret(graph, x, record=True)
    out_after, rec_after = ir.interpret(folded, x, record=True)
    # Every spike, hidden and output, is the same; the framework's own spikes too.
    assert torch.equal(out_before, out_after)
    assert torch.equal(rec_before["1.lif"]["output"], rec_after["1.lif"]["output"])
    np.testing.assert_array_equal(out_after.numpy(), data["output"])
    torch.testing.assert_close(
        rec_before["1.lif"]["v"], rec_after["1.lif"]["v"], rtol=0, atol=1e-12
    )


def test_spike_side_bias_folds_into_a_linear_exactly() -> None:
    graph = recurrent_graph(spike_side=True, bias=0.3, ff_bias=False)
    folded = fold(graph)
    assert isinstance(folded.op("ff"), nn.Affine)
    assert isinstance(folded.op("w_rec"), nn.Linear)
    x = events()
    out = ir.interpret(graph, x)
    assert out.sum() > 20
    assert torch.equal(out, ir.interpret(folded, x))
    assert ir.to_text(ir.parse(ir.to_text(folded))) == ir.to_text(folded)


def test_input_side_bias_starts_one_step_late_and_stays() -> None:
    # w_rec -> lif recurrent: w_rec's bias reaches lif from the second step on. A
    # constant bias in ff would add it at t = 0 too, which changes the spikes.
    graph = recurrent_graph(spike_side=False, bias=2.0)
    folded = fold(graph)
    assert isinstance(folded.op("w_rec"), nn.Affine)
    assert "adapted" not in folded.meta("w_rec")
    assert ir.to_text(folded) == ir.to_text(graph)
    naive = graph.copy()
    ff, rec = graph.op("ff"), graph.op("w_rec")
    assert isinstance(ff, nn.Affine)
    assert isinstance(rec, nn.Affine)
    naive.replace("ff", nn.Affine(weight=ff.weight, bias=ff.bias + rec.bias))
    naive.replace("w_rec", nn.Linear(weight=rec.weight))
    x = events()
    assert not torch.equal(ir.interpret(graph, x), ir.interpret(naive, x))


def test_zero_bias_is_dropped_on_either_side() -> None:
    for spike_side in (True, False):
        graph = recurrent_graph(spike_side=spike_side, bias=0.0)
        folded = fold(graph)
        assert isinstance(folded.op("w_rec"), nn.Linear)
        x = events(2)
        assert torch.equal(ir.interpret(graph, x), ir.interpret(folded, x))


def test_no_feed_forward_weight_leaves_the_bias() -> None:
    g = ir.Graph("alone", dt=1e-3)
    g.add("x", io.Input(shape=(4,)))
    g.add("lif", lif(4), ["x"])
    g.add(
        "w_rec",
        nn.Affine(weight=np.eye(4, dtype=np.float32), bias=np.ones(4, np.float32)),
    )
    g.connect("lif", "w_rec", recurrent=True)
    g.connect("w_rec", "lif")
    g.add("y", io.Output(), ["lif"])
    folded = fold(g)
    assert isinstance(folded.op("w_rec"), nn.Affine)
    assert ir.to_text(folded) == ir.to_text(g)
