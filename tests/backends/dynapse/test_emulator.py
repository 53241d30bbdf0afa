"""DynapseEmulator against closed forms, the reference's Rockpool runs and itself."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from backends.dynapse import (
    DynapseEmulator,
    DynapseParams,
    chip_seeds,
    draw_chip,
    draw_chips,
)
from backends.dynapse.emulator import simulate
from backends.dynapse.params import (
    SYNAPSE_TYPES,
    current_from_duration,
    current_from_tau,
)

KAPPA = (0.75 + 0.66) / 2  # reference §2.3, written out independently of params.py
U_T = 25e-3
I_0 = 0.5e-12


def silent(steps: int, n_in: int = 1, batch: int = 1) -> np.ndarray:
    return np.zeros((batch, steps, n_in), np.float32)


def one_input(n_in: int = 1, n: int = 1, syn: int = 0, w: float = 10e-9) -> np.ndarray:
    weights = np.zeros((n_in, n, 4), np.float32)
    weights[0, 0, syn] = w
    return weights


def random_network(
    seed: int, n_in: int = 12, n: int = 24, all_types: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights with every synapse type (or AMPA/GABA only) and a Poisson raster."""
    rng = np.random.default_rng(seed)
    w_in = np.zeros((n_in, n, 4), np.float32)
    w_in[..., 0] = (rng.random((n_in, n)) < 0.5) * rng.uniform(5e-9, 20e-9, (n_in, n))
    w_rec = np.zeros((n, n, 4), np.float32)
    kinds = rng.integers(0, 4, (n, n)) if all_types else 2 * rng.integers(0, 2, (n, n))
    mask = rng.random((n, n)) < 0.25
    for s in range(4):
        w_rec[..., s] = (mask & (kinds == s)) * rng.uniform(1e-9, 10e-9, (n, n))
    raster = (rng.random((3, 120, n_in)) < 0.05).astype(np.float32)
    return w_in, w_rec, raster


def rate_hz(spikes: torch.Tensor, dt: float = 1e-3) -> np.ndarray:
    """Mean rate per chip over samples, steps and neurons."""
    return spikes.sum(dim=(1, 2, 3)).numpy() / (spikes[0].numel() * dt)


# --- synapses against the closed form -----------------------------------------------


@pytest.mark.parametrize("syn", range(4))
@pytest.mark.parametrize("substeps", [1, 4])
def test_synapse_decays_with_tau_from_its_leak_current(syn: int, substeps: int) -> None:
    name = SYNAPSE_TYPES[syn]
    itau, igain, w = 60e-12, 3e-9, 7e-9
    p = DynapseParams(**{f"itau_{name}": itau, f"igain_{name}": igain})
    x = silent(40)
    x[0, 0, 0] = 1
    run = simulate(p, one_input(syn=syn, w=w), x, substeps=substeps, record=True)
    assert run.isyn is not None
    isyn = run.isyn[0, 0, :, 0, syn].double().numpy()
    # Independent closed form: tau = U_T C / (kappa I_tau), pulse 10 us, jump at the
    # first substep of bin 0 on top of the I_0 floor, then exact exponential decay;
    # the record is the state at the end of each bin.
    c = {"ampa": 24.5e-12, "nmda": 25e-12, "gaba": 25e-12, "shunt": 24.5e-12}[name]
    tau = U_T * c / (KAPPA * itau)
    jump = (1 - math.exp(-10e-6 / tau)) * igain / itau * w
    a = math.exp(-1e-3 / tau)
    n = np.arange(40)
    expected = np.maximum(a ** (n + 1) * I_0 + a ** (n + 1 - 1 / substeps) * jump, I_0)
    np.testing.assert_allclose(isyn, expected, rtol=2e-5)
    others = [s for s in range(4) if s != syn]
    np.testing.assert_allclose(run.isyn[0, 0, :, 0, others].numpy(), I_0, rtol=1e-6)


def test_dynapsim_synapse_matches_the_reference_sanity_run() -> None:
    # Reference §2.3: one spike of weight 1 (I_scale 10 nA) raises I_syn by 1.0 nA
    # and ten steps later it has decayed to 0.368 of the jump.
    x = silent(12)
    x[0, 0, 0] = 1
    run = simulate(DynapseParams(), one_input(w=10e-9), x, mode="dynapsim", record=True)
    assert run.isyn is not None
    assert run.isyn.shape == (1, 1, 12, 1, 1)
    isyn = run.isyn[0, 0, :, 0, 0].numpy()
    assert isyn[0] == pytest.approx(1.0e-9, rel=1e-3)
    assert isyn[10] / isyn[0] == pytest.approx(0.368, abs=1e-3)


# --- membrane: rates, refractoriness, reset -----------------------------------------


def test_dynapsim_dc_rates_reproduce_rockpool() -> None:
    # Reference §2.3 [run]: rockpool 3.1.0, default parameters, constant I_dc.
    idc = np.array([0.1e-9, 1e-9, 5e-9, 10e-9, 30e-9, 100e-9])
    expected = [13.5, 35.5, 62.5, 83.0, 125.0, 166.5]
    p = DynapseParams(idc=idc[:, None])  # one "chip" per current
    run = simulate(p, np.zeros((1, 1, 4)), silent(2000), mode="dynapsim")
    np.testing.assert_array_equal(rate_hz(run.spikes), expected)


@pytest.mark.parametrize("mode", ["dynapse2", "dynapsim"])
def test_rate_increases_with_dc_current(mode: str) -> None:
    idc = np.geomspace(0.05e-9, 300e-9, 12)
    run = simulate(
        DynapseParams(idc=idc[:, None]), np.zeros((1, 1, 4)), silent(1000), mode=mode
    )
    rates = rate_hz(run.spikes)
    assert np.all(np.diff(rates) >= 0)
    assert rates[0] < rates[-1] / 5


@pytest.mark.parametrize("t_ref", [2e-3, 5e-3, 10e-3])
@pytest.mark.parametrize("mode", ["dynapse2", "dynapsim"])
def test_refractory_period_bounds_the_rate(t_ref: float, mode: str) -> None:
    p = DynapseParams(idc=2e-6, iref=current_from_duration(t_ref, 1.5e-12, 0.7))
    run = simulate(p, np.zeros((1, 1, 4)), silent(1000), mode=mode)
    counts = run.spikes[0, 0, :, 0].numpy()
    # NOTE: DynapSim's count rule can emit several spikes in one step (§2.2), so
    # there the refractory period bounds the rate of spiking steps, not of spikes.
    events = (counts > 0).sum() / 1.0
    assert events <= 1 / t_ref
    assert events >= 0.5 / t_ref  # the bound binds: the drive alone would fire faster
    if mode == "dynapse2":
        assert counts.max() == 1
    steps = np.flatnonzero(counts)
    # Blocked for ceil(t_ref / dt) steps after each spike (reference §2.2).
    assert np.diff(steps).min() > round(t_ref / 1e-3)


def test_without_refractoriness_the_drive_fires_faster() -> None:
    fast = DynapseParams(idc=2e-6, iref=current_from_duration(1e-3, 1.5e-12, 0.7))
    run = simulate(fast, np.zeros((1, 1, 4)), silent(1000))
    assert rate_hz(run.spikes)[0] > 1 / 10e-3


@pytest.mark.parametrize("mode", ["dynapse2", "dynapsim"])
def test_membrane_resets_to_i0_after_a_spike(mode: str) -> None:
    p = DynapseParams(idc=5e-9)
    run = simulate(p, np.zeros((1, 1, 4)), silent(300), mode=mode, record=True)
    assert run.imem is not None
    spikes = run.spikes[0, 0, :, 0].numpy()
    imem = run.imem[0, 0, :, 0].numpy()
    fired = np.flatnonzero(spikes)
    assert len(fired) >= 5
    np.testing.assert_array_equal(imem[fired], np.float32(I_0))
    # Between spikes the membrane stays below threshold.
    assert np.all(imem[spikes == 0] < p.ispkthr)
    # After the reset it charges up again.
    assert imem[fired[0] + 3] > 10 * I_0


def test_dynapsim_may_count_several_spikes_per_step_dynapse2_one() -> None:
    # Reference §2.2: n = max(0, ceil(ln(I_mem / I_spkthr))) can exceed 1.
    x = silent(20)
    x[0, 0, 0] = 40
    w = one_input(w=200e-9)
    p = DynapseParams(igain_mem=2e-9)
    sim = simulate(p, w, x, mode="dynapsim")
    full = simulate(p, w, x, mode="dynapse2")
    assert sim.spikes.max() >= 2
    assert full.spikes.max() == 1


# --- the modes differ where the reference says they should (§2.4) -------------------


def test_inhibition_alone_is_ignored_by_dynapsim_but_not_by_dynapse2() -> None:
    # §2.4.2: the net input is rectified before charging, so GABA spikes arriving
    # without excitation in the same step change nothing in DynapSim.
    rng = np.random.default_rng(0)
    x = (rng.random((2, 400, 1)) < 0.2).astype(np.float32)
    p = DynapseParams(idc=3e-9)
    gaba = one_input(syn=2, w=50e-9)
    for mode, changed in (("dynapsim", False), ("dynapse2", True)):
        with_gaba = simulate(p, gaba, x, mode=mode).spikes
        without = simulate(p, np.zeros_like(gaba), x, mode=mode).spikes
        assert torch.equal(with_gaba, without) != changed
    inhibited = simulate(p, gaba, x).spikes.sum()
    assert inhibited < 0.7 * simulate(p, np.zeros_like(gaba), x).spikes.sum()


def test_dynapsim_subtracts_the_leak_twice() -> None:
    # §2.4.1: with I_tau < I_dc < 2 I_tau the DC cannot charge DynapSim's membrane
    # (I_in - I_leak <= 0 already), but it does charge the chip's.
    p = DynapseParams(idc=1.6 * DynapseParams().itau_mem)
    runs = {
        mode: simulate(p, np.zeros((1, 1, 4)), silent(500), mode=mode, record=True)
        for mode in ("dynapse2", "dynapsim")
    }
    imem = {mode: run.imem[0, 0, -1, 0].item() for mode, run in runs.items()}
    assert imem["dynapsim"] == pytest.approx(I_0)
    assert imem["dynapse2"] > 5 * I_0


def test_dynapsim_has_one_synapse_with_the_ampa_currents() -> None:
    # §2.4.3: all dendrite types share one DPI; NMDA weights act like AMPA ones and
    # the other types' time constants are unused.
    rng = np.random.default_rng(1)
    x = (rng.random((1, 300, 1)) < 0.1).astype(np.float32)
    p = DynapseParams(itau_nmda=20e-12, itau_gaba=300e-12)
    ampa = simulate(p, one_input(syn=0), x, mode="dynapsim", record=True)
    nmda = simulate(p, one_input(syn=1), x, mode="dynapsim", record=True)
    assert torch.equal(ampa.isyn, nmda.isyn)
    full_nmda = simulate(p, one_input(syn=1), x, record=True)
    full_ampa = simulate(p, one_input(syn=0), x, record=True)
    assert not torch.equal(full_ampa.spikes, full_nmda.spikes)


# --- batching, determinism, delivery paths ------------------------------------------


@pytest.mark.parametrize("mode", ["dynapse2", "dynapsim"])
def test_batch_of_chips_equals_chips_one_by_one(mode: str) -> None:
    w_in, w_rec, x = random_network(0)
    nominal = DynapseParams(if_nmda=2e-12)
    seeds = chip_seeds(3, 3)
    together = DynapseEmulator(
        draw_chips(nominal, 24, seeds), w_in, w_rec, mode=mode
    ).run(x, record=True)
    assert together.spikes.shape == (3, 3, 120, 24)
    assert together.spikes.sum() > 0
    for k, seed in enumerate(seeds):
        alone = DynapseEmulator(draw_chip(nominal, 24, seed), w_in, w_rec, mode=mode)
        single = alone.run(x, record=True)
        assert torch.equal(together.spikes[k], single.spikes[0])
        assert torch.equal(together.imem[k], single.imem[0])


def test_batch_of_samples_equals_samples_one_by_one() -> None:
    w_in, w_rec, x = random_network(1)
    emulator = DynapseEmulator(DynapseParams(), w_in, w_rec)
    together = emulator.run(x).spikes
    for b in range(x.shape[0]):
        assert torch.equal(together[:, b], emulator.run(x[b : b + 1]).spikes[:, 0])


def test_per_chip_inputs() -> None:
    w_in, w_rec, x = random_network(2)
    params = draw_chips(DynapseParams(), 24, [1, 2])
    emulator = DynapseEmulator(params, w_in, w_rec)
    per_chip = emulator.run(np.stack([x, x[::-1]])).spikes
    shared = emulator.run(x).spikes
    assert torch.equal(per_chip[0], shared[0])
    assert torch.equal(per_chip[1], emulator.run(x[::-1].copy()).spikes[1])
    with pytest.raises(
        ValueError, match="spikes_in has 3 chips but the parameters have 2"
    ):
        emulator.run(np.stack([x, x, x]))


def test_same_chip_same_output() -> None:
    w_in, w_rec, x = random_network(3)
    a = DynapseEmulator(draw_chip(DynapseParams(), 24, 5), w_in, w_rec).run(x)
    b = DynapseEmulator(draw_chip(DynapseParams(), 24, 5), w_in, w_rec).run(x)
    c = DynapseEmulator(draw_chip(DynapseParams(), 24, 6), w_in, w_rec).run(x)
    assert torch.equal(a.spikes, b.spikes)
    assert not torch.equal(a.spikes, c.spikes)


@pytest.mark.parametrize("mode", ["dynapse2", "dynapsim"])
def test_dense_sparse_and_gradient_paths_agree(mode: str) -> None:
    w_in, w_rec, x = random_network(4)
    params = draw_chips(DynapseParams(if_nmda=2e-12), 24, [8, 9])
    sparse = DynapseEmulator(params, w_in, w_rec, mode=mode, delivery="sparse")
    dense = DynapseEmulator(params, w_in, w_rec, mode=mode, delivery="dense")
    grad_in = torch.tensor(w_in, requires_grad=True)
    graded = DynapseEmulator(params, grad_in, w_rec, mode=mode)
    reference = sparse.run(x, record=True)
    assert torch.equal(dense.run(x).spikes, reference.spikes)
    with_grad = graded.run(x, record=True)
    assert with_grad.spikes.requires_grad
    assert torch.equal(with_grad.spikes.detach(), reference.spikes)
    torch.testing.assert_close(
        with_grad.imem.detach(),
        reference.imem,
        rtol=1e-4,
        atol=1e-15,
    )


def test_record_shapes_and_unused_synapses_rest_at_i0() -> None:
    w_in, w_rec, x = random_network(5, all_types=False)  # AMPA and GABA only
    run = DynapseEmulator(DynapseParams(), w_in, w_rec).run(x, record=True)
    assert run.imem is not None
    assert run.iahp is not None
    assert run.isyn is not None
    assert run.imem.shape == run.iahp.shape == (1, 3, 120, 24)
    assert run.isyn.shape == (1, 3, 120, 24, 4)
    np.testing.assert_array_equal(run.isyn[..., [1, 3]].numpy(), np.float32(I_0))
    assert run.isyn[..., 0].max() > 100 * I_0
    assert DynapseEmulator(DynapseParams(), w_in, w_rec).run(x).imem is None


def test_ahp_adapts_the_rate() -> None:
    base = DynapseParams(idc=5e-9)
    # A 100 us AHP pulse and gain 10: each spike adds about 1 nA to I_ahp.
    adapting = base.replace(
        iw_ahp=50e-9,
        igain_ahp=10 * current_from_tau(50e-3, 40e-12),
        ipulse_ahp=current_from_duration(100e-6, 0.5e-12, 0.7),
    )
    plain = simulate(base, np.zeros((1, 1, 4)), silent(600), record=True)
    slowed = simulate(adapting, np.zeros((1, 1, 4)), silent(600), record=True)
    assert slowed.iahp.max() > 100 * I_0
    assert slowed.spikes.sum() < plain.spikes.sum()
    # Adaptation: later inter-spike intervals are longer than the first.
    steps = np.flatnonzero(slowed.spikes[0, 0, :, 0].numpy())
    assert np.diff(steps)[-1] > np.diff(steps)[0]


# --- gradients -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["dynapse2", "dynapsim"])
def test_gradient_reaches_weights_and_parameters(mode: str) -> None:
    w_in, w_rec, x = random_network(6)
    # Parametrize in nA so the gradients are of moderate size.
    w_in_na = torch.tensor(w_in * 1e9, requires_grad=True)
    w_rec_na = torch.tensor(w_rec * 1e9, requires_grad=True)
    itau_mem = torch.tensor(DynapseParams().itau_mem, requires_grad=True)
    params = DynapseParams(itau_mem=itau_mem)
    run = DynapseEmulator(params, w_in_na * 1e-9, w_rec_na * 1e-9, mode=mode).run(x)
    run.spikes.sum().backward()
    for grad in (w_in_na.grad, w_rec_na.grad, itau_mem.grad):
        assert grad is not None
        assert torch.isfinite(grad).all()
        assert grad.abs().sum() > 0
    # Only existing input synapses matter for the AMPA input weights' gradient sign:
    # more excitation, more spikes.
    assert w_in_na.grad[..., 0].sum() > 0


def test_no_gradient_path_without_requires_grad() -> None:
    w_in, w_rec, x = random_network(7)
    run = DynapseEmulator(DynapseParams(), w_in, w_rec).run(x)
    assert not run.spikes.requires_grad
    with torch.no_grad():
        graded = torch.tensor(w_in, requires_grad=True)
        assert (
            not DynapseEmulator(DynapseParams(), graded, w_rec)
            .run(x)
            .spikes.requires_grad
        )


# --- input validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"weights_in": -np.ones((1, 2, 4))},
            r"weights_in\[0, 0, 0\] \(source 0, neuron 0, ampa\)",
        ),
        (
            {"weights_in": np.ones((1, 2, 3))},
            r"weights_in must have shape \(N_in, N, 4\)",
        ),
        (
            {"weights_rec": np.ones((3, 3, 4))},
            r"weights_rec must have shape \(2, 2, 4\)",
        ),
        ({"dt": 0.0}, "dt must be finite and > 0"),
        ({"substeps": 0}, "substeps must be an integer >= 1"),
        (
            {"mode": "rockpool"},
            "unknown mode 'rockpool'; valid: \\['dynapse2', 'dynapsim'\\]",
        ),
        ({"delivery": "csr"}, "unknown delivery 'csr'"),
        (
            {"params": DynapseParams(idc=np.ones(3) * 1e-12)},
            r"DynapseParams.idc has shape \(3,\)",
        ),
        (
            {
                "params": DynapseParams(
                    idc=np.ones((2, 2)) * 1e-12, iref=np.ones((3, 2))
                )
            },
            "DynapseParams.idc has 2 chips; other fields have 3",
        ),
    ],
)
def test_bad_configuration_raises_value_error(kwargs: dict, message: str) -> None:
    args = {"params": DynapseParams(), "weights_in": np.ones((1, 2, 4)) * 1e-9}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        DynapseEmulator(**args)


@pytest.mark.parametrize(
    ("raster", "message"),
    [
        (np.zeros((2, 5)), r"spikes_in must have shape \(B, T, 1\)"),
        (np.zeros((1, 5, 2)), r"spikes_in must have shape"),
        (-np.ones((1, 5, 1)), r"spike counts >= 0; got -1.0 at .* \(0, 0, 0, 0\)"),
        (np.zeros((1, 0, 1)), r"empty chip, sample or time axis: \(1, 1, 0, 1\)"),
    ],
)
def test_bad_input_raster_raises_value_error(raster: np.ndarray, message: str) -> None:
    emulator = DynapseEmulator(DynapseParams(), np.ones((1, 2, 4)) * 1e-9)
    with pytest.raises(ValueError, match=message):
        emulator.run(raster)
