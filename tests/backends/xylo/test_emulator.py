"""XyloEmulator against the reference's golden vectors and a scalar re-implementation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.xylo import ConfigError, XyloConfig, XyloEmulator


def small_config(
    variant: str = "xylo-audio2",
    *,
    nin: int = 1,
    nhid: int = 1,
    nout: int = 1,
    nsyn: int = 1,
    **registers: Any,
) -> XyloConfig:
    """A configuration smaller than the chip (run with ``check_limits=False``)."""
    arrays: dict[str, Any] = {
        "weights_in": np.zeros((nin, nhid, nsyn), np.int8),
        "weights_rec": np.zeros((nhid, nhid, nsyn), np.int8),
        "weights_out": np.zeros((nhid, nout), np.int8),
        "dash_mem": np.ones(nhid, np.uint8),
        "dash_syn": np.ones(nhid, np.uint8),
        "dash_syn_2": np.ones(nhid, np.uint8),
        "dash_mem_out": np.ones(nout, np.uint8),
        "dash_syn_out": np.ones(nout, np.uint8),
        "threshold": np.full(nhid, 32767, np.int16),
        "threshold_out": np.full(nout, 32767, np.int16),
        "bias": np.zeros(nhid, np.int8),
        "bias_out": np.zeros(nout, np.int8),
        "aliases": np.full(nhid, -1, np.int32),
    }
    shifts = {
        k: registers.pop(k) for k in list(registers) if k.startswith("weight_shift")
    }
    for name, value in registers.items():
        arrays[name] = np.asarray(value, arrays[name].dtype).reshape(arrays[name].shape)
    return XyloConfig(variant=variant, **arrays, **shifts)


def run(config: XyloConfig, raster: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    emu = XyloEmulator(config, check_limits=False)
    spikes, states = emu.run(np.asarray(raster, np.int64), record=True)
    return spikes, states


def one_spike(steps: int, count: int = 1) -> np.ndarray:
    raster = np.zeros((steps, 1), np.int64)
    raster[0, 0] = count
    return raster


# --- golden vectors (reference §2, verified against xylosim.v2) -------------------


@pytest.mark.parametrize("variant", ["xylo-audio2", "xylo-v1"])
@pytest.mark.parametrize(
    ("weight", "isyn", "vmem"),
    [
        (100, [75, 57, 43, 33, 25, 19, 15], [75, 95, 91, 79, 65, 52, 41]),
        (
            -100,
            [-75, -56, -42, -31, -23, -17, -12],
            [-75, -93, -88, -75, -60, -47, -35],
        ),
    ],
)
def test_golden_decay(
    variant: str, weight: int, isyn: list[int], vmem: list[int]
) -> None:
    cfg = small_config(variant, weights_in=[weight], dash_syn=[2], dash_mem=[1])
    _, states = run(cfg, one_spike(7))
    np.testing.assert_array_equal(states["Isyn"][:, 0], isyn)
    np.testing.assert_array_equal(states["Vmem"][:, 0], vmem)
    np.testing.assert_array_equal(states["Spikes"][:, 0], np.zeros(7))


@pytest.mark.parametrize(("weight", "isyn"), [(3, [2, 1, 0]), (-3, [-2, -1, 0])])
def test_golden_linear_tail(weight: int, isyn: list[int]) -> None:
    cfg = small_config(weights_in=[weight], dash_syn=[2], dash_mem=[1])
    _, states = run(cfg, one_spike(3))
    np.testing.assert_array_equal(states["Isyn"][:, 0], isyn)


def test_golden_input_count_clipped_to_15() -> None:
    cfg = small_config(weights_in=[100], dash_syn=[1])
    _, states = run(cfg, one_spike(1, count=20))
    assert states["Isyn"][0, 0] == 750


def test_golden_saturation_and_31_spikes() -> None:
    cfg = small_config(weights_in=[127], weight_shift_in=7, dash_syn=[4], threshold=[1])
    _, states = run(cfg, one_spike(1, count=15))
    assert states["Isyn"][0, 0] == 30720
    assert states["Spikes"][0, 0] == 31
    assert states["Vmem"][0, 0] == 30689


def test_golden_bias() -> None:
    cfg = small_config(bias=[30], dash_mem=[15], threshold=[100])
    _, states = run(cfg, np.zeros((4, 1), np.int64))
    np.testing.assert_array_equal(states["Vmem"][:, 0], [30, 59, 88, 17])
    np.testing.assert_array_equal(states["Spikes"][:, 0], [0, 0, 0, 1])


def test_v1_has_no_bias() -> None:
    cfg = small_config("xylo-v1", bias=[30], dash_mem=[15], threshold=[100])
    _, states = run(cfg, np.zeros((4, 1), np.int64))
    np.testing.assert_array_equal(states["Vmem"][:, 0], [0, 0, 0, 0])


def test_golden_two_synapses() -> None:
    cfg = small_config(
        nsyn=2,
        weights_in=[100, -40],
        dash_syn=[1],
        dash_syn_2=[3],
        dash_mem=[4],
    )
    _, states = run(cfg, one_spike(3))
    np.testing.assert_array_equal(states["Isyn"][:, 0], [50, 25, 13])
    np.testing.assert_array_equal(states["Isyn2"][:, 0], [-35, -30, -26])
    np.testing.assert_array_equal(states["Vmem"][:, 0], [15, 9, -5])


def test_golden_dash_zero_never_reaches_vmem() -> None:
    cfg = small_config(weights_in=[100], dash_syn=[0])
    _, states = run(cfg, one_spike(3))
    np.testing.assert_array_equal(states["Isyn"][:, 0], [0, 0, 0])
    np.testing.assert_array_equal(states["Vmem"][:, 0], [0, 0, 0])


def test_golden_delay_chain() -> None:
    """in -> H1 -> H2 -> out: H1 spikes at 0, H2 at 1, the output at 2."""
    w_rec = np.zeros((2, 2, 1), np.int8)
    w_rec[0, 1, 0] = 127
    cfg = small_config(
        nhid=2,
        weights_in=[[127, 0]],
        weights_rec=w_rec,
        weights_out=[[0], [127]],
        dash_syn=[1, 1],
        dash_mem=[0, 0],
        threshold=[50, 50],
        dash_syn_out=[1],
        dash_mem_out=[0],
        threshold_out=[50],
    )
    spikes, states = run(cfg, one_spike(4))
    np.testing.assert_array_equal(states["Spikes"][:, 0], [1, 0, 0, 0])
    np.testing.assert_array_equal(states["Spikes"][:, 1], [0, 1, 0, 0])
    np.testing.assert_array_equal(spikes[:, 0], [0, 0, 1, 0])


@pytest.mark.parametrize(
    ("first", "second", "isyn"), [(127, -127, 255), (-127, 127, -256)]
)
def test_saturation_is_order_dependent(first: int, second: int, isyn: int) -> None:
    """15 x (w << 8) saturates; the later opposite event then lands from the rail."""
    cfg = small_config(
        nin=2, weights_in=[first, second], weight_shift_in=8, dash_syn=[15]
    )
    _, states = run(cfg, np.array([[15, 1]]))
    # decay at dash 15 takes 1 LSB off a nonzero value
    assert states["Isyn"][0, 0] == isyn - np.sign(isyn)


def test_output_spikes_at_most_once() -> None:
    cfg = small_config(
        weights_in=[127],
        weight_shift_in=4,
        threshold=[1],
        weights_out=[[127]],
        threshold_out=[10],
    )
    spikes, states = run(cfg, one_spike(3, count=15))
    np.testing.assert_array_equal(spikes[:, 0], [0, 1, 1])
    assert states["Vmem_out"][1, 0] > 10


def test_invalid_config_is_refused() -> None:
    cfg = small_config(threshold=[0])
    with pytest.raises(ConfigError, match="threshold"):
        XyloEmulator(cfg, check_limits=False)
    with pytest.raises(ConfigError, match="weights_in"):
        XyloEmulator(cfg)  # the chip's sizes are enforced by default


# --- an independent scalar implementation, straight from reference §2 -------------


def sat16(v: int) -> int:
    return max(-32768, min(32767, v))


def dec(v: int, d: int) -> int:
    q = v >> d  # Python's >> on int is an arithmetic (floor) shift
    if q == 0 and v != 0:
        q = 1 if v > 0 else -1
    return q


def scalar_run(cfg: XyloConfig, raster: np.ndarray) -> dict[str, list[list[int]]]:
    v1 = cfg.variant == "xylo-v1"
    w_in = cfg.weights_in.tolist()
    w_rec = cfg.weights_rec.tolist()
    w_out = cfg.weights_out.tolist()
    nin, nhid, nsyn = cfg.weights_in.shape
    nout = cfg.weights_out.shape[1]
    dashes = [cfg.dash_syn.tolist(), cfg.dash_syn_2.tolist()]
    dm, th, b = cfg.dash_mem.tolist(), cfg.threshold.tolist(), cfg.bias.tolist()
    dmo, dso = cfg.dash_mem_out.tolist(), cfg.dash_syn_out.tolist()
    tho, bo = cfg.threshold_out.tolist(), cfg.bias_out.tolist()
    alias = cfg.aliases.tolist()
    sh_in, sh_rec, sh_out = (
        cfg.weight_shift_in,
        cfg.weight_shift_rec,
        cfg.weight_shift_out,
    )
    isyn = [[0] * nsyn for _ in range(nhid)]
    v = [0] * nhid
    isyn_o = [0] * nout
    v_o = [0] * nout
    prev = [0] * nhid
    rec: dict[str, list[list[int]]] = {
        k: [] for k in ("out", "V", "I", "S", "Vo", "Io")
    }
    for t in range(raster.shape[0]):
        for c in range(nin):
            n = min(int(raster[t, c]), 15)
            for s in range(nsyn):
                for j in range(nhid):
                    for _ in range(n):
                        isyn[j][s] = sat16(isyn[j][s] + (w_in[c][j][s] << sh_in))
        for i in range(nhid):
            n = min(prev[i], 31)
            for s in range(nsyn):
                for j in range(nhid):
                    for _ in range(n):
                        isyn[j][s] = sat16(isyn[j][s] + (w_rec[i][j][s] << sh_rec))
        for i in range(nhid):
            for k in range(nout):
                for _ in range(min(prev[i], 31)):
                    isyn_o[k] = sat16(isyn_o[k] + (w_out[i][k] << sh_out))
        buf = [0] * nhid
        for j in range(nhid):
            for s in range(nsyn):
                isyn[j][s] -= dec(isyn[j][s], dashes[s][j])
            if v1:
                v[j] -= dec(v[j], dm[j])
                v[j] = sat16(v[j] + sum(isyn[j]))
            else:
                dv = -dec(v[j], dm[j])
                dv = sat16(dv + sum(isyn[j]))
                dv = sat16(dv + b[j])
                v[j] = sat16(v[j] + dv)
            n = buf[j]
            while v[j] >= th[j] and n < 31:
                n += 1
                v[j] -= th[j]
            buf[j] = n
            if alias[j] >= 0:
                buf[alias[j]] = min(buf[alias[j]] + n, 31)
        out = [0] * nout
        for k in range(nout):
            isyn_o[k] -= dec(isyn_o[k], dso[k])
            if v1:
                v_o[k] -= dec(v_o[k], dmo[k])
                v_o[k] = sat16(v_o[k] + isyn_o[k])
            else:
                dv = sat16(-dec(v_o[k], dmo[k]) + isyn_o[k])
                dv = sat16(dv + bo[k])
                v_o[k] = sat16(v_o[k] + dv)
            n = 0
            while v_o[k] >= tho[k] and n < 1:
                n += 1
                v_o[k] -= tho[k]
            out[k] = n
        prev = buf
        rec["out"].append(out)
        rec["V"].append(list(v))
        rec["I"].append([sum(x) for x in isyn])
        rec["S"].append(list(buf))
        rec["Vo"].append(list(v_o))
        rec["Io"].append(list(isyn_o))
    return rec


int8s = st.sampled_from([-128, -127, -100, -1, 0, 0, 0, 1, 3, 60, 126, 127])


@st.composite
def configs(draw: st.DrawFn) -> tuple[XyloConfig, np.ndarray]:
    variant = draw(st.sampled_from(["xylo-audio2", "xylo-imu", "xylo-v1"]))
    nin = draw(st.integers(1, 3))
    nhid = draw(st.integers(1, 5))
    nout = draw(st.integers(1, 3))
    nsyn = 1 if variant == "xylo-imu" else draw(st.integers(1, 2))
    batch = draw(st.integers(1, 3))
    steps = draw(st.integers(1, 10))

    def arr(shape: tuple[int, ...], elems: st.SearchStrategy[int]) -> np.ndarray:
        n = int(np.prod(shape))
        return np.array(
            draw(st.lists(elems, min_size=n, max_size=n)), np.int64
        ).reshape(shape)

    small_theta = st.one_of(st.integers(1, 200), st.integers(1, 32767))
    registers: dict[str, Any] = {
        "weights_in": arr((nin, nhid, nsyn), int8s),
        "weights_rec": arr((nhid, nhid, nsyn), int8s),
        "weights_out": arr((nhid, nout), int8s),
        "dash_mem": arr((nhid,), st.integers(0, 15)),
        "dash_syn": arr((nhid,), st.integers(0, 15)),
        "dash_syn_2": arr((nhid,), st.integers(0, 15)),
        "dash_mem_out": arr((nout,), st.integers(0, 15)),
        "dash_syn_out": arr((nout,), st.integers(0, 15)),
        "threshold": arr((nhid,), small_theta),
        "threshold_out": arr((nout,), small_theta),
        "bias": arr((nhid,), int8s) if variant != "xylo-v1" else np.zeros(nhid),
        "bias_out": arr((nout,), int8s) if variant != "xylo-v1" else np.zeros(nout),
        "aliases": arr((nhid,), st.integers(-1, nhid - 1)),
        "weight_shift_in": draw(st.integers(0, 8)),
        "weight_shift_rec": draw(st.integers(0, 8)),
        "weight_shift_out": draw(st.integers(0, 8)),
    }
    cfg = small_config(variant, nin=nin, nhid=nhid, nout=nout, nsyn=nsyn, **registers)
    raster = arr((batch, steps, nin), st.sampled_from([0, 0, 0, 1, 2, 7, 15, 20]))
    return cfg, raster


@settings(max_examples=300, deadline=None)
@given(configs())
def test_matches_scalar_reference(case: tuple[XyloConfig, np.ndarray]) -> None:
    cfg, raster = case
    spikes, states = run(cfg, raster)
    for b in range(raster.shape[0]):
        ref = scalar_run(cfg, raster[b])
        np.testing.assert_array_equal(spikes[b], ref["out"])
        np.testing.assert_array_equal(states["Vmem"][b], ref["V"])
        isyn = states["Isyn"][b].astype(np.int64) + states["Isyn2"][b]
        np.testing.assert_array_equal(isyn, ref["I"])
        np.testing.assert_array_equal(states["Spikes"][b], ref["S"])
        np.testing.assert_array_equal(states["Vmem_out"][b], ref["Vo"])
        np.testing.assert_array_equal(states["Isyn_out"][b], ref["Io"])


@settings(max_examples=60, deadline=None)
@given(configs())
def test_batch_equals_samples_one_by_one(case: tuple[XyloConfig, np.ndarray]) -> None:
    cfg, raster = case
    emu = XyloEmulator(cfg, check_limits=False)
    spikes, states = emu.run(raster, record=True)
    for b in range(raster.shape[0]):
        one, one_states = emu.run(raster[b], record=True)
        np.testing.assert_array_equal(spikes[b], one)
        for name, value in one_states.items():
            np.testing.assert_array_equal(states[name][b], value)
