"""The reference interpreter: every op's meaning, checked against hand computations.

References are written out here (closed forms, plain Python loops over time, or
``torch.nn`` modules); nothing calls an op's own ``apply``/``step``. SNN traces run in
float64 with float64 parameters so they can be compared to ~1e-12.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ir
from ir.ops import io, nn, snn

DT = 1e-3


def f64(value: object) -> np.ndarray:
    """A float64 parameter array (kept as float64 by the op)."""
    return np.asarray(value, dtype=np.float64)


def single(op: ir.Op, shape: tuple[int, ...], *, dt: float | None = DT) -> ir.Graph:
    """``x -> n -> y`` with ``n`` running ``op``."""
    g = ir.Graph(dt=dt)
    g.add("x", io.Input(shape=shape))
    g.add("n", op, ["x"])
    g.add("y", io.Output(), ["n"])
    return g


def run(op: ir.Op, x: torch.Tensor, **kwargs: object) -> torch.Tensor:
    return ir.interpret(single(op, tuple(x.shape[2:])), x, **kwargs)


def recorded(op: ir.Op, x: torch.Tensor) -> dict[str, torch.Tensor]:
    _, rec = ir.interpret(single(op, tuple(x.shape[2:])), x, record=True)
    return rec["n"]


def per_step(
    module: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> torch.Tensor:
    """Apply a torch module to ``(B, T, *f)`` by folding time into the batch."""
    b, t = x.shape[:2]
    with torch.no_grad():
        y = module(x.reshape(b * t, *x.shape[2:]))
    return y.reshape(b, t, *y.shape[1:])


def fire_trace(
    inputs: list[float],
    update,
    *,
    theta: float,
    reset: str = "zero",
    v_reset: float = 0.0,
    max_spikes: int = 1,
    v_init: float = 0.0,
) -> tuple[list[float], list[float]]:
    """One spiking neuron by hand: ``v = update(v, I)``, then spike and reset."""
    v = v_init
    spikes, trace = [], []
    for current in inputs:
        v = update(v, current)
        n = 0
        if v >= theta:
            if reset == "zero":
                n, v = 1, v_reset
            else:
                n = min(max_spikes, math.floor(v / theta))
                v -= n * theta
        spikes.append(n)
        trace.append(v)
    return spikes, trace


def leaky(tau: float, r: float, v_leak: float, dt: float = DT):
    a = math.exp(-dt / tau)
    return lambda v, i: a * v + (1 - a) * (v_leak + r * i)


def lif(**fields: object) -> snn.LIF:
    base = {"tau": f64(0.02), "r": f64(1.0), "v_leak": f64(0.0), "v_threshold": f64(1)}
    base.update(fields)
    return snn.LIF(**base)


# An op whose time constant underflows exp(-dt/tau) to 0: v = v_leak + r I exactly.
NO_MEMORY = 1e-9


# -- snn.lif -------------------------------------------------------------------------


def test_lif_step_input_follows_the_closed_form_below_threshold() -> None:
    tau, r, v_leak, current, steps = 0.02, 2.0, 0.1, 0.3, 40
    a = math.exp(-DT / tau)
    op = lif(tau=f64(tau), r=f64(r), v_leak=f64(v_leak), v_threshold=f64(10.0))
    x = torch.full((1, steps, 1), current, dtype=torch.float64)
    rec = recorded(op, x)
    expected = [(v_leak + r * current) * (1 - a ** (t + 1)) for t in range(steps)]
    np.testing.assert_allclose(rec["v"][0, :, 0].numpy(), expected, rtol=1e-12)
    assert rec["output"].sum() == 0


def test_lif_spike_timing_and_zero_reset_repeat_with_the_closed_form_period() -> None:
    # v_inf = 0.7, theta = 0.5: first t with 0.7 (1 - a^(t+1)) >= 0.5.
    a = math.exp(-DT / 0.02)
    first = math.ceil(math.log(1 - 0.5 / 0.7) / math.log(a)) - 1
    assert first == 25
    op = lif(r=f64(1.0), v_threshold=f64(0.5))
    out = run(op, torch.full((1, 80, 1), 0.7, dtype=torch.float64))
    times = torch.nonzero(out[0, :, 0]).flatten().tolist()
    assert times == [first, 2 * first + 1, 3 * first + 2]


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_lif_matches_a_hand_loop_per_neuron(reset: str) -> None:
    rng = np.random.default_rng(0)
    tau = rng.uniform(0.005, 0.05, 4)
    r = rng.uniform(0.5, 2.0, 4)
    v_leak = rng.uniform(-0.1, 0.1, 4)
    theta = rng.uniform(0.3, 0.8, 4)
    op = lif(
        tau=f64(tau),
        r=f64(r),
        v_leak=f64(v_leak),
        v_threshold=f64(theta),
        v_reset=f64(-0.1),
        reset=reset,
    )
    x = torch.as_tensor(rng.uniform(0, 30, (2, 50, 4)))
    rec = recorded(op, x)
    for b in range(2):
        for k in range(4):
            spikes, v = fire_trace(
                x[b, :, k].tolist(),
                leaky(tau[k], r[k], v_leak[k]),
                theta=theta[k],
                reset=reset,
                v_reset=-0.1,
            )
            assert rec["output"][b, :, k].tolist() == spikes
            np.testing.assert_allclose(rec["v"][b, :, k].numpy(), v, rtol=1e-10)
    assert rec["output"].sum() > 10


def test_lif_subtract_reset_keeps_the_surplus() -> None:
    op = lif(tau=f64(NO_MEMORY), reset="subtract")
    rec = recorded(op, torch.tensor([[[1.3], [0.0]]], dtype=torch.float64))
    assert rec["output"][0, :, 0].tolist() == [1.0, 0.0]
    np.testing.assert_allclose(rec["v"][0, 0, 0].item(), 0.3, rtol=1e-12)
    # The kept surplus is the next step's starting point (a = 0 here: v = 0 again).
    assert rec["v"][0, 1, 0].item() == 0.0


def test_lif_subtract_reset_surplus_decays_with_the_leak() -> None:
    a = math.exp(-DT / 0.02)
    drive = 1.3 / (1 - a)  # lands at v = 1.3 after one step from rest
    op = lif(reset="subtract")
    rec = recorded(op, torch.tensor([[[drive], [0.0]]], dtype=torch.float64))
    assert rec["output"][0, :, 0].tolist() == [1.0, 0.0]
    np.testing.assert_allclose(rec["v"][0, :, 0].numpy(), [0.3, 0.3 * a], rtol=1e-9)


def test_lif_zero_reset_sets_v_reset() -> None:
    op = lif(tau=f64(NO_MEMORY), v_reset=f64(-0.25))
    rec = recorded(op, torch.tensor([[[1.3], [0.2]]], dtype=torch.float64))
    assert rec["output"][0, :, 0].tolist() == [1.0, 0.0]
    assert rec["v"][0, :, 0].tolist() == [-0.25, 0.2]


@pytest.mark.parametrize(
    ("drive", "max_spikes", "count", "left"),
    [(3.7, 5, 3, 0.7), (7.5, 3, 3, 4.5), (0.9, 4, 0, 0.9), (2.0, 2, 2, 0.0)],
)
def test_lif_max_spikes_emits_floor_of_v_over_theta_capped(
    drive: float, max_spikes: int, count: int, left: float
) -> None:
    op = lif(tau=f64(NO_MEMORY), reset="subtract", max_spikes=max_spikes)
    rec = recorded(op, torch.tensor([[[drive]]], dtype=torch.float64))
    assert rec["output"].item() == count
    assert rec["v"].item() == pytest.approx(left, abs=1e-12)


def test_lif_max_spikes_with_per_neuron_threshold() -> None:
    op = lif(
        tau=f64(NO_MEMORY),
        v_threshold=f64([0.5, 1.0, 2.0]),
        reset="subtract",
        max_spikes=3,
    )
    out = run(op, torch.full((1, 1, 3), 2.6, dtype=torch.float64))
    assert out[0, 0].tolist() == [3.0, 2.0, 1.0]


def test_lif_v_init_relaxes_to_v_leak() -> None:
    a = math.exp(-DT / 0.02)
    op = lif(v_leak=f64(0.2), v_init=f64(0.8), v_threshold=f64(5.0))
    rec = recorded(op, torch.zeros((1, 10, 1), dtype=torch.float64))
    expected = [0.2 + (0.8 - 0.2) * a ** (t + 1) for t in range(10)]
    np.testing.assert_allclose(rec["v"][0, :, 0].numpy(), expected, rtol=1e-12)


def test_lif_v_equal_to_threshold_spikes() -> None:
    op = lif(tau=np.float32(NO_MEMORY), r=1.0, v_leak=0.0, v_threshold=0.5)
    x = torch.tensor([[[0.5, np.nextafter(np.float32(0.5), 0), 0.75]]])
    assert run(op, x)[0, 0].tolist() == [1.0, 0.0, 1.0]


def test_lif_subtract_at_exact_threshold_leaves_zero() -> None:
    op = lif(tau=f64(NO_MEMORY), v_threshold=f64(0.5), reset="subtract")
    rec = recorded(op, torch.tensor([[[0.5]]], dtype=torch.float64))
    assert (rec["output"].item(), rec["v"].item()) == (1.0, 0.0)


# -- snn.cubalif / snn.cubali --------------------------------------------------------


def cuba_loop(
    inputs: list[float],
    *,
    tau_syn: float,
    tau_mem: float,
    r: float,
    v_leak: float,
    w_in: float,
    theta: float | None,
) -> tuple[list[float], list[float], list[float]]:
    """Synapse then membrane, by hand; ``theta=None`` means no spikes (cubali)."""
    b, a = math.exp(-DT / tau_syn), math.exp(-DT / tau_mem)
    i = v = 0.0
    spikes, currents, trace = [], [], []
    for s in inputs:
        i = b * i + (1 - b) * w_in * s
        v = a * v + (1 - a) * (v_leak + r * i)
        n = 0
        if theta is not None and v >= theta:
            n, v = 1, 0.0
        spikes.append(n)
        currents.append(i)
        trace.append(v)
    return spikes, currents, trace


CUBA = {"tau_syn": 0.005, "tau_mem": 0.01, "r": 3.0, "v_leak": 0.05, "w_in": 2.5}


def test_cubalif_membrane_sees_the_new_current_in_the_same_step() -> None:
    b, a = math.exp(-DT / 0.005), math.exp(-DT / 0.01)
    op = snn.CubaLIF(
        tau_syn=f64(0.005),
        tau_mem=f64(0.01),
        r=f64(3.0),
        v_leak=f64(0.0),
        v_threshold=f64(100.0),
        w_in=f64(2.5),
    )
    rec = recorded(op, torch.tensor([[[1.0], [0.0]]], dtype=torch.float64))
    i0 = (1 - b) * 2.5
    v0 = (1 - a) * 3.0 * i0
    assert rec["i"][0, 0, 0].item() == pytest.approx(i0, rel=1e-12)
    assert rec["v"][0, 0, 0].item() == pytest.approx(v0, rel=1e-12)
    i1 = b * i0
    assert rec["v"][0, 1, 0].item() == pytest.approx(a * v0 + (1 - a) * 3 * i1)


def test_cubalif_matches_a_hand_loop() -> None:
    rng = np.random.default_rng(1)
    inputs = rng.uniform(0, 3, 60).tolist()
    op = snn.CubaLIF(**{k: f64(v) for k, v in CUBA.items()}, v_threshold=f64(0.9))
    rec = recorded(op, torch.tensor(inputs, dtype=torch.float64).reshape(1, -1, 1))
    spikes, currents, trace = cuba_loop(inputs, **CUBA, theta=0.9)
    assert rec["output"][0, :, 0].tolist() == spikes
    assert sum(spikes) > 3
    np.testing.assert_allclose(rec["i"][0, :, 0].numpy(), currents, rtol=1e-12)
    np.testing.assert_allclose(rec["v"][0, :, 0].numpy(), trace, rtol=1e-10, atol=1e-14)


def test_cubali_matches_a_hand_loop_and_outputs_v() -> None:
    rng = np.random.default_rng(2)
    inputs = rng.uniform(-1, 3, 40).tolist()
    op = snn.CubaLI(**{k: f64(v) for k, v in CUBA.items()})
    rec = recorded(op, torch.tensor(inputs, dtype=torch.float64).reshape(1, -1, 1))
    _, currents, trace = cuba_loop(inputs, **CUBA, theta=None)
    np.testing.assert_allclose(rec["output"][0, :, 0].numpy(), trace, rtol=1e-12)
    np.testing.assert_allclose(rec["i"][0, :, 0].numpy(), currents, rtol=1e-12)


# -- snn.if / snn.integrator / snn.li ------------------------------------------------


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_if_integrates_dt_r_input(reset: str) -> None:
    rng = np.random.default_rng(3)
    inputs = rng.uniform(-0.2, 1.0, 40).tolist()
    op = snn.IF(r=f64(400.0), v_threshold=f64(1.0), v_init=f64(0.1), reset=reset)
    rec = recorded(op, torch.tensor(inputs, dtype=torch.float64).reshape(1, -1, 1))
    spikes, trace = fire_trace(
        inputs, lambda v, i: v + DT * 400.0 * i, theta=1.0, reset=reset, v_init=0.1
    )
    assert rec["output"][0, :, 0].tolist() == spikes
    assert sum(spikes) > 3
    np.testing.assert_allclose(rec["v"][0, :, 0].numpy(), trace, rtol=1e-12, atol=1e-15)


def test_if_with_r_one_over_dt_adds_the_input_itself() -> None:
    op = snn.IF(r=1 / DT, v_threshold=1.0, reset="subtract")
    out = run(op, torch.full((1, 10, 1), 0.25))
    assert out[0, :, 0].tolist() == [0, 0, 0, 1] * 2 + [0, 0]


def test_integrator_is_a_running_sum() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 12, 3))
    op = snn.Integrator(r=f64([100.0, 200.0, 300.0]), v_init=f64(0.5))
    out = run(op, torch.as_tensor(x))
    expected = 0.5 + DT * np.array([100.0, 200.0, 300.0]) * np.cumsum(x, axis=1)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


def test_li_follows_the_closed_form_and_outputs_v() -> None:
    a = math.exp(-DT / 0.03)
    op = snn.LI(tau=f64(0.03), r=f64(2.0), v_leak=f64(-0.1))
    out = run(op, torch.full((1, 30, 1), 0.4, dtype=torch.float64))
    expected = [(-0.1 + 0.8) * (1 - a ** (t + 1)) for t in range(30)]
    np.testing.assert_allclose(out[0, :, 0].numpy(), expected, rtol=1e-12)


def test_li_matches_a_hand_loop_with_v_init() -> None:
    rng = np.random.default_rng(5)
    inputs = rng.normal(size=25).tolist()
    op = snn.LI(tau=f64(0.01), r=f64(1.5), v_leak=f64(0.2), v_init=f64(-0.3))
    out = run(op, torch.tensor(inputs, dtype=torch.float64).reshape(1, -1, 1))
    step, v, trace = leaky(0.01, 1.5, 0.2), -0.3, []
    for i in inputs:
        v = step(v, i)
        trace.append(v)
    np.testing.assert_allclose(out[0, :, 0].numpy(), trace, rtol=1e-12)


# -- snn.threshold / snn.delay -------------------------------------------------------


def test_threshold_is_heaviside_with_h0_equal_1() -> None:
    x = torch.tensor([[[-1.0, 0.5, 0.49, 0.7], [0.5, 0.0, 2.0, -0.5]]])
    out = run(snn.Threshold(threshold=0.5), x)
    assert out[0].tolist() == [[0, 1, 0, 1], [1, 0, 1, 0]]


def test_threshold_broadcasts_per_feature() -> None:
    op = snn.Threshold(threshold=[[0.0], [1.0]])
    out = run(op, torch.tensor([[[[0.0, -0.1], [1.0, 0.9]]]]))
    assert out[0, 0].tolist() == [[1, 0], [1, 0]]


def test_delay_shifts_each_element_by_whole_steps() -> None:
    delays = [0, 2, 3]
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 7, 3))
    out = run(snn.Delay(delay=[d * DT for d in delays]), torch.as_tensor(x))
    expected = np.zeros_like(x)
    for k, d in enumerate(delays):
        for t in range(d, 7):
            expected[:, t, k] = x[:, t - d, k]
    np.testing.assert_array_equal(out.numpy(), expected)


def test_delay_longer_than_the_run_outputs_zeros() -> None:
    out = run(snn.Delay(delay=0.005), torch.ones((1, 4, 2)))
    assert not out.any()


def test_delay_that_is_not_a_multiple_of_dt_is_rejected() -> None:
    g = single(snn.Delay(delay=[0.001, 0.0015]), (2,))
    with pytest.raises(ir.VerifyError, match="not a multiple of dt") as err:
        ir.interpret(g, torch.ones((1, 3, 2)))
    assert err.value.node == "n"


# -- recurrence ----------------------------------------------------------------------


def test_recurrent_self_loop_via_linear_reads_the_previous_step() -> None:
    rng = np.random.default_rng(7)
    w = rng.normal(0, 1.5, (3, 3))
    tau, theta = 0.01, 0.4
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(3,)))
    g.add("l", lif(tau=f64(tau), v_threshold=f64(theta), reset="subtract"), ["x"])
    g.add("w", nn.Linear(weight=f64(w)), ["l"])
    g.connect("w", "l", recurrent=True)
    g.add("y", io.Output(), ["l"])
    x = rng.uniform(0, 8, (1, 40, 3))
    out = ir.interpret(g, torch.as_tensor(x))

    a = math.exp(-DT / tau)
    v, s = np.zeros(3), np.zeros(3)
    expected = []
    for t in range(40):
        current = x[0, t] + w @ s  # the linear sees the previous step's spikes
        v = a * v + (1 - a) * current
        s = np.where(v >= theta, np.floor(v / theta).clip(max=1), 0.0)
        v = v - s * theta
        expected.append(s)
    np.testing.assert_array_equal(out[0].numpy(), np.array(expected))
    assert 0 < out.sum() < out.numel()


def test_self_loop_without_a_layer_between() -> None:
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(1,)))
    g.add("n", snn.IF(r=1 / DT, v_threshold=1.0), ["x"])
    g.connect("n", "n", recurrent=True)
    g.add("y", io.Output(), ["n"])
    # One kick of 1.0 then zeros: the neuron re-excites itself through the loop.
    x = torch.tensor([[[1.0], [0.0], [0.0], [0.0]]], dtype=torch.float64)
    assert ir.interpret(g, x)[0, :, 0].tolist() == [1.0, 1.0, 1.0, 1.0]


def test_two_node_cycle() -> None:
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(1,)))
    g.add("a", snn.IF(r=1 / DT, v_threshold=1.0), ["x"])
    g.add("b", snn.IF(r=1 / DT, v_threshold=1.0), ["a"])
    g.connect("b", "a", recurrent=True)
    g.add("y", io.Output(), ["a"])
    x = torch.zeros((1, 8, 1), dtype=torch.float64)
    x[0, 0, 0] = 1.0
    # a fires at 0, b at 0 (same step), a again at 1 from b's previous spike, ...
    _, rec = ir.interpret(g, x, record=True)
    assert rec["a"]["output"][0, :, 0].tolist() == [1.0] * 8
    assert rec["b"]["output"][0, :, 0].tolist() == [1.0] * 8
    # Break the loop at b's threshold: only a's own kick remains.
    g.replace("b", snn.IF(r=1 / DT, v_threshold=1.5))
    _, rec = ir.interpret(g, x, record=True)
    assert rec["a"]["output"][0, :, 0].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert not rec["b"]["output"].any()
    assert rec["b"]["v"][0, :, 0].tolist() == [1.0] * 8


def test_two_node_cycle_matches_a_hand_loop() -> None:
    rng = np.random.default_rng(8)
    w_ab, w_ba = np.abs(rng.normal(0, 1, (2, 3))), rng.normal(0, 1, (3, 2))
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(3,)))
    g.add("a", lif(tau=f64(0.005), v_threshold=f64(0.3)), ["x"])
    g.add("ab", nn.Linear(weight=f64(w_ab)), ["a"])
    g.add("b", lif(tau=f64(0.01), v_threshold=f64(0.3)), ["ab"])
    g.add("ba", nn.Linear(weight=f64(w_ba)), ["b"])
    g.connect("ba", "a", recurrent=True)
    g.add("y", io.Output(), ["b"])
    x = rng.uniform(0, 3, (1, 30, 3))
    _, rec = ir.interpret(g, torch.as_tensor(x), record=True)

    la, lb = math.exp(-DT / 0.005), math.exp(-DT / 0.01)
    va, vb, sb = np.zeros(3), np.zeros(2), np.zeros(2)
    out_a, out_b = [], []
    for t in range(30):
        va = la * va + (1 - la) * (x[0, t] + w_ba @ sb)
        sa = (va >= 0.3).astype(float)
        va = np.where(sa > 0, 0.0, va)
        vb = lb * vb + (1 - lb) * (w_ab @ sa)
        sb = (vb >= 0.3).astype(float)
        vb = np.where(sb > 0, 0.0, vb)
        out_a.append(sa)
        out_b.append(sb)
    np.testing.assert_array_equal(rec["a"]["output"][0].numpy(), np.array(out_a))
    np.testing.assert_array_equal(rec["b"]["output"][0].numpy(), np.array(out_b))
    for node in ("a", "b"):
        assert 0 < rec[node]["output"].sum() < rec[node]["output"].numel()


def test_recurrent_edge_from_outside_a_cycle_is_shifted_by_one_step() -> None:
    # z_scale sorts after a_if by name, but a_if reads it (previous step): z first.
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(1,)))
    g.add("a_if", snn.Integrator(r=1 / DT), ["x"])
    g.add("z_scale", nn.Scale(scale=10.0), ["x"])
    g.connect("z_scale", "a_if", recurrent=True)
    g.add("y", io.Output(), ["a_if"])
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64).reshape(1, 4, 1)
    drive = [1.0, 2.0 + 10.0, 3.0 + 20.0, 4.0 + 30.0]
    expected = np.cumsum(drive)
    np.testing.assert_allclose(ir.interpret(g, x)[0, :, 0].numpy(), expected)


def test_recurrent_edge_from_outside_into_a_stepped_cycle() -> None:
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(1,)))
    g.add("s", nn.Scale(scale=10.0), ["x"])
    g.add("acc", snn.Integrator(r=1 / DT), ["x"])
    g.connect("s", "acc", recurrent=True)
    g.connect("acc", "acc", recurrent=True)
    g.add("y", io.Output(), ["acc"])
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64).reshape(1, 3, 1)
    v, prev_x, expected = 0.0, 0.0, []
    for xt in [1.0, 2.0, 3.0]:
        v = v + (xt + 10 * prev_x + v)  # input + previous scaled input + previous v
        prev_x = xt
        expected.append(v)
    np.testing.assert_allclose(ir.interpret(g, x)[0, :, 0].numpy(), expected)


def test_recurrent_delay_in_a_cycle() -> None:
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(1,)))
    g.add("acc", snn.Integrator(r=1 / DT), ["x"])
    g.add("d", snn.Delay(delay=2 * DT), ["acc"])
    g.connect("d", "acc", recurrent=True)
    g.add("y", io.Output(), ["acc"])
    x = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float64).reshape(1, 5, 1)
    # acc[t] = acc[t-1] + x[t] + acc[t-3] (delay 2, read one step late).
    acc: list[float] = []
    for t in range(5):
        back = acc[t - 3] if t >= 3 else 0.0
        acc.append((acc[-1] if acc else 0.0) + x[0, t, 0].item() + back)
    np.testing.assert_allclose(ir.interpret(g, x)[0, :, 0].numpy(), acc)


# -- nn ops against torch.nn ---------------------------------------------------------


def nn_run(op: ir.Op, x: torch.Tensor) -> torch.Tensor:
    return ir.interpret(single(op, tuple(x.shape[2:]), dt=None), x)


def as_np(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().numpy()


@pytest.mark.parametrize(
    ("cin", "cout", "k", "stride", "padding", "dilation", "groups", "bias"),
    [
        (2, 4, 3, 1, 0, 1, 1, True),
        (4, 6, 3, 2, 1, 2, 2, False),
        (3, 3, 2, 3, 2, 1, 3, True),
    ],
)
def test_conv1d_matches_torch(
    cin: int,
    cout: int,
    k: int,
    stride: int,
    padding: int,
    dilation: int,
    groups: int,
    bias: bool,
) -> None:
    torch.manual_seed(0)
    m = torch.nn.Conv1d(cin, cout, k, stride, padding, dilation, groups, bias)
    op = nn.Conv1d(
        weight=as_np(m.weight),
        bias=as_np(m.bias),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
    )
    x = torch.randn(2, 3, cin, 11)
    torch.testing.assert_close(nn_run(op, x), per_step(m, x))


@pytest.mark.parametrize(
    ("cin", "cout", "k", "stride", "padding", "dilation", "groups", "bias"),
    [
        (2, 3, (1, 1), (1, 1), (0, 0), (1, 1), 1, False),
        (4, 4, (3, 2), (2, 1), (1, 0), (1, 2), 2, True),
        (3, 6, (3, 3), (1, 2), (2, 1), (2, 1), 3, True),
    ],
)
def test_conv2d_matches_torch(
    cin: int,
    cout: int,
    k: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    bias: bool,
) -> None:
    torch.manual_seed(1)
    m = torch.nn.Conv2d(cin, cout, k, stride, padding, dilation, groups, bias)
    op = nn.Conv2d(
        weight=as_np(m.weight),
        bias=as_np(m.bias),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
    )
    x = torch.randn(2, 2, cin, 7, 6)
    torch.testing.assert_close(nn_run(op, x), per_step(m, x))


def test_conv2d_int_stride_means_both_axes() -> None:
    torch.manual_seed(2)
    m = torch.nn.Conv2d(1, 1, 2, stride=2, bias=False)
    op = nn.Conv2d(weight=as_np(m.weight), stride=2)
    x = torch.randn(1, 1, 1, 6, 6)
    torch.testing.assert_close(nn_run(op, x), per_step(m, x))


POOLS = [
    ((2, 2), None, (0, 0), (5, 5)),  # odd input: the last row/column is dropped
    ((3, 2), (2, 1), (1, 1), (7, 6)),
    ((3, 3), (2, 2), (1, 1), (6, 6)),
    ((2, 2), (1, 1), (1, 1), (3, 4)),
]


@pytest.mark.parametrize(("k", "stride", "padding", "size"), POOLS)
def test_avgpool_counts_padding_like_torch(
    k: tuple[int, int],
    stride: tuple[int, int] | None,
    padding: tuple[int, int],
    size: tuple[int, int],
) -> None:
    op = nn.AvgPool2d(kernel_size=k, stride=stride, padding=padding)
    ref = torch.nn.AvgPool2d(k, stride, padding, count_include_pad=True)
    x = torch.randn(2, 3, 2, *size)
    torch.testing.assert_close(nn_run(op, x), per_step(ref, x))


@pytest.mark.parametrize(("k", "stride", "padding", "size"), POOLS)
def test_sumpool_is_a_convolution_with_ones(
    k: tuple[int, int],
    stride: tuple[int, int] | None,
    padding: tuple[int, int],
    size: tuple[int, int],
) -> None:
    op = nn.SumPool2d(kernel_size=k, stride=stride, padding=padding)
    ones = torch.ones(2, 1, *k)

    def sumpool(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, ones, None, stride or k, padding, groups=2)

    x = torch.randn(2, 3, 2, *size)
    torch.testing.assert_close(nn_run(op, x), per_step(sumpool, x))


@pytest.mark.parametrize(("k", "stride", "padding", "size"), POOLS)
def test_maxpool_matches_torch(
    k: tuple[int, int],
    stride: tuple[int, int] | None,
    padding: tuple[int, int],
    size: tuple[int, int],
) -> None:
    op = nn.MaxPool2d(kernel_size=k, stride=stride, padding=padding)
    ref = torch.nn.MaxPool2d(k, stride, padding)
    x = torch.randn(2, 3, 2, *size)
    torch.testing.assert_close(nn_run(op, x), per_step(ref, x))


def test_pools_by_hand_with_padding() -> None:
    x = torch.ones((1, 1, 1, 2, 2))
    window = {"kernel_size": (2, 2), "stride": (1, 1), "padding": (1, 1)}
    counts = [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    assert nn_run(nn.SumPool2d(**window), x)[0, 0, 0].tolist() == counts
    avg = nn_run(nn.AvgPool2d(**window), x)[0, 0, 0]
    assert avg.tolist() == [[c / 4 for c in row] for row in counts]
    # Max pooling pads with -inf: an all-negative input never yields 0.
    assert (nn_run(nn.MaxPool2d(**window), -x) == -1).all()


@pytest.mark.parametrize(
    ("start", "end"), [(0, -1), (1, 2), (0, 1), (-2, -1), (1, 1), (2, 2)]
)
def test_flatten_matches_torch(start: int, end: int) -> None:
    x = torch.randn(2, 3, 2, 3, 4)
    ref = torch.nn.Flatten(
        start + 2 if start >= 0 else start, end + 2 if end >= 0 else end
    )
    assert torch.equal(nn_run(nn.Flatten(start_dim=start, end_dim=end), x), ref(x))


@pytest.mark.parametrize("features", [(4,), (4, 5), (4, 3, 3)])
def test_batchnorm_matches_torch_in_eval_mode(features: tuple[int, ...]) -> None:
    torch.manual_seed(3)
    ref = (torch.nn.BatchNorm2d if len(features) == 3 else torch.nn.BatchNorm1d)(
        4, eps=1e-3
    )
    with torch.no_grad():
        ref.running_mean.copy_(torch.randn(4))
        ref.running_var.copy_(torch.rand(4) + 0.5)
        ref.weight.copy_(torch.randn(4))
        ref.bias.copy_(torch.randn(4))
    ref.eval()
    op = nn.BatchNorm(
        mean=as_np(ref.running_mean),
        var=as_np(ref.running_var),
        weight=as_np(ref.weight),
        bias=as_np(ref.bias),
        eps=1e-3,
    )
    x = torch.randn(2, 3, *features)
    torch.testing.assert_close(nn_run(op, x), per_step(ref, x))


@pytest.mark.parametrize("bias", [False, True])
def test_linear_and_affine_match_torch_on_the_last_dimension(bias: bool) -> None:
    torch.manual_seed(4)
    ref = torch.nn.Linear(3, 4, bias=bias)
    op = (
        nn.Affine(weight=as_np(ref.weight), bias=as_np(ref.bias))
        if bias
        else nn.Linear(weight=as_np(ref.weight))
    )
    x = torch.randn(2, 3, 5, 3)
    torch.testing.assert_close(nn_run(op, x), per_step(ref, x))


def test_relu_matches_torch() -> None:
    x = torch.randn(2, 3, 4, 2)
    assert torch.equal(nn_run(nn.ReLU(), x), torch.nn.ReLU()(x))


def test_scale_broadcasts_over_the_feature_shape() -> None:
    scale = np.array([[1.0], [-2.0], [0.5]], np.float32)
    x = np.random.default_rng(9).normal(size=(2, 3, 3, 4)).astype(np.float32)
    out = nn_run(nn.Scale(scale=scale), torch.as_tensor(x))
    np.testing.assert_array_equal(out.numpy(), x * scale)
    out = nn_run(nn.Scale(scale=0.25), torch.as_tensor(x))
    np.testing.assert_array_equal(out.numpy(), x * 0.25)


def test_add_and_output_sum_their_fan_in() -> None:
    g = ir.Graph()
    g.add("x", io.Input(shape=(3,)))
    g.add("double", nn.Scale(scale=2.0), ["x"])
    g.add("neg", nn.Scale(scale=-0.5), ["x"])
    g.add("sum", nn.Add(), ["x", "double", "neg"])
    g.add("y", io.Output(), ["sum", "x"])
    x = torch.tensor([[[1.0, -2.0, 4.0]]])
    assert ir.interpret(g, x)[0, 0].tolist() == [3.5, -7.0, 14.0]


def test_clip_without_levels_is_a_relu_clipped_at_threshold() -> None:
    op = nn.Clip(threshold=[1.0, 2.0, 0.5], levels=0)
    x = torch.tensor([[[-1.0, 1.5, 0.7], [1.5, 3.0, -0.1]]])
    assert nn_run(op, x)[0].tolist() == [[0.0, 1.5, 0.5], [1.0, 2.0, 0.0]]


@pytest.mark.parametrize(("levels", "shift"), [(4, 0.5), (8, 0.0), (1, 0.5)])
def test_clip_with_levels_is_qcfs(levels: int, shift: float) -> None:
    lam = 1.5
    x = np.random.default_rng(10).uniform(-0.5, 2.0, (2, 4, 6))
    op = nn.Clip(threshold=f64(lam), levels=levels, shift=shift)
    out = nn_run(op, torch.as_tensor(x)).numpy()
    expected = np.vectorize(
        lambda v: (
            lam / levels * min(max(math.floor(v * levels / lam + shift), 0), levels)
        )
    )(x)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert len(np.unique(out)) <= levels + 1


# -- the interpret() API -------------------------------------------------------------


def two_in_two_out() -> ir.Graph:
    g = ir.Graph()
    g.add("a", io.Input(shape=(2,)))
    g.add("b", io.Input(shape=(2,)))
    g.add("sum", nn.Add(), ["a", "b"])
    g.add("out_sum", io.Output(), ["sum"])
    g.add("out_a", io.Output(), ["a"])
    return g


def test_one_input_one_output_is_tensor_in_tensor_out() -> None:
    x = torch.randn(2, 3, 4)
    out = ir.interpret(single(nn.ReLU(), (4,), dt=None), x)
    assert isinstance(out, torch.Tensor)
    assert out.shape == (2, 3, 4)


def test_several_inputs_and_outputs_are_dicts() -> None:
    a, b = torch.randn(1, 2, 2), torch.randn(1, 2, 2)
    out = ir.interpret(two_in_two_out(), {"a": a, "b": b})
    assert set(out) == {"out_sum", "out_a"}
    torch.testing.assert_close(out["out_sum"], a + b)
    assert torch.equal(out["out_a"], a)


def test_numpy_input_is_accepted() -> None:
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3) - 2
    out = ir.interpret(single(nn.ReLU(), (3,), dt=None), x)
    assert isinstance(out, torch.Tensor)
    assert out.dtype == torch.float32
    assert out[0].tolist() == [[0, 0, 0], [1, 2, 3]]
    out = ir.interpret(single(nn.ReLU(), (3,), dt=None), x.astype(np.int64))
    assert out.dtype == torch.float32


def test_steps_holds_a_one_step_input() -> None:
    op = snn.Integrator(r=f64(500.0))
    x = torch.tensor([[[1.0, -2.0]]], dtype=torch.float64)
    out = ir.interpret(single(op, (2,)), x, steps=4)
    assert out.shape == (1, 4, 2)
    expected = [[0.5 * (t + 1), -1.0 * (t + 1)] for t in range(4)]
    np.testing.assert_allclose(out[0].numpy(), expected)


def test_steps_must_match_a_longer_input() -> None:
    g = single(nn.ReLU(), (2,), dt=None)
    assert ir.interpret(g, torch.ones(1, 5, 2), steps=5).shape == (1, 5, 2)
    with pytest.raises(ir.VerifyError, match="steps=5") as err:
        ir.interpret(g, torch.ones(1, 3, 2), steps=5)
    assert err.value.node == "x"


@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 3), (2, 3, 1, 3), (3, 1)])
def test_wrong_input_shape_names_the_input_and_the_expected_shape(
    shape: tuple[int, ...],
) -> None:
    g = single(nn.ReLU(), (3, 1), dt=None)
    with pytest.raises(ir.VerifyError, match=r"\(batch, time, 3, 1\)") as err:
        ir.interpret(g, torch.ones(shape))
    assert err.value.node == "x"
    assert "node 'x'" in str(err.value)


def test_unknown_and_missing_input_names_are_reported() -> None:
    g = two_in_two_out()
    x = torch.ones(1, 1, 2)
    with pytest.raises(ir.VerifyError, match="missing b"):
        ir.interpret(g, {"a": x})
    with pytest.raises(ir.VerifyError, match="unknown c"):
        ir.interpret(g, {"a": x, "b": x, "c": x})
    with pytest.raises(ir.VerifyError, match="pass a dict"):
        ir.interpret(g, x)


def test_inputs_of_different_lengths_are_rejected() -> None:
    with pytest.raises(ir.VerifyError, match="different time lengths"):
        ir.interpret(
            two_in_two_out(), {"a": torch.ones(1, 2, 2), "b": torch.ones(1, 3, 2)}
        )


def test_record_returns_outputs_and_states_over_time() -> None:
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(2, 3)))
    g.add(
        "c",
        snn.CubaLIF(tau_syn=0.005, tau_mem=0.01, r=1.0, v_leak=0.0, v_threshold=0.1),
        ["x"],
    )
    g.add("fc", nn.Linear(weight=np.ones((1, 3), np.float32)), ["c"])
    g.add("y", io.Output(), ["fc"])
    x = torch.rand(4, 6, 2, 3) * 5
    out, rec = ir.interpret(g, x, record=True)
    assert set(rec) == {"x", "c", "fc", "y"}
    assert set(rec["c"]) == {"output", "i", "v"}
    assert rec["c"]["v"].shape == rec["c"]["i"].shape == (4, 6, 2, 3)
    assert rec["fc"]["output"].shape == (4, 6, 2, 1)
    assert set(rec["fc"]) == {"output"}
    assert torch.equal(rec["y"]["output"], out)
    assert torch.equal(rec["x"]["output"], x)
    torch.testing.assert_close(rec["fc"]["output"], rec["c"]["output"].sum(-1, True))


def test_float64_input_computes_in_float64() -> None:
    op = lif(tau=0.02, r=1.0, v_leak=0.0, v_threshold=0.5)  # float32 parameters
    x = torch.full((1, 5, 1), 1 / 3, dtype=torch.float64)
    out, rec = ir.interpret(single(op, (1,)), x, record=True)
    assert out.dtype == rec["n"]["v"].dtype == torch.float64
    a = math.exp(-DT / float(np.float32(0.02)))
    expected = [1 / 3 * (1 - a ** (t + 1)) for t in range(5)]
    np.testing.assert_allclose(rec["n"]["v"][0, :, 0].numpy(), expected, rtol=1e-12)
    out32 = ir.interpret(single(op, (1,)), x.float())
    assert out32.dtype == torch.float32


# -- differentiability ---------------------------------------------------------------


def test_surrogate_gradient_of_a_spike_near_threshold() -> None:
    tau, r, theta = 0.02, 2.0, 0.5
    a = math.exp(-DT / tau)
    drive = 0.95 * theta / ((1 - a) * r)  # v lands just below threshold
    x = torch.tensor([[[drive]]], dtype=torch.float64, requires_grad=True)
    tau_t = torch.tensor(tau, dtype=torch.float64, requires_grad=True)
    op = lif(r=f64(r), v_threshold=f64(theta))
    out = ir.interpret(single(op, (1,)), x, params={"n": {"tau": tau_t}})
    assert out.item() == 0.0
    out.sum().backward()
    v = (1 - a) * r * drive
    surrogate = 1 / (1 + 10 * abs((v - theta) / theta)) ** 2 / theta
    assert x.grad is not None
    assert tau_t.grad is not None
    assert x.grad.item() == pytest.approx(surrogate * (1 - a) * r, rel=1e-9)
    dv_dtau = -a * DT / tau**2 * r * drive
    assert tau_t.grad.item() == pytest.approx(surrogate * dv_dtau, rel=1e-9)


def test_surrogate_gradient_is_largest_at_threshold() -> None:
    op = lif(tau=f64(NO_MEMORY), v_threshold=f64(1.0))
    x = torch.tensor(
        [[[0.5, 0.99, 1.0, 1.01, 2.0]]], dtype=torch.float64, requires_grad=True
    )
    run(op, x).sum().backward()
    grad = x.grad[0, 0].tolist()
    assert grad[2] == pytest.approx(1.0)
    assert grad[0] < grad[1] < grad[2] > grad[3] > grad[4] > 0


def test_gradients_flow_to_inputs_and_overridden_parameters() -> None:
    rng = np.random.default_rng(11)
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(3,)))
    g.add("fc", nn.Linear(weight=rng.normal(size=(4, 3)).astype(np.float32)), ["x"])
    g.add("l", snn.LIF(tau=0.01, r=1.0, v_leak=0.0, v_threshold=0.2), ["fc"])
    g.add("o", snn.LI(tau=0.02, r=1.0, v_leak=0.0), ["l"])
    g.add("y", io.Output(), ["o"])
    x = torch.rand(2, 20, 3, requires_grad=True)
    weight = torch.tensor(g.op("fc").weight, requires_grad=True)
    threshold = torch.tensor(0.2, requires_grad=True)
    out = ir.interpret(
        g, x, params={"fc": {"weight": weight}, "l": {"v_threshold": threshold}}
    )
    out.sum().backward()
    for grad in (x.grad, weight.grad, threshold.grad):
        assert grad is not None
        assert torch.isfinite(grad).all()
        assert grad.abs().sum() > 0


def test_gradients_of_a_stateless_graph_match_torch_autograd() -> None:
    torch.manual_seed(5)
    first, second = torch.nn.Linear(3, 5), torch.nn.Linear(5, 2, bias=False)
    g = ir.Graph()
    g.add("x", io.Input(shape=(3,)))
    g.add("fc1", nn.Affine(weight=as_np(first.weight), bias=as_np(first.bias)), ["x"])
    g.add("relu", nn.ReLU(), ["fc1"])
    g.add("fc2", nn.Linear(weight=as_np(second.weight)), ["relu"])
    g.add("y", io.Output(), ["fc2"])
    x = torch.randn(2, 4, 3)
    weight = first.weight.detach().clone().requires_grad_(True)
    ir.interpret(g, x, params={"fc1": {"weight": weight}}).pow(2).sum().backward()
    second(torch.relu(first(x))).pow(2).sum().backward()
    torch.testing.assert_close(weight.grad, first.weight.grad)


def test_params_override_changes_the_forward_pass() -> None:
    g = single(nn.Linear(weight=np.eye(2, dtype=np.float32)), (2,), dt=None)
    x = torch.tensor([[[1.0, 2.0]]])
    swap = torch.tensor([[0.0, 1.0], [3.0, 0.0]])
    assert ir.interpret(g, x, params={"n": {"weight": swap}})[0, 0].tolist() == [2, 3]
    assert ir.interpret(g, x)[0, 0].tolist() == [1, 2]


def test_unknown_field_in_params_is_rejected() -> None:
    g = single(nn.Linear(weight=np.eye(2, dtype=np.float32)), (2,), dt=None)
    with pytest.raises(ir.VerifyError, match=r"unknown field.*wieght") as err:
        ir.interpret(g, torch.ones(1, 1, 2), params={"n": {"wieght": torch.eye(2)}})
    assert err.value.node == "n"


# -- vectorization -------------------------------------------------------------------


def test_a_batch_equals_its_samples_run_separately() -> None:
    torch.manual_seed(6)
    g = ir.Graph(dt=DT)
    g.add("x", io.Input(shape=(1, 6, 6)))
    g.add("conv", nn.Conv2d(weight=torch.randn(2, 1, 3, 3), padding=1), ["x"])
    g.add("pool", nn.AvgPool2d(kernel_size=2), ["conv"])
    g.add("flat", nn.Flatten(), ["pool"])
    g.add(
        "l",
        snn.LIF(
            tau=0.01, r=1.0, v_leak=0.0, v_threshold=0.5, reset="subtract", max_spikes=3
        ),
        ["flat"],
    )
    g.add("rec", nn.Linear(weight=torch.randn(18, 18) * 0.3), ["l"])
    g.connect("rec", "l", recurrent=True)
    g.add("d", snn.Delay(delay=DT), ["l"])
    g.add("y", io.Output(), ["d"])
    x = torch.rand(2, 12, 1, 6, 6) * 4
    both = ir.interpret(g, x)
    assert both.sum() > 0
    for b in range(2):
        torch.testing.assert_close(both[b : b + 1], ir.interpret(g, x[b : b + 1]))


# -- v_subtract: the potential one spike removes ----------------------------------------


def test_v_subtract_reproduces_a_reset_applied_after_the_decay() -> None:
    # snnTorch's default Leaky: mem = beta*mem + x - thr*S[t-1], spike when mem > thr;
    # the IR subtracts before the next decay, so removing thr/beta is the same.
    beta, thr = 0.8, 1.0
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 0.9, size=(3, 30, 4))
    mem = np.zeros((3, 4))
    last = np.zeros((3, 4))
    expected = np.zeros_like(x)
    for t in range(x.shape[1]):
        mem = beta * mem + x[:, t] - thr * last
        last = (mem > thr).astype(np.float64)
        expected[:, t] = last
    tau = -DT / math.log(beta)
    op = lif(
        tau=f64(tau),
        r=f64(1 / (1 - beta)),
        v_leak=f64(0.0),
        v_threshold=f64(thr),
        reset="subtract",
        v_subtract=f64(thr / beta),
    )
    got = run(op, torch.from_numpy(x)).numpy()
    assert expected.sum() > 10  # the test exercises resets
    assert np.array_equal(got, expected)


def test_v_subtract_sets_the_spike_count_with_several_spikes() -> None:
    # v jumps to 3.5 with theta = 1 and s = 0.75: n = floor((3.5 - 1) / 0.75) + 1 = 4,
    # leaving 3.5 - 4 * 0.75 = 0.5.
    op = snn.IF(
        r=f64(1 / DT),
        v_threshold=f64(1.0),
        reset="subtract",
        max_spikes=10,
        v_subtract=f64(0.75),
    )
    out = recorded(op, torch.tensor([[[3.5]]], dtype=torch.float64))
    assert out["output"].item() == 4
    assert out["v"].item() == pytest.approx(0.5)
    capped = op.replace(max_spikes=3)
    out = recorded(capped, torch.tensor([[[3.5]]], dtype=torch.float64))
    assert (out["output"].item(), out["v"].item()) == (3, pytest.approx(1.25))


def test_v_min_floors_the_membrane_after_the_reset() -> None:
    # Sinabs IAF with min_v_mem: v += x; n = floor(v / thr) (v > 0); v -= n thr;
    # v = max(v, v_min).
    rng = np.random.default_rng(7)
    x = rng.normal(0.0, 1.5, size=(2, 40, 3))
    v_min = np.array([-1.0, -0.25, 0.0])
    v = np.zeros((2, 3))
    expected = np.zeros_like(x)
    for t in range(x.shape[1]):
        v = v + x[:, t]
        n = np.where(v > 0, np.floor(v / 1.0), 0.0)
        v = np.maximum(v - n, v_min)
        expected[:, t] = n
    op = snn.IF(
        r=f64(1 / DT),
        v_threshold=f64(1.0),
        reset="subtract",
        max_spikes=100,
        v_min=f64(v_min),
    )
    got = run(op, torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got, expected)
    assert expected.max() > 1
    unfloored = run(op.replace(v_min=None), torch.from_numpy(x)).numpy()
    assert np.any(unfloored != expected)  # the floor matters here


def test_refire_offset_is_snntorchs_same_step_reset() -> None:
    # snnTorch Leaky, reset_delay=False: reset = [mem > thr]; mem = beta mem + x -
    # reset thr; spk = [mem > thr]; mem -= (spk - reset) thr.
    beta, thr = 0.9, 1.0
    rng = np.random.default_rng(8)
    x = rng.uniform(0, 2.5, size=(2, 40, 4))
    mem = np.zeros((2, 4))
    expected = np.zeros_like(x)
    for t in range(x.shape[1]):
        reset = (mem > thr).astype(np.float64)
        mem = beta * mem + x[:, t] - reset * thr
        spk = (mem > thr).astype(np.float64)
        mem = mem - (spk - reset) * thr
        expected[:, t] = spk
    op = lif(
        tau=f64(-DT / math.log(beta)),
        r=f64(1 / (1 - beta)),
        v_leak=f64(0.0),
        v_threshold=f64(thr),
        reset="subtract",
        refire_offset=f64(thr),
    )
    got = run(op, torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got, expected)
    plain = run(op.replace(refire_offset=None), torch.from_numpy(x)).numpy()
    assert np.any(plain != expected)  # the held threshold matters here


def test_rate_encode_is_seeded_bernoulli_at_the_clipped_rate() -> None:
    x = torch.tensor([0.0, 0.1, 0.3, 0.6, 2.0], dtype=torch.float64).expand(1, 4000, 5)
    op = snn.RateEncode(gain=1.0, seed=3)
    z = run(op, x.contiguous())
    assert set(torch.unique(z).tolist()) <= {0.0, 1.0}
    rates = z[0].mean(0).tolist()
    # Bernoulli(p) over 4,000 draws: within 4 standard deviations of p.
    for p, rate in zip([0.0, 0.1, 0.3, 0.6, 1.0], rates, strict=True):
        assert abs(rate - p) <= 4 * math.sqrt(p * (1 - p) / 4000) + 1e-12
    assert torch.equal(z, run(op, x.contiguous()))  # same seed, same spikes
    other = run(op.replace(seed=4), x.contiguous())
    assert not torch.equal(z, other)
