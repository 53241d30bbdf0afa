"""Rockpool-shaped Xylo registers in (``from_registers``, ``from_rockpool``) and out
(``to_rockpool``)."""

from __future__ import annotations

import numpy as np
import pytest

from backends.xylo import ConfigError, XyloConfig
from backends.xylo.config import ARRAY_NAMES
from backends.xylo.emulator import XyloEmulator

NIN, NHID, NOUT = 3, 5, 2


def rockpool_spec() -> dict[str, object]:
    """What Rockpool's mapper + quantizer hand ``XyloSim.from_specification`` for a
    3-input, 5-hidden, 2-output network (reference xylo.md §3): only the used
    channels and outputs, aliases as a list per hidden neuron."""
    rng = np.random.default_rng(0)
    return {
        "mapped_graph": object(),  # not a register; from_rockpool drops it
        "weights_in": rng.integers(-60, 100, (NIN, NHID, 1)),
        "weights_rec": rng.integers(-30, 30, (NHID, NHID, 1)),
        "weights_out": rng.integers(-20, 100, (NHID, NOUT)),
        "dash_mem": np.full(NHID, 2),
        "dash_mem_out": np.full(NOUT, 3),
        "dash_syn": np.full(NHID, 1),
        "dash_syn_2": np.full(NHID, 1),
        "dash_syn_out": np.full(NOUT, 1),
        "threshold": np.full(NHID, 120),
        "threshold_out": np.full(NOUT, 150),
        "bias_hidden": np.array([0, 3, 0, -2, 0]),
        "bias_out": np.zeros(NOUT, int),
        "weight_shift_in": 0,
        "weight_shift_rec": 0,
        "weight_shift_out": 0,
        "aliases": [[], [3], [], [], []],
        "dt": 1e-3,
    }


def padded_by_hand(spec: dict[str, object]) -> XyloConfig:
    """The same registers padded to the chip's 16 inputs and 8 outputs here."""
    w_in = np.zeros((16, NHID, 1), int)
    w_in[:NIN] = spec["weights_in"]
    w_out = np.zeros((NHID, 8), int)
    w_out[:, :NOUT] = spec["weights_out"]

    def out(name: str, fill: int) -> np.ndarray:
        full = np.full(8, fill)
        full[:NOUT] = spec[name]
        return full

    return XyloConfig.from_registers(
        "xylo-audio2",
        weights_in=w_in,
        weights_rec=spec["weights_rec"],
        weights_out=w_out,
        dash_mem=spec["dash_mem"],
        dash_syn=spec["dash_syn"],
        dash_syn_2=spec["dash_syn_2"],
        threshold=spec["threshold"],
        bias=spec["bias_hidden"],
        dash_mem_out=out("dash_mem_out", 1),
        dash_syn_out=out("dash_syn_out", 1),
        threshold_out=out("threshold_out", 32767),
        bias_out=out("bias_out", 0),
        aliases=np.array([-1, 3, -1, -1, -1]),
        dt=1e-3,
    )


def test_rockpool_spec_is_accepted_and_padded() -> None:
    cfg = XyloConfig.from_rockpool("xylo-audio2", rockpool_spec())
    assert cfg.validate() == []
    assert cfg.weights_in.shape == (16, NHID, 2)
    assert not cfg.weights_in[NIN:].any()
    assert cfg.weights_out.shape == (NHID, 8)
    assert not cfg.weights_out[:, NOUT:].any()
    np.testing.assert_array_equal(cfg.aliases, [-1, 3, -1, -1, -1])
    np.testing.assert_array_equal(cfg.bias, [0, 3, 0, -2, 0])
    np.testing.assert_array_equal(cfg.threshold_out[NOUT:], 32767)


def test_padded_config_runs_as_the_hand_padded_one() -> None:
    spec = rockpool_spec()
    ours = XyloEmulator(XyloConfig.from_rockpool("xylo-audio2", spec))
    hand = XyloEmulator(padded_by_hand(spec))
    rng = np.random.default_rng(1)
    x = np.zeros((4, 100, 16), np.int64)
    x[..., :NIN] = rng.integers(0, 3, (4, 100, NIN))
    got = ours.run(x)
    np.testing.assert_array_equal(got, hand.run(x))
    assert got[..., :NOUT].sum() > 0  # the network fires
    assert not got[..., NOUT:].any()  # padded outputs never fire


def same(a: XyloConfig, b: XyloConfig) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ARRAY_NAMES) and (
        a.dt,
        a.weight_shift_in,
    ) == (b.dt, b.weight_shift_in)


def test_to_rockpool_round_trips() -> None:
    cfg = XyloConfig.from_rockpool("xylo-audio2", rockpool_spec())
    spec = cfg.to_rockpool(n_inputs=NIN, n_outputs=NOUT)
    assert spec["aliases"] == [[], [3], [], [], []]
    assert spec["weights_in"].shape == (NIN, NHID, 2)
    assert spec["weights_out"].shape == (NHID, NOUT)
    for back in (
        XyloConfig.from_rockpool("xylo-audio2", spec),
        XyloConfig.from_rockpool("xylo-audio2", cfg.to_rockpool()),
    ):
        assert same(back, cfg)


def test_rockpool_shapes_on_a_windowed_variant() -> None:
    cfg = XyloConfig.from_rockpool("xylo-audio3", rockpool_spec())
    assert cfg.validate() == []
    assert cfg.weights_out.shape == (NHID, 32)
    spec = cfg.to_rockpool()
    assert spec["weights_in"].shape[0] == 16


def test_rockpool_problems_name_the_register() -> None:
    spec = rockpool_spec()
    with pytest.raises(ConfigError, match=r"hidden neuron 1 has 2 alias targets"):
        XyloConfig.from_rockpool(
            "xylo-audio2", {**spec, "aliases": [[], [3, 4]] + [[]] * 3}
        )
    with pytest.raises(ConfigError, match=r"weights_in: 17 input channels"):
        XyloConfig.from_registers("xylo-audio2", weights_in=np.zeros((17, 5, 1), int))
    with pytest.raises(ConfigError, match=r"weights_out: 9 outputs"):
        XyloConfig.from_registers("xylo-audio2", weights_out=np.zeros((5, 9), int))
    with pytest.raises(ConfigError, match="bias or bias_hidden"):
        XyloConfig.from_rockpool("xylo-audio2", {**spec, "bias": np.zeros(5, int)})
