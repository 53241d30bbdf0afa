"""Dynap-SE2 weight quantization: mask search, base fitting, grid, signs, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.dynapse.biasgen import BASE_WEIGHT, snap
from backends.dynapse.weights import (
    QuantizedWeights,
    _box_least_squares,
    best_masks,
    fit_bases,
    initial_bases,
    quantize_signed,
    quantize_weights,
    quantize_weights_baseline,
)

seeds = st.integers(0, 2**32 - 1)
I_SCALE = 1e-8
GRID = BASE_WEIGHT.grid()[2]


def level(mask: int, bases) -> float:
    """sum_k bit_k(mask) bases[k], bit by bit."""
    return sum((float(b) for k, b in enumerate(bases) if (mask >> k) & 1), 0.0)


def levels_of(masks: np.ndarray, bases) -> np.ndarray:
    """Element-wise ``level``: the weight (amperes) each mask selects."""
    return np.vectorize(lambda m: level(int(m), bases), otypes=[float])(masks)


def weights(seed: int, shape=(6, 9), kind: str = "halfnormal") -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        w = rng.uniform(0.0, 1.0, shape)
    elif kind == "lognormal":
        w = rng.lognormal(0.0, 1.0, shape)
    else:
        w = np.abs(rng.normal(0.0, 1.0, shape))
    return w * (rng.random(shape) < 0.8)


def check_consistent(q: QuantizedWeights, W: np.ndarray) -> None:
    """The result's fields agree with each other and with W."""
    assert q.masks.dtype == np.uint8
    assert q.masks.shape == W.shape
    assert np.all(np.diff(q.bases) >= 0)
    np.testing.assert_array_equal(q.bases, BASE_WEIGHT.current_of(q.coarse, q.fine))
    recon = np.zeros(W.shape)
    for index in np.ndindex(W.shape):
        recon[index] = np.sign(W[index]) * level(int(q.masks[index]), q.bases) / I_SCALE
    np.testing.assert_allclose(q.reconstruction, recon, rtol=1e-12, atol=0)
    assert np.all(q.masks[W == 0] == 0)
    err = q.reconstruction - W
    norm = np.linalg.norm(W)
    assert q.rel_rms_error == pytest.approx(np.linalg.norm(err) / norm if norm else 0)
    assert q.max_abs_error == pytest.approx(np.abs(err).max())
    assert q.n_connections == np.count_nonzero(W)
    assert q.n_dropped == np.count_nonzero((W != 0) & (q.masks == 0))


@given(
    w=st.lists(st.floats(0.0, 20.0), min_size=1, max_size=3),
    bases=st.lists(st.floats(0.01, 10.0), min_size=4, max_size=4),
    allow_drop=st.booleans(),
)
def test_mask_search_is_optimal_against_brute_force(
    w: list[float], bases: list[float], allow_drop: bool
):
    masks, recon = best_masks(np.array(w), np.array(bases), allow_drop=allow_drop)
    assert masks.dtype == np.uint8
    choices = range(0 if allow_drop else 1, 16)
    best = min(
        sum((wi - level(m, bases)) ** 2 for wi, m in zip(w, combo, strict=True))
        for combo in itertools.product(choices, repeat=len(w))
    )
    ours = sum((wi - level(int(m), bases)) ** 2 for wi, m in zip(w, masks, strict=True))
    assert ours <= best + 1e-9
    np.testing.assert_allclose(recon, [level(int(m), bases) for m in masks])
    if not allow_drop:
        assert np.all(masks != 0)


@given(seed=seeds, kind=st.sampled_from(["halfnormal", "uniform", "lognormal"]))
def test_alternation_never_ends_worse_than_its_start(seed: int, kind: str):
    W = weights(seed, kind=kind)
    w = W[W != 0]
    if w.size == 0:
        return
    for start in initial_bases(w):
        beta, masks, sse = fit_bases(w, start, lower=0.0, upper=50.0)
        assert np.all(np.diff(sse) <= 1e-12 * sse[0])
        start_sse = np.sum((w - best_masks(w, start)[1]) ** 2)
        final_sse = np.sum((w - best_masks(w, beta)[1]) ** 2)
        assert sse[0] == pytest.approx(start_sse, rel=1e-9, abs=1e-12)
        assert final_sse == pytest.approx(sse[-1], rel=1e-9, abs=1e-12)
        assert final_sse <= start_sse * (1 + 1e-12)
        np.testing.assert_array_equal(masks, best_masks(w, beta)[0])
        assert np.all((beta >= 0) & (beta <= 50.0))


@given(seed=seeds, n=st.integers(1, 4), bounded=st.booleans())
def test_box_least_squares_meets_the_kkt_conditions(seed: int, n: int, bounded: bool):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, (12, n)).astype(float)
    gram = a.T @ a
    rhs = a.T @ rng.normal(0.5, 2.0, 12)
    lower, upper = 0.1, (1.0 if bounded else np.inf)
    b = _box_least_squares(gram, rhs, lower, upper)
    grad = 2 * (gram @ b - rhs)
    assert np.all((b >= lower) & (b <= upper))
    tol = 1e-7 * (1 + np.abs(rhs).max())
    free = (b > lower + 1e-9) & (b < upper - 1e-9)
    assert np.all(np.abs(grad[free]) <= tol)
    assert np.all(grad[np.isclose(b, lower)] >= -tol)
    assert np.all(grad[np.isclose(b, upper)] <= tol)


@given(seed=seeds, kind=st.sampled_from(["halfnormal", "uniform", "lognormal"]))
def test_quantizer_is_never_worse_than_the_baseline(seed: int, kind: str):
    W = weights(seed, kind=kind)
    ours = quantize_weights(W)
    baseline = quantize_weights_baseline(W)
    check_consistent(ours, W)
    check_consistent(baseline, W)
    assert ours.rel_rms_error <= baseline.rel_rms_error + 1e-12


@given(seed=seeds, kind=st.sampled_from(["halfnormal", "uniform", "lognormal"]))
def test_result_is_a_local_optimum_on_the_grid(seed: int, kind: str):
    W = weights(seed, kind=kind)
    w = W[W != 0]
    if w.size == 0:
        return
    q = quantize_weights(W)

    def sse(bases: np.ndarray) -> float:
        return float(np.sum((w - best_masks(w, bases / I_SCALE)[1]) ** 2))

    ours = sse(q.bases)
    idx = np.searchsorted(GRID, q.bases)
    np.testing.assert_array_equal(GRID[idx], q.bases)
    for k, step in itertools.product(range(idx.size), (-1, 1)):
        if 0 <= idx[k] + step < GRID.size:
            moved = idx.copy()
            moved[k] += step
            assert ours <= sse(GRID[moved]) * (1 + 1e-9) + 1e-15


@pytest.mark.parametrize("kind", ["halfnormal", "lognormal"])
def test_quantizer_clearly_beats_the_baseline_on_a_full_core(kind: str):
    W = weights(0, shape=(64, 256), kind=kind)
    ours = quantize_weights(W)
    baseline = quantize_weights_baseline(W)
    assert ours.rel_rms_error < 0.85 * baseline.rel_rms_error
    assert ours.n_dropped < baseline.n_dropped


def representable(seed: int, bases: np.ndarray, used: np.ndarray) -> np.ndarray:
    """A 5 x 7 weight matrix, 20 % zeros, using every mask in ``used``."""
    rng = np.random.default_rng(seed)
    masks = rng.choice(used, (5, 7))
    masks = np.where(rng.random((5, 7)) < 0.2, 0, masks)
    masks.flat[: used.size] = used
    return levels_of(masks, bases) / I_SCALE


def check_exact(W: np.ndarray) -> None:
    q = quantize_weights(W)
    check_consistent(q, W)
    assert q.max_abs_error <= 1e-9 * W.max()
    assert q.n_dropped == 0


@given(seed=seeds, n_masks=st.sampled_from([14, 15]))
def test_representable_weights_are_reconstructed_exactly(seed: int, n_masks: int):
    # Any 4 grid currents; 14 or 15 of the nonzero masks, so their bits determine
    # the bases (level matching finds them, initial_bases).
    rng = np.random.default_rng(seed)
    band = np.flatnonzero((GRID > 0.1e-9) & (GRID < 100e-9))
    bases = GRID[np.sort(rng.choice(band, 4, replace=False))]
    used = rng.choice(np.arange(1, 16), n_masks, replace=False)
    check_exact(representable(seed, bases, used))


@given(seed=seeds, n_values=st.integers(1, 4))
def test_few_grid_valued_weights_are_reconstructed_exactly(seed: int, n_values: int):
    # At most 4 distinct weights, each itself a grid current: one base each.
    rng = np.random.default_rng(seed)
    band = np.flatnonzero((GRID > 0.1e-9) & (GRID < 100e-9))
    bases = GRID[np.sort(rng.choice(band, 4, replace=False))]
    single_bits = rng.choice([1, 2, 4, 8], n_values, replace=False)
    check_exact(representable(seed, bases, single_bits))


def test_rockpool_default_bases_are_recovered():
    # 1/2/4/8 nA, Rockpool's default base currents (dynapse2.md §1), on the grid.
    bases = snap(np.array([1e-9, 2e-9, 4e-9, 8e-9]))[2]
    masks = np.arange(64).reshape(8, 8) % 16
    W = levels_of(masks, bases) / I_SCALE
    q = quantize_weights(W)
    np.testing.assert_array_equal(q.bases, bases)
    np.testing.assert_array_equal(q.masks, masks)
    assert q.rel_rms_error < 1e-12


def test_signed_weights_share_one_set_of_bases():
    W = weights(3, shape=(16, 20)) * np.where(
        np.random.default_rng(4).random((16, 20)) < 0.3, -1, 1
    )
    q = quantize_signed(W)
    check_consistent(q, W)
    magnitudes = quantize_weights(np.abs(W))
    np.testing.assert_array_equal(q.bases, magnitudes.bases)
    np.testing.assert_array_equal(q.masks, magnitudes.masks)
    np.testing.assert_array_equal(q.signs, np.sign(W))
    assert np.all(q.ampa_masks[W < 0] == 0)
    assert np.all(q.gaba_masks[W > 0] == 0)
    np.testing.assert_array_equal(q.ampa_masks | q.gaba_masks, q.masks)
    np.testing.assert_allclose(q.base_weights, q.bases / I_SCALE)


def test_allow_drop_false_keeps_every_connection():
    W = np.array([[0.0, 0.001, 0.002], [1.0, 2.0, 3.0], [4.0, 5.0, 0.003]])
    dropping = quantize_weights(W)
    assert dropping.n_dropped > 0
    kept = quantize_weights(W, allow_drop=False)
    check_consistent(kept, W)
    assert kept.n_dropped == 0
    assert np.all(kept.masks[W != 0] != 0)


def test_all_zero_weights_have_no_connections():
    W = np.zeros((4, 5))
    for q in (quantize_weights(W), quantize_weights_baseline(W)):
        assert q.rel_rms_error == 0
        assert q.max_abs_error == 0
        assert q.n_connections == 0
        assert not q.masks.any()


def test_baseline_is_the_snapped_binary_ladder_with_rounded_masks():
    W = np.array([[0.0, 0.32, 1.5], [0.72, 0.04, 1.18]])
    q = quantize_weights_baseline(W)
    ladder = 1.5 * np.array([1, 2, 4, 8]) / 15
    np.testing.assert_array_equal(q.bases, snap(ladder * I_SCALE)[2])
    np.testing.assert_array_equal(q.masks, np.round(W / 0.1).astype(np.uint8))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: quantize_weights([[0.5, -0.25]]),
            r"W\[0, 1\] = -0\.25: .*>= 0 \(use quantize_signed\)",
        ),
        (
            lambda: quantize_weights([1.0, np.nan]),
            r"W\[1\] = nan: weights must be finite",
        ),
        (lambda: quantize_signed([[1.0, -np.inf]]), r"W\[0, 1\] = -inf"),
        (
            lambda: quantize_weights([1.0, 250.0]),
            r"W\[1\] = 250 is 2\.5e-06 A .*lower i_scale",
        ),
        (lambda: quantize_weights([1.0], n_bases=9), r"n_bases = 9"),
        (lambda: quantize_weights([1.0], i_scale=0.0), r"i_scale = 0\.0 A"),
        (
            lambda: quantize_weights_baseline([1.0, 100.0]),
            r"Iw_3 = 5\.33333e-07 A is above",
        ),
    ],
)
def test_errors_name_the_value(call, message: str):
    with pytest.raises(ValueError, match=message):
        call()
