"""Dynap-SE2 bias generator: the grid's shape, nearest-code snapping, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.dynapse.biasgen import (
    BASE_WEIGHT,
    N_COARSE,
    N_FINE,
    N_TYPE,
    P_TYPE,
    SCALE_FACTORS,
    BiasGenerator,
    current_of,
    for_bias,
    snap,
)

GENERATORS = [N_TYPE, P_TYPE, BASE_WEIGHT, for_bias("SOIF_LEAK_N")]
COARSE, FINE = np.divmod(np.arange(N_COARSE * N_FINE), N_FINE)


def brute_force_error(generator: BiasGenerator, current: float) -> float:
    """Smallest |ln(I(c, f) / current)| over all 6 x 256 codes (no sorting, no search)."""
    every_code = generator.current_of(COARSE, FINE)
    return float(np.min(np.abs(np.log(every_code / current))))


@pytest.mark.parametrize("generator", GENERATORS, ids=lambda g: g.name)
def test_current_increases_with_fine_within_each_coarse(generator: BiasGenerator):
    currents = generator.current_of(COARSE, FINE).reshape(N_COARSE, N_FINE)
    assert np.all(np.diff(currents, axis=1) > 0)
    # Coarse ranges step up by about x8 at full scale (dynapse2.md §1).
    ratios = currents[1:, -1] / currents[:-1, -1]
    assert np.all((ratios > 7.5) & (ratios < 8.5))


def test_full_scale_and_floor_are_the_reference_figures():
    n_full = N_TYPE.current_of(np.arange(N_COARSE), N_FINE - 1)
    np.testing.assert_allclose(
        n_full, [71.8e-12, 0.573e-9, 4.57e-9, 36.4e-9, 290e-9, 2.28e-6]
    )
    p_full = P_TYPE.current_of([0, N_COARSE - 1], N_FINE - 1)
    np.testing.assert_allclose(p_full, [66.9e-12, 2.25e-6])
    for generator in (N_TYPE, P_TYPE):
        floor = generator.current_of(np.arange(N_COARSE), 0)
        assert np.all((floor >= 0.4e-12) & (floor <= 1.1e-12))
    # Base weights: P type, scale 0.22.
    assert BASE_WEIGHT.max_current == pytest.approx(0.22 * 2.25e-6)
    assert current_of(5, 255) == pytest.approx(0.22 * 2.25e-6)


# (samna bias, default current in A, the reference's code) -- dynapse2.md §1.
REFERENCE_CODES = [
    ("SOIF_LEAK_N", 5.319e-12, (0, 29)),
    ("SOIF_GAIN_N", 21.28e-12, (0, 71)),
    ("DEAM_ETAU_P", 86.88e-12, (1, 208)),
    ("DEAM_EGAIN_P", 8.688e-9, (3, 92)),
    ("SOIF_SPKTHR_P", 100e-9, (4, 243)),
    ("SYPD_EXT_N", 35e-9, (4, 32)),
    ("SYAM_W0_P", 1e-9, (3, 31)),
    ("SYAM_W1_P", 2e-9, (3, 67)),
    ("SYAM_W2_P", 4e-9, (3, 138)),
    ("SYAM_W3_P", 8e-9, (4, 31)),
    ("SOIF_DC_P", 0.5e-12, (0, 4)),
]


@pytest.mark.parametrize(("bias", "current", "code"), REFERENCE_CODES)
def test_model_reproduces_the_reference_default_codes(
    bias: str, current: float, code: tuple[int, int]
):
    generator = for_bias(bias)
    decoded = float(generator.current_of(*code))
    # The Idc default sits at the floor, where the reference itself reports 7 %.
    assert decoded == pytest.approx(current, rel=0.10 if bias == "SOIF_DC_P" else 0.07)
    c, f, _ = generator.snap(current)
    assert int(c) == code[0]
    assert abs(int(f) - code[1]) <= 5


@given(exponent=st.floats(-13.0, np.log10(BASE_WEIGHT.max_current)))
def test_snap_picks_the_nearest_code_in_log_error(exponent: float):
    current = 10.0**exponent
    c, f, snapped = snap(current)
    assert float(snapped) == float(BASE_WEIGHT.current_of(c, f))
    error = abs(np.log(float(snapped) / current))
    assert error <= brute_force_error(BASE_WEIGHT, current) + 1e-12


@given(
    fraction=st.floats(0.0, 1.0),
    generator=st.sampled_from(GENERATORS),
)
def test_snap_matches_brute_force_on_every_generator(
    fraction: float, generator: BiasGenerator
):
    lo, hi = np.log(generator.min_current), np.log(generator.max_current)
    current = float(np.exp(lo + fraction * (hi - lo)))
    snapped = float(generator.snap(current)[2])
    error = abs(np.log(snapped / current))
    assert error <= brute_force_error(generator, current) + 1e-12


def test_grid_points_snap_to_themselves_vectorized():
    currents = BASE_WEIGHT.current_of(COARSE, FINE)
    c, f, snapped = BASE_WEIGHT.snap(currents.reshape(N_COARSE, N_FINE))
    assert c.shape == f.shape == snapped.shape == (N_COARSE, N_FINE)
    np.testing.assert_array_equal(snapped.ravel(), currents)
    # Equal currents (every fine 0 is the floor) take the lowest coarse code.
    assert np.all(c[:, 0] == 0)
    assert np.all(f[:, 0] == 0)
    assert np.all(c[:, 1:].ravel() == COARSE.reshape(N_COARSE, N_FINE)[:, 1:].ravel())


def test_zero_snaps_to_the_floor_and_the_maximum_to_the_top_code():
    c, f, snapped = snap(0.0)
    assert (int(c), int(f), float(snapped)) == (0, 0, BASE_WEIGHT.min_current)
    c, f, snapped = snap(BASE_WEIGHT.max_current)
    assert (int(c), int(f)) == (N_COARSE - 1, N_FINE - 1)


def test_resolution_is_fine_above_the_lowest_eighth():
    currents = np.geomspace(
        float(BASE_WEIGHT.current_of(0, 32)), BASE_WEIGHT.max_current, 3000
    )
    step = BASE_WEIGHT.resolution(currents)
    assert np.all(step <= 1 / 32 + 1e-9)
    error = np.abs(np.log(BASE_WEIGHT.snap(currents)[2] / currents))
    assert np.all(error <= np.log1p(step) / 2 + 1e-12)
    # Near the floor one fine step is a large relative step.
    assert float(BASE_WEIGHT.resolution(BASE_WEIGHT.min_current)) > 0.3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1e-9, r"Iw_2 = -1e-09 A: a bias current must be finite and >= 0"),
        (float("nan"), r"Iw_2 = nan A"),
        (float("inf"), r"Iw_2 = inf A"),
        (1e-6, r"Iw_2 = 1e-06 A is above the largest current .* 4\.95e-07 A"),
    ],
)
def test_snap_rejects_out_of_range_currents_by_name(value: float, message: str):
    with pytest.raises(ValueError, match=message):
        snap(value, name="Iw_2")


def test_snap_names_the_bad_entry_of_an_array():
    with pytest.raises(ValueError, match=r"Itau\[1, 0\] = -2e-12 A"):
        N_TYPE.snap(np.array([[1e-12, 2e-12], [-2e-12, 1e-12]]), name="Itau")


def test_snap_tolerates_rounding_at_the_maximum():
    top = BASE_WEIGHT.max_current * (1 + 1e-12)
    assert float(snap(top)[2]) == BASE_WEIGHT.max_current


@pytest.mark.parametrize(
    ("coarse", "fine", "message"),
    [
        (6, 0, r"coarse = 6: must be an integer in 0\.\.5"),
        (-1, 0, r"coarse = -1"),
        (0, 256, r"fine = 256: must be an integer in 0\.\.255"),
        (0, 1.5, r"fine = 1\.5"),
        ([0, 7], 3, r"coarse\[1\] = 7"),
    ],
)
def test_current_of_rejects_bad_codes(coarse, fine, message: str):
    with pytest.raises(ValueError, match=message):
        current_of(coarse, fine)


def test_current_of_broadcasts_and_accepts_integral_floats():
    currents = current_of(np.array([[0], [3]]), np.array([1.0, 255.0]))
    assert currents.shape == (2, 2)
    assert currents[1, 1] == pytest.approx(0.22 * P_TYPE.full_scale[3])


def test_for_bias_reads_type_and_scale():
    leak = for_bias("SOIF_LEAK_N")
    assert leak.full_scale == N_TYPE.full_scale
    assert leak.scale == SCALE_FACTORS["SOIF_LEAK_N"] == 0.61
    assert for_bias("SYAM_W3_P").scale == 0.22
    assert for_bias("SOIF_REFR_N", scale=0.5).scale == 0.5
    with pytest.raises(
        ValueError, match=r"no scale factor known for bias 'SOIF_REFR_N'"
    ):
        for_bias("SOIF_REFR_N")
    with pytest.raises(ValueError, match=r"'SOIF_LEAK' must end in _N or _P"):
        for_bias("SOIF_LEAK")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"full_scale": (1e-12,) * 5, "floor": 1e-13}, "must hold 6 finite"),
        (
            {"full_scale": (2e-12, 1e-12, 3e-12, 4e-12, 5e-12, 6e-12), "floor": 1e-13},
            "increasing",
        ),
        ({"full_scale": N_TYPE.full_scale, "floor": 1e-10}, "floor"),
        (
            {"full_scale": N_TYPE.full_scale, "floor": 1e-13, "scale": 0.0},
            "scale must be",
        ),
    ],
)
def test_generator_validates_its_table(kwargs: dict, message: str):
    with pytest.raises(ValueError, match=message):
        BiasGenerator(name="test", **kwargs)
