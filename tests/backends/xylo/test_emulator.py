"""XyloEmulator against the reference's golden vectors and a scalar re-implementation.

Every run goes through both engines (the compiled numba kernel, one sample at a time
or batched as SIMD lanes, and the numpy fallback), which must agree exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.xylo import ConfigError, XyloConfig, XyloEmulator
from backends.xylo.emulator import THREADS_ENV
from tests.backends.xylo.scalar_reference import scalar_run


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
        "bias": np.zeros(nhid, np.int16),  # xylosim: int16 (the chip: int8)
        "bias_out": np.zeros(nout, np.int16),
        "aliases": np.full(nhid, -1, np.int32),
    }
    shifts = {
        k: registers.pop(k) for k in list(registers) if k.startswith("weight_shift")
    }
    for name, value in registers.items():
        arrays[name] = np.asarray(value, arrays[name].dtype).reshape(arrays[name].shape)
    return XyloConfig(variant=variant, **arrays, **shifts)


ENGINES = ("numba", "numpy")


def run(config: XyloConfig, raster: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Both engines' results, asserted identical; returns the numba engine's."""
    results = []
    for engine in ENGINES:
        emu = XyloEmulator(config, check_limits=False, engine=engine)
        results.append(emu.run(np.asarray(raster, np.int64), record=True))
    (spikes, states), (spikes_np, states_np) = results
    np.testing.assert_array_equal(spikes, spikes_np)
    assert states.keys() == states_np.keys()
    for name, value in states.items():
        np.testing.assert_array_equal(value, states_np[name], err_msg=name)
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


# --- int16 rails: decay, negation and saturation (reference §2, xylosim's int16_t) --


def rail_config(variant: str) -> XyloConfig:
    """Two synapses at dash 15 take -128 << 8 to -32767 each (V to -32768 with
    dash_mem 0), then 127 << 8 on synapse 1 brings their sum back to 0."""
    return small_config(
        variant,
        nin=2,
        nsyn=2,
        weights_in=[[-128, -128], [127, 0]],
        weight_shift_in=8,
        dash_syn=[15],
        dash_syn_2=[15],
        dash_mem=[0],
    )


RAIL_RASTER = np.array([[15, 0], [0, 15], [0, 0]])


def test_v2_membrane_stays_on_the_negative_rail_with_dash_zero() -> None:
    """-dec(-32768, 0) is +32768, which xylosim's int16 wraps to -32768: the
    membrane stays at -32768 however the currents move (verified with xylosim)."""
    _, states = run(rail_config("xylo-audio2"), RAIL_RASTER)
    np.testing.assert_array_equal(states["Isyn"][:, 0], [-32767, 32766, 32765])
    np.testing.assert_array_equal(states["Isyn2"][:, 0], [-32767, -32766, -32765])
    np.testing.assert_array_equal(states["Vmem"][:, 0], [-32768, -32768, -32768])


def test_v1_membrane_decays_first_and_leaves_the_rail() -> None:
    """xylosim.v1 computes V - dec(V) (= 0 at dash 0) before adding the currents."""
    _, states = run(rail_config("xylo-v1"), RAIL_RASTER)
    np.testing.assert_array_equal(states["Vmem"][:, 0], [-32768, 0, 0])


@pytest.mark.parametrize(("weight", "rail"), [(127, 32767), (-128, -32768)])
@pytest.mark.parametrize("dash", [0, 1, 15])
def test_synapse_at_the_rails(weight: int, rail: int, dash: int) -> None:
    """15 events of w << 8 every step saturate the current, then it decays."""
    cfg = small_config(weights_in=[weight], weight_shift_in=8, dash_syn=[dash])
    _, states = run(cfg, np.full((3, 1), 15))
    q = rail >> dash
    if q == 0:
        q = 1 if rail > 0 else -1
    np.testing.assert_array_equal(states["Isyn"][:, 0], [rail - q] * 3)


@pytest.mark.parametrize("bias", [-32768, 32767, -128, 127])
@pytest.mark.parametrize("dash", [0, 15])
def test_bias_at_the_int16_rails(bias: int, dash: int) -> None:
    """Hidden and output biases at the int16 rails (xylosim adds them as int16)."""
    cfg = small_config(
        bias=[bias], bias_out=[bias], dash_mem=[dash], dash_mem_out=[dash]
    )
    ref = scalar_run(cfg, np.zeros((5, 1), np.int64))
    spikes, states = run(cfg, np.zeros((5, 1), np.int64))
    np.testing.assert_array_equal(states["Vmem"], ref["V"])
    np.testing.assert_array_equal(states["Vmem_out"], ref["Vo"])
    np.testing.assert_array_equal(spikes, ref["out"])
    if bias == -32768:  # pinned on the rail, hidden and output
        assert (states["Vmem"] == -32768).all()
        assert (states["Vmem_out"] == -32768).all()
    if bias == 32767:  # reaches theta = 32767 every step and resets to 0
        assert (states["Spikes"] == 1).all()
        assert (states["Vmem"] == 0).all()


@pytest.mark.parametrize("theta", [1, 32767])
def test_thresholds_at_the_extremes(theta: int) -> None:
    """theta 1: 31 spikes a step from a saturated membrane; theta 32767: one spike
    only from the rail, leaving 0."""
    cfg = small_config(
        nsyn=2,
        weights_in=[127, 127],
        weight_shift_in=8,
        dash_syn=[15],
        dash_syn_2=[15],
        dash_mem=[15],
        threshold=[theta],
        weights_out=[[127]],
        weight_shift_out=8,
        dash_syn_out=[15],
        threshold_out=[theta],
    )
    spikes, states = run(cfg, np.full((3, 1), 15))
    if theta == 1:
        np.testing.assert_array_equal(states["Spikes"][:, 0], [31, 31, 31])
        np.testing.assert_array_equal(states["Vmem"][:, 0], [32736] * 3)
        np.testing.assert_array_equal(spikes[:, 0], [0, 1, 1])
    else:
        np.testing.assert_array_equal(states["Spikes"][:, 0], [1, 1, 1])
        np.testing.assert_array_equal(states["Vmem"][:, 0], [0, 0, 0])


def test_invalid_config_is_refused() -> None:
    cfg = small_config(threshold=[0])
    with pytest.raises(ConfigError, match="threshold"):
        XyloEmulator(cfg, check_limits=False)
    with pytest.raises(ConfigError, match="weights_in"):
        XyloEmulator(cfg)  # the chip's sizes are enforced by default


int8s = st.sampled_from([-128, -127, -100, -1, 0, 0, 0, 1, 3, 60, 126, 127])


@st.composite
def configs(draw: st.DrawFn) -> tuple[XyloConfig, np.ndarray]:
    variant = draw(st.sampled_from(["xylo-audio2", "xylo-imu", "xylo-v1"]))
    nin = draw(st.integers(1, 3))
    nhid = draw(st.integers(1, 5))
    nout = draw(st.integers(1, 3))
    nsyn = 1 if variant == "xylo-imu" else draw(st.integers(1, 2))
    batch = draw(st.sampled_from([1, 2, 4, 6]))  # >= 4: the SIMD-lanes kernel
    steps = draw(st.integers(1, 10))

    def arr(shape: tuple[int, ...], elems: st.SearchStrategy[int]) -> np.ndarray:
        n = int(np.prod(shape))
        return np.array(
            draw(st.lists(elems, min_size=n, max_size=n)), np.int64
        ).reshape(shape)

    small_theta = st.one_of(
        st.sampled_from([1, 32767]), st.integers(1, 200), st.integers(1, 32767)
    )
    dashes = st.one_of(st.sampled_from([0, 15]), st.integers(0, 15))
    # xylosim adds biases as int16; the chip's register is int8 (check_limits)
    biases = st.one_of(int8s, st.sampled_from([-32768, 32767]))
    registers: dict[str, Any] = {
        "weights_in": arr((nin, nhid, nsyn), int8s),
        "weights_rec": arr((nhid, nhid, nsyn), int8s),
        "weights_out": arr((nhid, nout), int8s),
        "dash_mem": arr((nhid,), dashes),
        "dash_syn": arr((nhid,), dashes),
        "dash_syn_2": arr((nhid,), dashes),
        "dash_mem_out": arr((nout,), dashes),
        "dash_syn_out": arr((nout,), dashes),
        "threshold": arr((nhid,), small_theta),
        "threshold_out": arr((nout,), small_theta),
        "bias": arr((nhid,), biases) if variant != "xylo-v1" else np.zeros(nhid),
        "bias_out": arr((nout,), biases) if variant != "xylo-v1" else np.zeros(nout),
        "aliases": arr((nhid,), st.integers(-1, nhid - 1)),
        "weight_shift_in": draw(st.sampled_from([0, 8]) | st.integers(0, 8)),
        "weight_shift_rec": draw(st.sampled_from([0, 8]) | st.integers(0, 8)),
        "weight_shift_out": draw(st.sampled_from([0, 8]) | st.integers(0, 8)),
    }
    cfg = small_config(variant, nin=nin, nhid=nhid, nout=nout, nsyn=nsyn, **registers)
    raster = arr((batch, steps, nin), st.sampled_from([0, 0, 0, 1, 2, 7, 15, 20]))
    return cfg, raster


@settings(max_examples=200, deadline=None)
@given(configs())
def test_matches_scalar_reference(case: tuple[XyloConfig, np.ndarray]) -> None:
    assert_matches_scalar(*case)


def assert_matches_scalar(cfg: XyloConfig, raster: np.ndarray) -> None:
    """Both engines' spikes and states equal the scalar reference's, per sample."""
    spikes, states = run(cfg, raster)
    for b in range(raster.shape[0]):
        ref = scalar_run(cfg, raster[b])
        np.testing.assert_array_equal(spikes[b], ref["out"])
        np.testing.assert_array_equal(states["Vmem"][b], ref["V"])
        np.testing.assert_array_equal(states["Isyn"][b], ref["I1"])
        np.testing.assert_array_equal(states["Isyn2"][b], ref["I2"])
        np.testing.assert_array_equal(states["Spikes"][b], ref["S"])
        np.testing.assert_array_equal(states["Vmem_out"][b], ref["Vo"])
        np.testing.assert_array_equal(states["Isyn_out"][b], ref["Io"])


@pytest.mark.parametrize("shift", [0, 3, 4, 8])
def test_lanes_products_at_the_int16_limit(shift: int) -> None:
    """The SIMD-lanes kernel multiplies count x weight in int16 only when every
    product fits (here up to shift 3: 128 << 3 = 1024, times 31 spikes < 32768);
    above it, in int32. Both paths match the scalar reference at the extremes."""
    rng = np.random.default_rng(shift)
    cfg = small_config(
        nin=2,
        nhid=3,
        nout=2,
        nsyn=2,
        weights_in=rng.choice([-128, 127, -1, 5], (2, 3, 2)),
        weights_rec=rng.choice([-128, 127, 0, 3], (3, 3, 2)),
        weights_out=rng.choice([-128, 127, 1], (3, 2)),
        dash_mem=[0, 4, 15],
        dash_syn=[0, 1, 15],
        dash_syn_2=[15, 2, 0],
        threshold=[1, 300, 32767],
        threshold_out=[1, 20000],
        bias=[-32768, 0, 32767],
        aliases=[2, -1, -1],
        weight_shift_in=shift,
        weight_shift_rec=shift,
        weight_shift_out=shift,
    )
    emu = XyloEmulator(cfg, check_limits=False, engine="numba")
    assert emu._kernel_args is not None
    assert emu._kernel_args[3][5] == (shift <= 3)  # opts: narrow products
    assert_matches_scalar(cfg, rng.integers(0, 16, (6, 12, 2)))


@settings(max_examples=60, deadline=None)
@given(configs())
def test_batch_equals_samples_one_by_one(case: tuple[XyloConfig, np.ndarray]) -> None:
    cfg, raster = case
    emu = XyloEmulator(cfg, check_limits=False, engine="numba")
    spikes, states = emu.run(raster, record=True)
    for b in range(raster.shape[0]):
        one, one_states = emu.run(raster[b], record=True)
        np.testing.assert_array_equal(spikes[b], one)
        for name, value in one_states.items():
            np.testing.assert_array_equal(states[name][b], value)


def test_threads_split_the_batch_identically(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    cfg = small_config(
        nin=2,
        nhid=4,
        nsyn=2,
        weights_in=rng.integers(-128, 128, (2, 4, 2)),
        weights_rec=rng.integers(-128, 128, (4, 4, 2)),
        weights_out=rng.integers(-128, 128, (4, 1)),
        threshold=[1, 50, 300, 32767],
        weight_shift_in=6,
        weight_shift_rec=6,
        aliases=[2, -1, 0, 3],
    )
    raster = rng.integers(0, 16, (11, 20, 2))
    one = XyloEmulator(cfg, check_limits=False, threads=1).run(raster, record=True)
    monkeypatch.setenv(THREADS_ENV, "3")
    emu = XyloEmulator(cfg, check_limits=False)
    assert emu.threads == 3
    three = emu.run(raster, record=True)
    np.testing.assert_array_equal(one[0], three[0])
    for name, value in one[1].items():
        np.testing.assert_array_equal(value, three[1][name])


def test_engine_and_thread_options_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = small_config()
    with pytest.raises(ValueError, match="engine must be one of"):
        XyloEmulator(cfg, check_limits=False, engine="cuda")
    with pytest.raises(ValueError, match="threads must be >= 1"):
        XyloEmulator(cfg, check_limits=False, threads=0)
    monkeypatch.setenv(THREADS_ENV, "many")
    with pytest.raises(ValueError, match=THREADS_ENV):
        XyloEmulator(cfg, check_limits=False)


@pytest.mark.parametrize(
    ("register", "value", "message"),
    [
        ("threshold", [32768], "thresholds must be 1..32767"),
        ("bias", [40000], "biases must be int16"),
        ("weights_in", [200], "weights must be int8"),
    ],
)
def test_values_xylosim_would_wrap_are_refused(
    register: str, value: list[int], message: str
) -> None:
    arrays = {register: np.asarray(value, np.int64)}
    base = small_config()
    fields = {
        name: getattr(base, name)
        for name in base.__dataclass_fields__
        if name not in ("neuron_map", "io")
    }
    fields[register] = arrays[register].reshape(np.shape(fields[register]))
    with pytest.raises(ConfigError, match=message):
        XyloEmulator(XyloConfig(**fields), check_limits=False)
