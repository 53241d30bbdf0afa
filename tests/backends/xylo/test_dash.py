"""Xylo dash conversions: nearest decay factor, round trips, errors instead of clamping."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.xylo.allocate import ResourceError
from backends.xylo.dash import (
    dash_to_decay,
    dash_to_tau,
    fit_dash,
    tau_to_dash,
    tau_to_decay,
)

DT = 1e-3


def test_dash_to_tau_matches_reference_table() -> None:
    # xylo.md §5: tau/dt = -1 / ln(1 - 2^-d).
    table = {1: 1.443, 2: 3.476, 3: 7.489, 4: 15.495, 5: 31.50, 6: 63.50}
    table |= {8: 255.5, 10: 1023.5, 15: 32767.5}
    for dash, ratio in table.items():
        assert dash_to_tau(dash, DT) / DT == pytest.approx(ratio, abs=5e-3)


def test_dash_to_tau_reproduces_the_decay_factor() -> None:
    dash = np.arange(1, 16)
    np.testing.assert_allclose(
        tau_to_decay(dash_to_tau(dash, DT), DT), dash_to_decay(dash), rtol=1e-12
    )


def test_dash_to_decay_is_a_bit_shift() -> None:
    # v - (v >> d) on a value divisible by 2^d.
    for d in range(16):
        v = 3 << 16
        assert v - (v >> d) == v * dash_to_decay(d)


def test_integer_dash_round_trips() -> None:
    dash = np.arange(1, 16)
    np.testing.assert_array_equal(tau_to_dash(dash_to_tau(dash, DT), DT), dash)


@given(st.floats(min_value=1.0001, max_value=4.0e4))
def test_dash_minimises_the_decay_error(ratio: float) -> None:
    tau = ratio * DT
    chosen = int(tau_to_dash(tau, DT))
    exact = math.exp(-DT / tau)
    errors = [abs((1 - 2.0**-d) - exact) for d in range(16)]
    assert errors[chosen] == pytest.approx(min(errors), rel=1e-9, abs=1e-15)
    assert 1 <= chosen <= 15


def test_convention_differs_from_log2_rounding_where_documented() -> None:
    # tau/dt = 5.5: log2 gives 2.46 -> 2, but 1 - 2^-3 is nearer to exp(-1/5.5).
    assert int(tau_to_dash(5.5 * DT, DT)) == 3
    assert int(tau_to_dash(2 * DT, DT)) == 1
    assert int(tau_to_dash(3 * DT, DT)) == 2


def test_fit_dash_reports_relative_errors() -> None:
    tau = np.array([2.0, 15.495, 20.0, 1000.0]) * DT
    fit = fit_dash(tau, DT)
    np.testing.assert_array_equal(fit.dash, [1, 4, 4, 10])
    expected = dash_to_decay(fit.dash) / np.exp(-DT / tau) - 1
    np.testing.assert_allclose(fit.decay_error, expected)
    np.testing.assert_allclose(fit.tau_error, dash_to_tau(fit.dash, DT) / tau - 1)
    assert abs(fit.tau_error[1]) < 1e-4
    assert fit.decay_error[0] == pytest.approx(0.5 / math.exp(-0.5) - 1)


def test_dash_shape_is_kept() -> None:
    tau = np.full((2, 3), 0.01)
    assert tau_to_dash(tau, DT).shape == (2, 3)


@pytest.mark.parametrize("ratio", [1.0, 0.5, 0.0, -1.0, float("nan")])
def test_tau_not_longer_than_dt_is_an_error(ratio: float) -> None:
    tau = np.array([0.01, ratio * DT, 0.02])
    with pytest.raises(ResourceError, match=r"tau_mem\[1\] = .* not longer than dt"):
        tau_to_dash(tau, DT, what="tau_mem")


@pytest.mark.parametrize("ratio", [5.0e4, 1.0e9, float("inf")])
def test_tau_beyond_the_dash_range_is_an_error(ratio: float) -> None:
    with pytest.raises(
        ResourceError, match=r"tau\[0\] = .* beyond the longest .*dash 15"
    ):
        tau_to_dash(np.array([ratio * DT]), DT)


def test_narrower_dash_register_limits_the_range() -> None:
    assert int(tau_to_dash(7.489 * DT, DT, dash_bits=2)) == 3
    with pytest.raises(ResourceError, match="2-bit dash"):
        tau_to_dash(100 * DT, DT, dash_bits=2)


def test_dt_must_be_positive() -> None:
    with pytest.raises(ValueError, match="dt"):
        tau_to_dash(0.01, 0.0)
