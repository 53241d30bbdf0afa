"""Dynap-SE2 lowering: allocate-cores, quantize-dynapse, the config, the target."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import compiler
import ir
from backends import get_target
from backends.dynapse import decode
from backends.dynapse.calibrate import DEFAULT_CANDIDATES
from backends.dynapse.config import DynapseConfig
from backends.dynapse.target import DYNAPSE2
from compiler.errors import PassError
from ir.ops.io import Input, Output
from ir.ops.nn import Linear
from ir.ops.snn import LIF

# The dynapse2 pipeline adapts subtract resets and LIF synapses (adapt-dynapse) and
# warns; these tests are about other things (tests/backends/dynapse/test_adapt.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore::backends.dynapse.adapt.DynapseAdapterWarning"
)


def lif(n: int, tau: float, threshold: float = 1.0) -> LIF:
    return LIF(
        tau=np.full(n, tau, np.float32),
        r=np.ones(n, np.float32),
        v_leak=np.zeros(n, np.float32),
        v_threshold=np.full(n, threshold, np.float32),
        reset="subtract",
    )


def chain(seed: int, n_in: int = 12, hidden: int = 20, out: int = 4) -> ir.Graph:
    """n_in inputs -> hidden LIF (two time constants: two parameter groups, recurrent)
    -> out LIF."""
    rng = np.random.default_rng(seed)
    g = ir.Graph("chain", dt=1e-3)
    g.add("x", Input(shape=(n_in,)))
    w1 = rng.normal(0.5, 1.0, (hidden, n_in)).astype(np.float32)
    g.add("fc1", Linear(weight=w1), ["x"])
    tau = np.where(np.arange(hidden) % 2 == 0, 0.02, 0.05).astype(np.float32)
    g.add("h", lif(hidden, 0.02).replace(tau=tau), ["fc1"])
    rec = rng.normal(0, 0.3, (hidden, hidden)).astype(np.float32)
    rec[rng.random((hidden, hidden)) < 0.7] = 0
    g.add("rec", Linear(weight=rec))
    g.connect("h", "rec", recurrent=True)
    g.connect("rec", "h")
    g.add(
        "fc2",
        Linear(weight=rng.normal(0.3, 1.0, (out, hidden)).astype(np.float32)),
        ["h"],
    )
    g.add("o", lif(out, 0.01), ["fc2"])
    g.add("y", Output(), ["o"])
    return compiler.run_pipeline(g, "infer-shapes")


def test_pipeline_meta_round_trips_and_the_config_realises_the_weights() -> None:
    graph = compiler.run_pipeline(chain(0), DYNAPSE2.default_pipeline)
    meta = graph.meta("h")
    assert meta["placement"].shape == (20, 3)
    assert sorted(set(meta["param_group"].tolist())) == [0, 1]  # two taus, two groups
    # Neurons of different groups never share a core.
    for group in (0, 1):
        cores = {
            tuple(p[:2])
            for p, g in zip(meta["placement"], meta["param_group"], strict=True)
            if g == group
        }
        others = {
            tuple(p[:2])
            for p, g in zip(meta["placement"], meta["param_group"], strict=True)
            if g != group
        }
        assert not cores & others
    assert 0 <= meta["quant_rel_rms"] < 0.2
    text = ir.to_text(graph)
    assert ir.to_text(ir.parse(text)) == text

    config = DYNAPSE2.lower(graph)
    assert isinstance(config, DynapseConfig)
    assert config.validate() == []
    assert config.outputs == ("o",)
    net = decode.decode(config)
    # The refractory period is 0.6 dt on the grid: one step even at +/-40% mismatch.
    t_ref = np.asarray(net.params.t_ref) / config.dt
    assert np.all(np.abs(t_ref - 0.6) < 0.05), t_ref
    # Independent check of graph -> config -> decode: every realised weight w of the
    # quantized graph is a current |w| i_scale on AMPA (w > 0) or GABA (w < 0).
    order = decode.output_order(config, "h")
    w1 = np.asarray(graph.op("fc1").weight, np.float64)  # type: ignore[attr-defined]
    i_scale = float(graph.meta("h")["i_scale"])  # chosen by i-scale=auto
    assert i_scale in DEFAULT_CANDIDATES
    want = np.abs(w1.T) * i_scale
    got_ampa = net.weights_in[:, order, 0]
    got_gaba = net.weights_in[:, order, 2]
    np.testing.assert_allclose(
        np.where(w1.T > 0, got_ampa, got_gaba), want, rtol=1e-6
    )  # weights are stored as float32
    assert not np.any(np.where(w1.T > 0, got_gaba, got_ampa))
    rec = np.asarray(graph.op("rec").weight, np.float64)  # type: ignore[attr-defined]
    got = net.weights_rec[np.ix_(order, order)]
    np.testing.assert_allclose(
        got[..., 0] + got[..., 2], np.abs(rec.T) * i_scale, rtol=1e-6
    )


def test_target_compiles_runs_and_draws_chips(tmp_path: Path) -> None:
    assert get_target("dynapse2") is DYNAPSE2
    # The test chain's float graph never fires on random spikes: fidelity warns.
    with pytest.warns(compiler.FidelityWarning, match="fires no output spike"):
        result = compiler.compile(chain(1), target="dynapse2")
    assert result.report.resources["cores used"] == "3 / 4"  # h: 2 groups, o: 1
    assert "quantization h" in result.report.resources
    rng = np.random.default_rng(0)
    spikes = (rng.random((3, 100, 12)) < 0.2).astype(np.float32)
    ideal = DYNAPSE2.emulator(result.config, seed=None).run(spikes)
    assert ideal.shape == (3, 100, 4)
    # The float chain's output layer is silent on this input; so is the ideal chip.
    assert ir.interpret(result.graph, spikes).numpy().sum() == 0
    assert ideal.sum() == 0
    one = DYNAPSE2.emulator(result.config, seed=5).run(spikes)
    np.testing.assert_array_equal(
        one, DYNAPSE2.emulator(result.config, seed=5).run(spikes)
    )
    both = DYNAPSE2.population(result.config, [5, 6]).run(spikes)
    np.testing.assert_array_equal(both[0], one)
    assert both.shape == (2, 3, 100, 4)
    # Chips differ: every neuron's raster (the hidden layer fires on this input).
    x = torch.from_numpy(spikes)
    five = decode.emulator(result.config, seed=5).run(x).spikes[0]
    pair = decode.population(result.config, [5, 6]).run(x).spikes
    assert five.sum() > 0
    np.testing.assert_array_equal(pair[0].numpy(), five.numpy())
    assert not np.array_equal(pair[1].numpy(), five.numpy())

    result.config.save(tmp_path / "build")
    back = DYNAPSE2.load_config(tmp_path / "build")
    assert back.to_json() == result.config.to_json()
    np.save(tmp_path / "in.npy", spikes)
    cli = [sys.executable, "-m", "compiler.cli"]
    # By default the ideal chip, aligned with the float graph (one hop: h -> o);
    # --chip 5 (and the older --seed 5) the mismatched chip 5.
    padded = np.pad(spikes, ((0, 0), (0, 1), (0, 0)))
    runs = {
        (): DYNAPSE2.emulator(back, seed=None).run(padded)[:, 1:],
        ("--chip", "5"): DYNAPSE2.emulator(back, seed=5).run(padded)[:, 1:],
        ("--seed", "5", "--no-align"): one,
    }
    for flags, expected in runs.items():
        done = subprocess.run(
            [*cli, "run", str(tmp_path / "build"), "--input", str(tmp_path / "in.npy"),
             "-o", str(tmp_path / "out.npy"), *flags],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)


def test_limits_and_settings_fail_with_names() -> None:
    g = chain(2)
    g.replace("h", g.op("h").replace(max_spikes=31))
    strict = DYNAPSE2.default_pipeline.replace(
        "adapt-dynapse", "adapt-dynapse{strict=true}"
    )
    with pytest.raises(PassError, match=r"node 'h' reset: subtract -> zero"):
        compiler.compile(g, target="dynapse2", pipeline=strict)
    floor = chain(2)
    floor.replace("h", floor.op("h").replace(reset="zero", v_min=np.float32(-1.0)))
    with pytest.raises(PassError, match=r"node 'h' v_min: -1 -> none: the chip has"):
        compiler.compile(floor, target="dynapse2", pipeline=strict)
    wide = chain(3, n_in=65)
    with pytest.raises(
        PassError,
        match=r"layer .h. neuron \d+ has \d+ incoming synapses; a neuron has 64 fan-in",
    ):
        compiler.compile(wide, target="dynapse2")
    big = ir.Graph("big", dt=1e-3)
    big.add("x", Input(shape=(4,)))
    big.add("fc1", Linear(weight=np.ones((1100, 4), np.float32)), ["x"])
    big.add("h", lif(1100, 0.02), ["fc1"])
    w2 = np.zeros((2, 1100), np.float32)
    w2[:, :10] = 1.0  # small fan-in: only the neuron count is over
    big.add("fc2", Linear(weight=w2), ["h"])
    big.add("o", lif(2, 0.01), ["fc2"])
    big.add("y", Output(), ["o"])
    needs = r"needs 6 cores of 256 neurons \(largest: layer\(s\) 'h'.*the system has 4"
    with pytest.raises(PassError, match=needs):
        compiler.compile(big, target="dynapse2")
    with pytest.raises(Exception, match="run allocate-cores first"):
        compiler.run_pipeline(chain(0), "quantize-dynapse")


def test_emulated_chip_follows_input_drive() -> None:
    """Sanity of the whole path: more input spikes, more output spikes."""
    with pytest.warns(compiler.FidelityWarning):  # the chain's float graph is silent
        result = compiler.compile(chain(5), target="dynapse2")
    chip = DYNAPSE2.emulator(result.config, seed=None)
    rng = np.random.default_rng(1)
    low = (rng.random((4, 150, 12)) < 0.1).astype(np.float32)
    high = (rng.random((4, 150, 12)) < 0.3).astype(np.float32)
    hidden = decode.emulator(result.config, seed=None)
    idx = decode.output_order(result.config, "h")
    h_low = hidden.run(torch.from_numpy(low)).spikes[0][..., idx].sum()
    h_high = hidden.run(torch.from_numpy(high)).spikes[0][..., idx].sum()
    assert h_high > 2 * h_low
    assert chip.run(high).shape == (4, 150, 4)
