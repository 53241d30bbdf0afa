"""Xylo quantizer: per-neuron scaling invariance, ranges, shifts, clipping, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.xylo.allocate import ResourceError
from backends.xylo.quantize import QuantizedNetwork, quantize
from backends.xylo.variants import VARIANTS

A2 = VARIANTS["xylo-audio2"]


def run_float(
    w_in: np.ndarray,
    w_rec: np.ndarray,
    w_out: np.ndarray,
    theta: np.ndarray,
    theta_out: np.ndarray,
    bias: np.ndarray,
    bias_out: np.ndarray,
    x: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Float Xylo-form LIF: I += w.x, decay, V = aV + sum I + b, subtract reset.

    Hidden spikes reach other hidden and output neurons one step later (xylo.md §2).
    """
    n, nsyn = w_in.shape[1:]
    a_syn = np.linspace(0.5, 0.9, nsyn)
    a_mem, a_out = 0.8, 0.7
    i_syn, v = np.zeros((n, nsyn)), np.zeros(n)
    i_out, v_out = np.zeros(w_out.shape[1]), np.zeros(w_out.shape[1])
    s_prev = np.zeros(n)
    hidden, output = [], []
    for x_t in x:
        i_syn = a_syn * (i_syn + np.einsum("c,cjs->js", x_t, w_in))
        i_syn = i_syn + a_syn * np.einsum("i,ijs->js", s_prev, w_rec)
        i_out = a_out * (i_out + s_prev @ w_out)
        v = a_mem * v + i_syn.sum(axis=1) + bias
        n_spk = np.where(v >= theta, np.minimum(np.floor(v / theta), 31), 0)
        v = v - n_spk * theta
        v_out = a_out * v_out + i_out + bias_out
        o_spk = (v_out >= theta_out).astype(float)
        v_out = v_out - o_spk * theta_out
        hidden.append(n_spk)
        output.append(o_spk)
        s_prev = n_spk
    return np.array(hidden), np.array(output)


def network(seed: int, n_in: int = 4, n: int = 12, n_out: int = 3, nsyn: int = 2):
    rng = np.random.default_rng(seed)
    w_in = rng.normal(0, 1.0, (n_in, n, nsyn))
    w_rec = rng.normal(0, 0.2, (n, n, nsyn)) * (rng.random((n, n, 1)) < 0.3)
    w_out = rng.normal(0, 1.0, (n, n_out))
    theta = rng.uniform(1.0, 4.0, n)
    theta_out = rng.uniform(0.5, 3.0, n_out)
    bias = rng.normal(0, 0.05, n)
    bias_out = rng.normal(0, 0.05, n_out)
    x = (rng.random((60, n_in)) < 0.3).astype(float)
    return (w_in, w_rec, w_out, theta, theta_out, bias, bias_out), x


def scale_targets(params, c: np.ndarray, c_out: np.ndarray):
    w_in, w_rec, w_out, theta, theta_out, bias, bias_out = params
    return (
        w_in * c[None, :, None],
        w_rec * c[None, :, None],
        w_out * c_out[None, :],
        theta * c,
        theta_out * c_out,
        bias * c,
        bias_out * c_out,
    )


@given(
    st.integers(0, 10_000),
    st.lists(st.integers(-12, 12), min_size=15, max_size=15),
)
def test_per_neuron_power_of_two_scaling_is_exactly_invariant(
    seed: int, exponents: list[int]
) -> None:
    params, x = network(seed)
    c = np.exp2(exponents[:12])
    c_out = np.exp2(exponents[12:])
    ref = run_float(*params, x)
    got = run_float(*scale_targets(params, c, c_out), x)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    assert ref[0].sum() > 0  # the network is not silent


@pytest.mark.parametrize("seed", range(5))
def test_per_neuron_arbitrary_scaling_is_invariant(seed: int) -> None:
    params, x = network(seed)
    rng = np.random.default_rng(100 + seed)
    c, c_out = rng.uniform(0.01, 300, 12), rng.uniform(0.01, 300, 3)
    ref = run_float(*params, x)
    got = run_float(*scale_targets(params, c, c_out), x)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])


def effective(q: QuantizedNetwork):
    """Registers as float Xylo parameters (weights times 2^shift)."""
    return (
        q.weights_in * 2.0**q.weight_shift_in,
        q.weights_rec * 2.0**q.weight_shift_rec,
        q.weights_out.astype(float) * 2.0**q.weight_shift_out,
        q.threshold.astype(float),
        q.threshold_out.astype(float),
        q.bias.astype(float),
        q.bias_out.astype(float),
    )


def close_counts(got: np.ndarray, ref: np.ndarray) -> None:
    """Spike counts per neuron within 5% + 3, in all within 3%.

    Step by step the trains differ: a 0.5% weight error moves a spike by one step
    now and then, and with subtractive reset the surplus carries on.
    """
    per_neuron = np.abs(got.sum(axis=0) - ref.sum(axis=0))
    assert np.all(per_neuron <= 0.05 * ref.sum(axis=0) + 3)
    assert abs(got.sum() - ref.sum()) <= 0.03 * ref.sum()


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_quantized_registers_spike_like_the_float_network(
    seed: int, recurrent: bool
) -> None:
    params, x = network(seed)
    if not recurrent:
        params = (params[0], np.zeros_like(params[1]), *params[2:])
    q = quantize(A2, *params)
    ref_h, ref_o = run_float(*params, x)
    got_h, got_o = run_float(*effective(q), x)
    assert ref_h.sum() > 50
    close_counts(got_h, ref_h)
    close_counts(got_o, ref_o)
    for error in q.report.weights.values():
        assert error.relative_rms < 0.02  # rec weights are ~5x smaller than input
        assert error.n_clipped == 0
    assert q.report.threshold_error["hidden"] < 0.01


def test_registers_have_register_types_and_ranges() -> None:
    params, _ = network(0)
    q = quantize(A2, *params)
    for name in ("weights_in", "weights_rec", "weights_out", "bias", "bias_out"):
        arr = getattr(q, name)
        assert arr.dtype == np.int8
        assert np.abs(arr.astype(int)).max() <= 127
    assert q.threshold.dtype == np.int16
    assert q.threshold.min() >= 1
    regs = q.registers()
    assert set(regs) >= {"weights_in", "threshold_out", "weight_shift_rec"}
    assert regs["weight_shift_in"] == q.weight_shift_in


def test_each_neuron_uses_the_int8_range_despite_a_thousandfold_spread() -> None:
    w_in = np.zeros((2, 2, 1))
    w_in[:, 0, 0] = [1.0, -0.6]
    w_in[:, 1, 0] = [1e-3, 0.4e-3]
    q = quantize(
        A2, w_in, np.zeros((2, 2, 1)), np.zeros((2, 1)), np.array([2.0, 2e-3]), [1.0]
    )
    np.testing.assert_array_equal(np.abs(q.weights_in).max(axis=(0, 2)), [127, 127])
    np.testing.assert_array_equal(q.threshold, [q.threshold[0]] * 2)


def one_neuron(w: float, theta: float, bias: float = 0.0, **kwargs) -> QuantizedNetwork:
    w_in = np.array([[[w]], [[-w / 2]]])
    variant = kwargs.pop("variant", A2)
    return quantize(
        variant,
        w_in,
        np.zeros((1, 1, 1)),
        np.array([[w]]),
        np.array([theta]),
        np.array([theta]),
        np.array([bias]),
        np.array([bias]),
        **kwargs,
    )


def test_shift_is_raised_to_use_the_range_within_the_headroom() -> None:
    # theta = w / 2: full range 127 * 2^s gives theta 63.5 * 2^s <= 32767 / 32.
    q = one_neuron(1.0, 0.5)
    assert (q.weight_shift_in, q.weight_shift_out) == (4, 4)
    assert int(q.weights_in.max()) == 127
    assert int(q.threshold[0]) == 1016
    # Without headroom the shift goes to the variant's largest.
    q = one_neuron(1.0, 0.5, v_headroom=1.0)
    assert q.weight_shift_in == A2.max_weight_shift == 8
    assert int(q.threshold[0]) == 63.5 * 2**8
    assert int(q.weights_in.max()) == 127


def test_large_threshold_keeps_shift_zero_and_fits_32767() -> None:
    q = one_neuron(1.0, 1000.0)
    assert q.weight_shift_in == 0
    assert int(q.threshold[0]) == 32767
    assert int(q.weights_in.max()) == 33  # 32767 / 1000, the threshold's limit


def test_small_threshold_takes_the_largest_shift() -> None:
    q = one_neuron(1.0, 1e-3)
    assert q.weight_shift_in == 8
    assert int(q.threshold[0]) == round(127 * 2**8 * 1e-3)
    assert int(q.weights_in.max()) == 127


def test_shift_is_raised_above_the_headroom_limit_rather_than_clip() -> None:
    # Neuron 1's bias caps its scale at 127 (shift 0 would suit it); neuron 0 has
    # weights of 1000 thresholds, which need shift 3 to fit with a threshold of 1.
    w_in = np.ones((1, 2, 1))
    q = quantize(
        A2,
        w_in,
        np.zeros((2, 2, 1)),
        np.ones((2, 1)),
        np.array([1e-3, 1.0]),
        [1.0],
        np.array([0.0, 1.0]),
    )
    assert q.weight_shift_in == 3
    np.testing.assert_array_equal(q.threshold, [1, 127])
    np.testing.assert_array_equal(q.bias, [0, 127])
    np.testing.assert_array_equal(q.weights_in[0, :, 0], [127, 16])
    assert q.report.weights["in"].n_clipped == 0


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_clipping_saturates_and_never_wraps(sign: float) -> None:
    q = one_neuron(sign * 1e7, 1.0, v_headroom=1.0)
    assert q.weight_shift_in == 8
    assert q.weights_in.dtype == np.int8
    np.testing.assert_array_equal(q.weights_in[:, 0, 0], [sign * 127, -sign * 127])
    assert q.report.weights["in"].n_clipped == 2
    assert q.report.weights["out"].n_clipped == 1


def test_bias_is_brought_into_int8_by_the_scale() -> None:
    q = one_neuron(0.01, 1.0, bias=3.0)
    assert int(q.bias[0]) == 127
    assert int(q.threshold[0]) == round(127 / 3)
    assert q.report.bias_error["hidden"] < 1e-9


def test_bias_that_no_scaling_fits_is_an_error_naming_the_neuron() -> None:
    w_in = np.ones((1, 3, 1))
    bias = np.array([0.0, 0.0, 300.0])
    with pytest.raises(
        ResourceError, match=r"layer 'lif2' neuron 0 has bias 300 = 300 thresholds.*127"
    ):
        quantize(
            A2,
            w_in,
            np.zeros((3, 3, 1)),
            np.ones((3, 1)),
            np.ones(3),
            [1.0],
            bias,
            layers=[("lif1", 2), ("lif2", 1)],
        )


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_threshold_must_be_positive(bad: float) -> None:
    with pytest.raises(ResourceError, match=r"neuron 1 has threshold .*positive"):
        quantize(
            A2,
            np.ones((1, 2, 1)),
            np.zeros((2, 2, 1)),
            np.ones((2, 1)),
            np.array([1.0, bad]),
            [1.0],
        )
    with pytest.raises(ResourceError, match=r"layer 'readout' neuron 0 has threshold"):
        quantize(
            A2,
            np.ones((1, 2, 1)),
            np.zeros((2, 2, 1)),
            np.ones((2, 1)),
            np.ones(2),
            [bad],
            output_layer="readout",
        )


def test_bias_on_a_variant_without_bias_is_an_error() -> None:
    with pytest.raises(ResourceError, match=r"xylo-v1, which has no bias"):
        one_neuron(1.0, 1.0, bias=0.5, variant=VARIANTS["xylo-v1"])
    one_neuron(1.0, 1.0, bias=0.0, variant=VARIANTS["xylo-v1"])


def test_zero_matrices_are_reported_without_error() -> None:
    q = quantize(
        A2, np.ones((1, 2, 1)), np.zeros((2, 2, 1)), np.ones((2, 1)), np.ones(2), [1.0]
    )
    assert q.weight_shift_rec == 0
    assert q.report.weights["rec"].relative_rms == 0.0
    assert not np.any(q.weights_rec)
    assert "weights_rec" in q.report.summary()


def test_narrower_formats_come_from_the_variant() -> None:
    narrow = dataclasses.replace(A2, weight_bits=4, max_weight_shift=2)
    q = one_neuron(1.0, 0.5, variant=narrow, v_headroom=1.0)
    assert int(q.weights_in.max()) == 7
    assert q.weight_shift_in == 2


magnitudes = st.floats(min_value=-6, max_value=6).map(lambda e: 10.0**e)


@given(
    st.integers(0, 2**32 - 1),
    magnitudes,
    magnitudes,
    st.floats(min_value=1, max_value=1000),
)
def test_any_network_lands_in_register_ranges(
    seed: int, w_scale: float, theta_scale: float, headroom: float
) -> None:
    rng = np.random.default_rng(seed)
    params, _ = network(seed % 1000)
    w_in, w_rec, w_out, *_ = params
    theta = theta_scale * rng.uniform(0.1, 10, 12)
    theta_out = theta_scale * rng.uniform(0.1, 10, 3)
    bias = rng.uniform(-50, 50, 12) * theta
    args = (w_in * w_scale, w_rec * w_scale, w_out * w_scale, theta, theta_out, bias)
    q = quantize(A2, *args, v_headroom=headroom)
    assert q.threshold.min() >= 1
    assert q.threshold.astype(int).max() <= 32767
    assert 1 <= q.threshold_out.min()
    for arr in (q.weights_in, q.weights_rec, q.weights_out, q.bias):
        assert np.abs(arr.astype(int)).max() <= 127
    for shift in (q.weight_shift_in, q.weight_shift_rec, q.weight_shift_out):
        assert 0 <= shift <= A2.max_weight_shift
    again = quantize(A2, *args, v_headroom=headroom)
    for name, value in q.registers().items():
        np.testing.assert_array_equal(value, again.registers()[name])
