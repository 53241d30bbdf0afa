"""The ``xylo.core`` op: interpreter against ``XyloEmulator``, and its text form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import backends.xylo.ops  # noqa: F401  (registers the xylo dialect)
import ir
from backends.xylo import XyloConfig, XyloEmulator
from backends.xylo.ops import XyloCore
from ir.ops.io import Input, Output


def random_config(
    rng: np.random.Generator, variant: str, *, nin: int, nhid: int, nout: int
) -> XyloConfig:
    """A small random configuration that drives saturation, multi-spikes, aliases."""
    nsyn = 1 if variant == "xylo-imu" else 2
    aliases = np.full(nhid, -1)
    for j in rng.choice(nhid, size=nhid // 3, replace=False):
        aliases[j] = rng.integers(0, nhid)
    has_bias = variant != "xylo-v1"
    return XyloConfig(
        variant=variant,
        weights_in=rng.integers(-128, 128, (nin, nhid, nsyn)).astype(np.int8),
        weights_rec=(
            rng.integers(-128, 128, (nhid, nhid, nsyn))
            * (rng.random((nhid, nhid, 1)) < 0.5)
        ).astype(np.int8),
        weights_out=rng.integers(-128, 128, (nhid, nout)).astype(np.int8),
        dash_mem=rng.integers(0, 16, nhid).astype(np.uint8),
        dash_syn=rng.integers(0, 16, nhid).astype(np.uint8),
        dash_syn_2=rng.integers(0, 16, nhid).astype(np.uint8),
        dash_mem_out=rng.integers(0, 16, nout).astype(np.uint8),
        dash_syn_out=rng.integers(0, 16, nout).astype(np.uint8),
        threshold=rng.integers(1, 3000, nhid).astype(np.int16),
        threshold_out=rng.integers(1, 3000, nout).astype(np.int16),
        bias=(rng.integers(-128, 128, nhid) * has_bias).astype(np.int8),
        bias_out=(rng.integers(-128, 128, nout) * has_bias).astype(np.int8),
        aliases=aliases.astype(np.int32),
        weight_shift_in=int(rng.integers(0, 9)),
        weight_shift_rec=int(rng.integers(0, 9)),
        weight_shift_out=int(rng.integers(0, 9)),
    )


def core_graph(config: XyloConfig) -> ir.Graph:
    g = ir.Graph("core")
    nin = config.weights_in.shape[0]
    g.add("x", Input(shape=(nin,)))
    g.add("core", XyloCore.from_config(config), ["x"])
    g.add("y", Output(), ["core"])
    return g


CASES = [
    (variant, seed)
    for variant in ("xylo-audio2", "xylo-imu", "xylo-v1")
    for seed in range(4)
]


@pytest.mark.parametrize(("variant", "seed"), CASES)
def test_interpreter_matches_emulator(variant: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    config = random_config(rng, variant, nin=3, nhid=7, nout=2)
    raster = rng.integers(0, 20, (2, 40, 3)) * (rng.random((2, 40, 3)) < 0.4)
    spikes, states = XyloEmulator(config, check_limits=False).run(raster, record=True)
    out, rec = ir.interpret(core_graph(config), raster.astype(np.float32), record=True)
    assert out.shape == spikes.shape
    assert np.array_equal(out.numpy().astype(np.int64), spikes)
    core = {k: v.numpy() for k, v in rec["core"].items()}
    assert np.array_equal(core["vmem"], states["Vmem"])
    assert np.array_equal(core["isyn"][..., 0], states["Isyn"])
    if config.weights_in.shape[2] > 1:
        assert np.array_equal(core["isyn"][..., 1], states["Isyn2"])
    assert np.array_equal(core["spikes"], states["Spikes"])
    assert np.array_equal(core["vmem_out"], states["Vmem_out"])
    assert np.array_equal(core["isyn_out"], states["Isyn_out"])
    # The random cases reach the interesting regimes (the test can fail).
    assert core["spikes"].max() > 1


def test_golden_vector() -> None:
    """Reference §2: w = +100, dash_syn 2, dash_mem 1, one event at t = 0."""
    one = np.ones(1, np.uint8)
    config = XyloConfig(
        variant="xylo-audio2",
        weights_in=np.full((1, 1, 1), 100, np.int8),
        weights_rec=np.zeros((1, 1, 1), np.int8),
        weights_out=np.zeros((1, 1), np.int8),
        dash_mem=one,
        dash_syn=2 * one,
        dash_syn_2=one,
        dash_mem_out=one,
        dash_syn_out=one,
        threshold=np.full(1, 32767, np.int16),
        threshold_out=np.full(1, 32767, np.int16),
        bias=np.zeros(1, np.int8),
        bias_out=np.zeros(1, np.int8),
        aliases=np.full(1, -1, np.int32),
    )
    raster = np.zeros((1, 7, 1), np.float32)
    raster[0, 0, 0] = 1
    _, rec = ir.interpret(core_graph(config), raster, record=True)
    assert rec["core"]["isyn"][0, :, 0, 0].tolist() == [75, 57, 43, 33, 25, 19, 15]
    assert rec["core"]["vmem"][0, :, 0].tolist() == [75, 95, 91, 79, 65, 52, 41]


def test_print_parse_round_trip() -> None:
    config = random_config(
        np.random.default_rng(9), "xylo-audio2", nin=2, nhid=3, nout=2
    )
    g = core_graph(config)
    text = ir.to_text(g)
    assert "xylo.core" in text
    back = ir.parse(text)
    assert back.is_equivalent(g)
    assert ir.to_text(back) == text
    raster = torch.randint(0, 5, (1, 10, 2)).float()
    assert torch.equal(ir.interpret(back, raster), ir.interpret(g, raster))


def test_verify_names_bad_register() -> None:
    config = random_config(
        np.random.default_rng(1), "xylo-audio2", nin=2, nhid=3, nout=2
    )
    op = XyloCore.from_config(config)
    with pytest.raises(ir.VerifyError, match="threshold"):
        ir.verify(_with(op, threshold=np.zeros(3, np.int16)))


def _with(op: XyloCore, **changes: np.ndarray) -> ir.Graph:
    g = ir.Graph("bad")
    g.add("x", Input(shape=(op.weights_in.shape[0],)))
    g.add("core", op.replace(**changes), ["x"])
    g.add("y", Output(), ["core"])
    return g
