"""lower_to_config: structure, errors, and the emulator against the float graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backends.xylo.ops  # noqa: F401  (registers the xylo dialect)
import ir
from backends.xylo import ResourceError, XyloEmulator
from backends.xylo.lower import hop_delay, lower_to_config
from backends.xylo.ops import XyloCore
from ir.ops.io import Input, Output
from ir.ops.nn import Linear
from tests.backends.xylo.snn_graphs import (
    cuba_graph,
    lif,
    lif_graph,
    on_chip,
    raster,
)


def test_lif_graph_structure() -> None:
    config = lower_to_config(lif_graph(0), "xylo-audio2")
    assert config.validate() == []
    assert config.neuron_map["x:3"] == ["input", 3]
    assert [config.neuron_map[f"lif1:{i}"] for i in range(8)] == [
        ["hidden", i] for i in range(8)
    ]
    assert config.neuron_map["lif2:2"] == ["output", 2]
    # snn.lif has no synapse: dash 1, the shortest that passes current.
    assert config.dash_syn[:8].tolist() == [1] * 8
    assert config.dash_mem[:8].tolist() == [4] * 8  # tau 20 ms at dt 1 ms
    assert np.count_nonzero(config.weights_in[:, :8]) == 32
    assert np.count_nonzero(config.weights_in[4:]) == 0
    assert np.count_nonzero(config.weights_out[8:]) == 0
    assert np.count_nonzero(config.weights_out[:, 3:]) == 0
    assert hop_delay(lif_graph(0)) == 1


def test_cuba_graph_layers_and_recurrence() -> None:
    g = cuba_graph(0)
    config = lower_to_config(g, "xylo-audio2")
    assert config.validate() == []
    assert hop_delay(g) == 2
    ids1 = [config.neuron_map[f"h1:{i}"][1] for i in range(10)]
    ids2 = [config.neuron_map[f"h2:{i}"][1] for i in range(6)]
    rec = config.weights_rec[..., 0]
    assert np.count_nonzero(rec[np.ix_(ids1, ids1)]) > 50  # recurrent h1 -> h1
    assert np.count_nonzero(rec[np.ix_(ids1, ids2)]) == 60  # forward h1 -> h2
    assert np.count_nonzero(rec[np.ix_(ids2, ids1 + ids2)]) == 0
    assert np.count_nonzero(config.weights_out[ids2]) == 12
    assert np.all(config.bias[ids1] > 0)  # v_leak and the affine bias


@pytest.mark.parametrize("seed", range(3))
def test_cuba_emulator_tracks_float_graph(seed: int) -> None:
    """Two hidden layers, recurrent CubaLIF: spike counts within a stated bound.

    The chip lags the float graph by ``hop_delay`` steps; dash fitting (tau_syn 5 ms
    becomes dash 3, ~7.5 ms) and int8 weights make the chip fire somewhat less.
    Observed relative count error 0.06-0.34; asserted < 0.45, and per-step agreement
    of the output spikes > 0.75.
    """
    g = cuba_graph(seed)
    config = lower_to_config(g, "xylo-audio2")
    events = raster(seed, 5)
    delay = hop_delay(g)
    chip = XyloEmulator(config).run(on_chip(events))[:, delay:, :2]
    ref = ir.interpret(g, events.astype(np.float32)).numpy()[:, :-delay]
    counts_chip, counts_ref = chip.sum(1), ref.sum(1)
    assert np.abs(counts_chip - counts_ref).sum() / counts_ref.sum() < 0.45
    assert (chip == ref).mean() > 0.75


def test_xylo_core_on_lowered_config_matches_emulator() -> None:
    config = lower_to_config(cuba_graph(1), "xylo-audio2")
    g = ir.Graph("core")
    g.add("x", Input(shape=(16,)))
    g.add("core", XyloCore.from_config(config), ["x"])
    g.add("y", Output(), ["core"])
    events = on_chip(raster(1, 5, steps=60, batch=2))
    out = ir.interpret(g, torch.as_tensor(events, dtype=torch.float32))
    expected = XyloEmulator(config).run(events)
    assert expected.sum() > 0
    assert np.array_equal(out.numpy().astype(np.int64), expected)


def _two_layer(hidden_cap: int = 31, reset: str = "subtract") -> ir.Graph:
    g = ir.Graph("g", dt=1e-3)
    g.add("x", Input(shape=(2,)))
    g.add("fc1", Linear(weight=np.ones((3, 2), np.float32)), ["x"])
    g.add("h", lif(3, 0.02, hidden_cap).replace(reset=reset), ["fc1"])
    g.add("fc2", Linear(weight=np.ones((2, 3), np.float32)), ["h"])
    g.add("o", lif(2, 0.02, 1), ["fc2"])
    g.add("y", Output(), ["o"])
    return g


def test_errors_name_the_node() -> None:
    with pytest.raises(ValueError, match=r"node 'h'.*max_spikes"):
        lower_to_config(_two_layer(hidden_cap=1), "xylo-audio2")
    with pytest.raises(ValueError, match=r"node 'h'.*subtraction"):
        lower_to_config(_two_layer(hidden_cap=1, reset="zero"), "xylo-audio2")
    floored = _two_layer()
    floored.replace("o", floored.op("o").replace(v_min=np.float32(-1.0)))
    with pytest.raises(ValueError, match=r"node 'o'.*no membrane floor"):
        lower_to_config(floored, "xylo-audio2")
    held = _two_layer()
    held.replace("o", held.op("o").replace(refire_offset=np.ones(2, np.float32)))
    with pytest.raises(ValueError, match=r"node 'o'.*refire_offset must be none"):
        lower_to_config(held, "xylo-audio2")
    g = ir.Graph("g", dt=1e-3)
    g.add("x", Input(shape=(2,)))
    g.add("fc1", Linear(weight=np.ones((2, 2), np.float32)), ["x"])
    g.add("o", lif(2, 0.02, 1), ["fc1"])
    g.add("y", Output(), ["o"])
    with pytest.raises(ValueError, match=r"node 'o'.*hidden layer"):
        lower_to_config(g, "xylo-audio2")
    g = ir.Graph("g", dt=1e-3)
    g.add("x", Input(shape=(17,)))
    g.add("fc1", Linear(weight=np.ones((3, 17), np.float32)), ["x"])
    g.add("h", lif(3, 0.02, 31), ["fc1"])
    g.add("fc2", Linear(weight=np.ones((2, 3), np.float32)), ["h"])
    g.add("o", lif(2, 0.02, 1), ["fc2"])
    g.add("y", Output(), ["o"])
    with pytest.raises(ResourceError, match="17 input channels"):
        lower_to_config(g, "xylo-audio2")
    short = _two_layer()
    short.replace("h", lif(3, 0.0005, 31))
    with pytest.raises(ResourceError, match="layer 'h'"):
        lower_to_config(short, "xylo-audio2")
