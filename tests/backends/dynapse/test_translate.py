"""SNN parameters to bias currents on the grid: time constants survive the snap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.dynapse.params import KAPPA_N, KAPPA_P, U_T
from backends.dynapse.translate import (
    BIAS_NAMES,
    generator_of,
    parameter_groups,
    snap_params,
)


@given(
    tau_mem=st.floats(2e-3, 0.2),
    tau_syn=st.floats(1e-3, 0.1),
    threshold=st.floats(0.1, 10.0),
)
def test_time_constants_match_within_the_grid_resolution(
    tau_mem: float, tau_syn: float, threshold: float
) -> None:
    (group,) = parameter_groups(
        np.full(3, tau_mem), np.full(3, tau_syn), np.full(3, threshold), np.zeros(3)
    )
    p = group.params
    # Independent: tau = U_T C / (kappa I) with the mean kappa the params use.
    kappa = (KAPPA_N + KAPPA_P) / 2
    for block, tau, field in (
        ("mem", tau_mem, "itau_mem"),
        ("ampa", tau_syn, "itau_ampa"),
        ("gaba", tau_syn, "itau_gaba"),
    ):
        current = float(np.asarray(getattr(p, field)))
        c = float(np.asarray(getattr(p, f"c_{block}")))
        got = U_T * c / (kappa * current)
        step = float(generator_of(field).resolution(U_T * c / (kappa * tau)))
        assert abs(got / tau - 1) <= step, (block, tau, got, step)
    code = group.codes["SOIF_SPKTHR_P"]
    assert 0 <= code[0] <= 5
    assert 0 <= code[1] <= 255


def test_every_current_is_a_grid_point() -> None:
    (group,) = parameter_groups(
        np.array([0.03]), None, np.array([2.0]), np.array([0.5])
    )
    snapped_again, codes = snap_params(group.params)
    for field, bias in BIAS_NAMES.items():
        assert float(np.asarray(getattr(snapped_again, field))) == float(
            np.asarray(getattr(group.params, field))
        )
        coarse, fine = codes[bias]
        expected = generator_of(field).current_of(coarse, fine)
        assert float(np.asarray(getattr(group.params, field))) == pytest.approx(
            float(expected), rel=1e-12
        )


def test_groups_split_a_layer_by_parameters() -> None:
    tau = np.array([0.02, 0.05, 0.02, 0.05, 0.02])
    groups = parameter_groups(tau, None, np.ones(5), np.zeros(5), layer="h1")
    assert [g.neurons.tolist() for g in groups] == [[0, 2, 4], [1, 3]]
    assert groups[0].source[0] == 0.02
    with pytest.raises(ValueError, match=r"layer 'h1' neuron 2: .*bias -1"):
        parameter_groups(
            tau, None, np.ones(5), np.array([0, 0, -1, 0, 0.0]), layer="h1"
        )
