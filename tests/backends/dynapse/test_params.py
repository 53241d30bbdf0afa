"""DynapseParams defaults, tau/current conversions and the LIF translation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from backends.dynapse.params import (
    SYNAPSE_TYPES,
    DynapseParams,
    current_from_duration,
    current_from_tau,
    duration_from_current,
    params_from_lif,
    tau_from_current,
)

# Derived default currents, as printed in reference dynapse2.md §2.3 (4 digits).
REFERENCE_CURRENTS = {
    "itau_mem": 5.319e-12,
    "igain_mem": 21.28e-12,
    "itau_ampa": 86.88e-12,
    "igain_ampa": 8.688e-9,
    "itau_gaba": 88.65e-12,
    "igain_gaba": 8.865e-9,
    "itau_nmda": 88.65e-12,
    "igain_nmda": 8.865e-9,
    "itau_ahp": 28.37e-12,
    "igain_ahp": 28.37e-12,
    "ipulse": 35e-9,
    "ipulse_ahp": 350e-9,
    "iref": 1.05e-9,
    "ispkthr": 100e-9,
    "idc": 0.5e-12,
    "if_nmda": 0.5e-12,
    "iw_ahp": 0.5e-12,
}


@pytest.mark.parametrize(("name", "expected"), sorted(REFERENCE_CURRENTS.items()))
def test_default_currents_match_the_reference(name: str, expected: float) -> None:
    assert getattr(DynapseParams(), name) == pytest.approx(expected, rel=5e-4)


def test_default_time_constants_are_the_design_values() -> None:
    p = DynapseParams()
    assert p.kappa == pytest.approx(0.705)
    assert p.tau("mem") == pytest.approx(20e-3)
    assert p.tau("ahp") == pytest.approx(50e-3)
    for syn in SYNAPSE_TYPES:
        assert p.tau(syn) == pytest.approx(10e-3)
    assert p.t_pulse == pytest.approx(10e-6)
    assert p.t_pulse_ahp == pytest.approx(1e-6)
    assert p.t_ref == pytest.approx(1e-3)


def test_tau_from_current_is_the_subthreshold_formula() -> None:
    # tau = U_T C / (kappa I_tau), written out with the numbers.
    assert tau_from_current(5e-12, 2e-12, 0.7, 0.026) == pytest.approx(
        0.026 * 2e-12 / (0.7 * 5e-12)
    )
    assert duration_from_current(1e-9, 1.5e-12, 0.7) == pytest.approx(1.05e-3)
    assert current_from_duration(1.05e-3, 1.5e-12, 0.7) == pytest.approx(1e-9)


@given(
    tau=st.floats(1e-5, 10.0),
    c=st.floats(1e-13, 1e-10),
    kappa=st.floats(0.3, 0.95),
)
def test_current_from_tau_inverts_tau_from_current(
    tau: float, c: float, kappa: float
) -> None:
    i_tau = current_from_tau(tau, c, kappa)
    assert tau_from_current(i_tau, c, kappa) == pytest.approx(tau, rel=1e-12)


def test_conversions_work_on_arrays_and_tensors() -> None:
    taus = np.array([5e-3, 10e-3, 20e-3])
    currents = current_from_tau(taus, 3e-12)
    np.testing.assert_allclose(tau_from_current(currents, 3e-12), taus)
    as_tensor = current_from_tau(torch.tensor(taus), 3e-12)
    np.testing.assert_allclose(as_tensor.numpy(), currents)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"itau_mem": -1e-12}, "itau_mem must be finite and > 0; got -1e-12"),
        ({"c_mem": 0.0}, "c_mem must be finite and > 0"),
        ({"ispkthr": float("nan")}, "ispkthr must be finite"),
        ({"igain_ampa": np.array([1e-9, 2e-9, -3e-9])}, r"at index \(2,\)"),
        ({"idc": -1e-12}, "idc must be finite and >= 0"),
        ({"itau_gaba": np.ones((2, 3, 4))}, "shape"),
        ({"iref": "fast"}, "not numeric"),
    ],
)
def test_bad_values_name_the_field(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DynapseParams(**changes)


def test_zero_is_allowed_for_additive_currents() -> None:
    p = DynapseParams(idc=0.0, iw_ahp=0.0, if_nmda=0.0)
    assert p.idc == 0.0


def test_replace_rejects_unknown_fields_listing_valid_ones() -> None:
    with pytest.raises(
        ValueError, match=r"unknown DynapseParams field\(s\) \['tau_mem'\]"
    ):
        DynapseParams().replace(tau_mem=0.02)
    assert DynapseParams().replace(idc=1e-9).idc == 1e-9


def test_tau_rejects_unknown_block() -> None:
    with pytest.raises(ValueError, match="unknown block 'soma'"):
        DynapseParams().tau("soma")


def test_tensor_fields_keep_their_gradient() -> None:
    itau = torch.tensor([5e-12, 6e-12], dtype=torch.float64, requires_grad=True)
    tau = DynapseParams(itau_mem=itau).tau("mem")
    tau.sum().backward()
    assert itau.grad is not None
    assert torch.all(itau.grad < 0)


def test_params_from_lif_sets_time_constants_threshold_and_bias() -> None:
    p = params_from_lif(
        np.array([10e-3, 30e-3]),
        4e-3,
        v_threshold=2.0,
        bias=np.array([0.0, 0.5]),
        i_scale=1e-9,
        t_ref=2e-3,
        t_pulse=20e-6,
    )
    np.testing.assert_allclose(p.tau("mem"), [10e-3, 30e-3])
    np.testing.assert_allclose(np.asarray(p.igain_mem) / np.asarray(p.itau_mem), 4.0)
    for syn in SYNAPSE_TYPES:
        assert p.tau(syn) == pytest.approx(4e-3)
        gain = getattr(p, f"igain_{syn}") / getattr(p, f"itau_{syn}")
        assert gain == pytest.approx(100.0)
    assert p.ispkthr == pytest.approx(2e-9)
    np.testing.assert_allclose(p.idc, [0.0, 0.5e-9])
    assert p.t_ref == pytest.approx(2e-3)
    assert p.t_pulse == pytest.approx(20e-6)
    # Layout constants and AHP come from the base.
    base = DynapseParams()
    assert p.c_mem == base.c_mem
    assert p.iw_ahp == base.iw_ahp


def test_params_from_lif_without_tau_syn_keeps_the_base_synapses() -> None:
    base = DynapseParams(itau_gaba=50e-12)
    p = params_from_lif(15e-3, base=base)
    assert p.itau_gaba == 50e-12
    assert p.tau("mem") == pytest.approx(15e-3)
    assert math.isclose(p.itau_ampa, base.itau_ampa)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tau_mem": -1e-3}, "tau_mem must be finite and > 0"),
        ({"tau_mem": 1e-2, "tau_syn": 0.0}, "tau_syn must be finite and > 0"),
        ({"tau_mem": 1e-2, "bias": np.array([0.1, -0.2])}, r"bias .* index \(1,\)"),
        ({"tau_mem": 1e-2, "v_threshold": 0.0}, "v_threshold must be"),
        ({"tau_mem": 1e-2, "i_scale": float("inf")}, "i_scale must be"),
    ],
)
def test_params_from_lif_rejects_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        params_from_lif(**kwargs)
