"""Dynap-SE2 weight quantization: shared base currents and a 4-bit mask per synapse.

A Dynap-SE2 connection is a CAM entry whose weight is a 4-bit mask ``b``; its synaptic
current is ``I_w = sum_k b_k Iw_k`` (amperes), where ``Iw_0..Iw_3`` are bias currents
shared by all 256 neurons of a core, and the sign comes from the dendrite, AMPA (+) or
GABA (-) (``shared/reference/dynapse2.md`` §1 "Weight representation", "Shared versus
per-neuron state"). A float weight is dimensionless, ``W = I_w / I_scale`` (§1;
Rockpool's default ``I_scale`` is 10 nA).

**Problem.** For one core, with the ``M`` nonzero weight magnitudes ``w_i`` of its
fan-in, choose base weights ``beta_k = Iw_k / I_scale`` and masks ``m_i in 0..15`` that
minimise the squared reconstruction error

    E(beta, m) = sum_i (w_i - sum_k bit_k(m_i) beta_k)^2,

with every ``Iw_k`` on the bias generator's coarse/fine grid (``biasgen``). Zero
weights are no connection (no CAM entry) and are reconstructed exactly. A nonzero
weight whose best mask is 0 loses its connection (``n_dropped``; §4 "Weights whose
mask comes out 0 are dropped"), unless ``allow_drop=False``.

**Method** (``quantize_weights``):

1. Initial bases, deterministic (``initial_bases``): geometric ladders
   ``beta_k ~ r^k`` with ratios ``r = 1, 1.5, 2, 3`` whose full sum is ``max w``; the
   binary ladder scaled to the 99th percentile of ``w`` (it clips outliers to spend
   its levels on the bulk); and "level matching": the weights' 15 cluster means
   (1-D k-means, or the distinct values when there are no more) given in order to
   nonzero masks in each of the 14 possible orders of 4 bases' subset sums, with the
   least-squares bases of that assignment (the four best kept). Level matching finds
   the exact bases of a representable matrix that uses 14 or 15 distinct masks, where
   alternation from a ladder can stall. With at most 4 distinct weights, those
   values are a start too.
2. From each, alternate two exact steps (``fit_bases``), neither of which can
   increase ``E``: with bases fixed, each mask is the best of all 16 (``best_masks``,
   exhaustive); with masks fixed, the bases solve the least-squares problem in the box
   of currents the grid can make (normal equations over per-mask counts and sums, so a
   4 x 4 system; when that solution leaves the box, the box's faces are solved from
   the interior outwards and the first that meets the KKT conditions is the optimum).
   Stop when ``E`` falls by less than ``tol`` relative, or after ``max_iter`` rounds.
   (Weights are sorted once, so a round costs ``O(16 log M)``, not ``O(16 M)``.)
3. Snap every fit's bases to the grid (``biasgen.snap``, nearest in relative error);
   from the four best snapped sets, move single bases to neighbouring grid currents
   while that lowers ``E`` (coordinate descent on the grid), and keep the best; the
   masks are then searched for the final bases. The binary ladder at ``max w`` is
   snapped and descended too, so the result is never worse than
   ``quantize_weights_baseline`` (same snapped bases, but optimal masks).

Measured on one core's 64 x 256 fan-in (``bench/dynapse_quantization.py``): the grid
costs under 1 % of the relative RMS error, and the deterministic starts come within
0.3 % of the best of 300 random restarts of step 2 (half-normal, uniform, log-normal,
sparse). On matrices of about 40 weights the median gap to 300 restarts is 0.2 %, the
worst seen 40 % (log-normal): the problem is non-convex and this is a local method.
The objective is the squared error, so the largest weights of a heavy tail may be
clipped (large ``max_abs_error``) to resolve the bulk better.

Signed matrices: ``quantize_signed`` quantizes the magnitudes of all connections
together with one set of bases and gives each connection the dendrite of its sign.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

import numpy as np
from numpy.typing import ArrayLike

from backends.dynapse.biasgen import BASE_WEIGHT, BiasGenerator

if TYPE_CHECKING:  # Python 3.11's typing.Unpack; annotations only
    from typing_extensions import Unpack

__all__ = [
    "DEFAULT_I_SCALE",
    "QuantizeOptions",
    "QuantizedWeights",
    "quantize_weights",
    "quantize_signed",
    "quantize_weights_baseline",
    "best_masks",
    "fit_bases",
    "initial_bases",
]

DEFAULT_I_SCALE = 1e-8
"""Amperes per unit of float weight, Rockpool's default ``Iscale`` (dynapse2.md §1)."""

MAX_BASES = 8
"""Masks are stored as uint8, one bit per base."""

_LADDER_RATIOS = (1.0, 1.5, 2.0, 3.0)
_ROBUST_QUANTILE = 0.99
_MAX_ORDERINGS = 64
_MAX_MATCHINGS = 256
_KEEP_MATCHINGS = 4
_KEEP_FITTED = 4
_BINARY_LADDER = _LADDER_RATIOS.index(2.0)


@dataclass(frozen=True, kw_only=True, eq=False)
class QuantizedWeights:
    """One core's weights as shared base currents and per-connection masks.

    Attributes:
        bases: ``(n_bases,)`` base weight currents ``Iw_k``, amperes, ascending, on
            the bias grid.
        coarse: ``(n_bases,)`` coarse codes of ``bases``.
        fine: ``(n_bases,)`` fine codes of ``bases``.
        masks: uint8 with the weight matrix's shape; bit ``k`` selects ``bases[k]``;
            0 where there is no CAM entry (a zero weight, or a dropped connection).
        signs: int8 with the matrix's shape: +1 excitatory (AMPA), -1 inhibitory
            (GABA), 0 zero weight.
        reconstruction: the effective weights ``signs * sum_k bit_k(masks) bases_k /
            i_scale``, dimensionless like the input.
        i_scale: amperes per unit weight.
        rel_rms_error: ``||reconstruction - W|| / ||W||`` (over all entries; zeros are
            exact, so this is the relative RMS over the nonzero weights; 0 when W = 0).
        max_abs_error: largest ``|reconstruction - W|``, weight units.
        n_connections: nonzero weights in the input.
        n_dropped: nonzero weights whose mask is 0 (no CAM entry).
    """

    bases: np.ndarray
    coarse: np.ndarray
    fine: np.ndarray
    masks: np.ndarray
    signs: np.ndarray
    reconstruction: np.ndarray
    i_scale: float
    rel_rms_error: float
    max_abs_error: float
    n_connections: int
    n_dropped: int

    @property
    def base_weights(self) -> np.ndarray:
        """``bases / i_scale``: the bases in (dimensionless) weight units."""
        return self.bases / self.i_scale

    @property
    def ampa_masks(self) -> np.ndarray:
        """Masks of the excitatory (AMPA) CAM entries, 0 elsewhere."""
        return np.where(self.signs > 0, self.masks, 0).astype(np.uint8)

    @property
    def gaba_masks(self) -> np.ndarray:
        """Masks of the inhibitory (GABA) CAM entries, 0 elsewhere."""
        return np.where(self.signs < 0, self.masks, 0).astype(np.uint8)


@functools.cache
def _mask_bits(n_bases: int) -> np.ndarray:
    """``(2^n, n)`` 0/1 matrix (read-only): row ``m`` holds the bits of mask ``m``."""
    bits = (np.arange(2**n_bases)[:, None] >> np.arange(n_bases)) & 1
    bits.flags.writeable = False
    return bits


def _candidate_masks(n_bases: int, allow_drop: bool) -> np.ndarray:
    return np.arange(0 if allow_drop else 1, 2**n_bases)


def best_masks(
    w: ArrayLike, base_weights: ArrayLike, *, allow_drop: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Best mask of each weight for fixed bases, by exhaustive search.

    ``m_i = argmin_m |w_i - sum_k bit_k(m) beta_k|`` over all ``2^n`` masks (masks
    ``1..2^n - 1`` with ``allow_drop=False``); ties go to the smaller mask.

    Args:
        w: weight magnitudes, any shape, weight units.
        base_weights: ``(n,)`` bases ``beta_k``, weight units.

    Returns:
        ``(masks, reconstruction)``: uint8 masks and ``sum_k bit_k(m) beta_k``, both
        shaped like ``w``.
    """
    w = np.asarray(w, dtype=float)
    beta = np.asarray(base_weights, dtype=float)
    candidates = _candidate_masks(beta.size, allow_drop)
    levels = _mask_bits(beta.size)[candidates] @ beta
    best = np.argmin(np.abs(w[..., None] - levels), axis=-1)
    return candidates[best].astype(np.uint8), levels[best]


class _SortedWeights:
    """Weights sorted once, so that an assignment to levels costs O(L log M).

    The best level of each weight is the nearest, so the levels' midpoints split the
    sorted weights into runs; prefix sums give each run's count, sum and sum of
    squares, hence the least-squares statistics and ``E`` without touching the M
    weights again. It agrees with ``best_masks`` up to ties (equal errors).
    """

    def __init__(self, w: np.ndarray) -> None:
        self.w = np.sort(w)
        self.s1 = np.concatenate(([0.0], np.cumsum(self.w)))
        self.s2 = np.concatenate(([0.0], np.cumsum(self.w**2)))

    def assign(
        self, beta: np.ndarray, allow_drop: bool
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Per-mask counts and weight sums under the best masks, and ``E``."""
        masks = _candidate_masks(beta.size, allow_drop)
        levels = _mask_bits(beta.size)[masks] @ beta
        order = np.argsort(levels, kind="stable")
        lv = levels[order]
        cut = np.searchsorted(self.w, (lv[:-1] + lv[1:]) / 2, side="right")
        edges = np.concatenate(([0], cut, [self.w.size]))
        n = np.diff(edges).astype(float)
        s1 = np.diff(self.s1[edges])
        s2 = np.diff(self.s2[edges])
        sse = float(np.sum(s2 - 2 * lv * s1 + n * lv**2))
        counts = np.zeros(2**beta.size)
        sums = np.zeros(2**beta.size)
        counts[masks[order]] = n
        sums[masks[order]] = s1
        return counts, sums, max(sse, 0.0)

    def sse_many(self, betas: np.ndarray) -> np.ndarray:
        """``E`` under the best masks (drops allowed) for each row of ``betas``."""
        levels = np.sort(betas @ _mask_bits(betas.shape[1]).T, axis=1)
        mids = (levels[:, :-1] + levels[:, 1:]) / 2
        cut = np.searchsorted(self.w, mids.ravel(), side="right").reshape(mids.shape)
        rows = levels.shape[0]
        edges = np.hstack(
            (np.zeros((rows, 1), int), cut, np.full((rows, 1), self.w.size))
        )
        n = np.diff(edges, axis=1)
        s1 = np.diff(self.s1[edges], axis=1)
        s2 = np.diff(self.s2[edges], axis=1)
        return np.maximum(np.sum(s2 - 2 * levels * s1 + n * levels**2, axis=1), 0.0)

    def clusters(self, k: int, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """``k`` ascending 1-D cluster means and sizes (fewer if fewer values).

        At most ``k`` distinct values: each is its own cluster. Otherwise Lloyd's
        iteration from the quantiles ``(j + 1/2) / k``, keeping empty clusters' means.
        """
        values, sizes = np.unique(self.w, return_counts=True)
        if values.size <= k:
            return values, sizes.astype(float)
        means = np.quantile(self.w, (np.arange(k) + 0.5) / k)
        edges = np.zeros(k + 1, np.int64)
        for _ in range(max_iter):
            cut = np.searchsorted(self.w, (means[:-1] + means[1:]) / 2, side="right")
            new_edges = np.concatenate(([0], cut, [self.w.size]))
            if np.array_equal(new_edges, edges):
                break
            edges = new_edges
            n = np.diff(edges)
            s1 = np.diff(self.s1[edges])
            means = np.where(n > 0, s1 / np.maximum(n, 1), means)
        return means, np.diff(edges).astype(float)


@functools.cache
def _faces(n: int, bounded: bool) -> tuple[tuple[int, ...], ...]:
    """Faces of an ``n``-box (0 free, 1 at lower, 2 at upper), fewest fixed first."""
    states = itertools.product((0, 1, 2) if bounded else (0, 1), repeat=n)
    return tuple(sorted(states, key=lambda state: sum(x > 0 for x in state)))


def _box_least_squares(
    gram: np.ndarray, rhs: np.ndarray, lower: float, upper: float
) -> np.ndarray:
    """``argmin b^T G b - 2 h^T b`` over ``lower <= b <= upper`` (``G`` PSD, small).

    The minimum of a convex quadratic on a box is the unconstrained minimum of some
    face (each variable free, at ``lower`` or at ``upper``) that satisfies the KKT
    conditions: feasible, and the gradient ``2 (G b - h)`` pushes every fixed variable
    against its bound. Faces are tried from the interior outwards; the first that
    passes is the optimum (with a singular ``G``, one of several).
    """
    n = rhs.size
    best, best_obj = np.full(n, float(lower)), np.inf
    for state in _faces(n, bool(np.isfinite(upper))):
        code = np.array(state)
        free = code == 0
        b = np.where(code == 2, upper, lower).astype(float)
        if free.any():
            g_ff = gram[np.ix_(free, free)]
            r = rhs[free] - gram[np.ix_(free, ~free)] @ b[~free]
            b[free] = np.linalg.lstsq(g_ff, r, rcond=None)[0]
        scale = 1.0 + float(np.max(np.abs(b))) + float(np.max(np.abs(rhs)))
        slack = 1e-9 * scale
        if np.any(b < lower - slack) or np.any(b > upper + slack):
            continue
        b = np.clip(b, lower, upper)
        grad = gram @ b - rhs
        if np.all(grad[code == 1] >= -slack) and np.all(grad[code == 2] <= slack):
            return b
        # Rounding can fail every KKT test by a hair; keep the best feasible face.
        obj = float(b @ gram @ b - 2 * rhs @ b)
        if obj < best_obj:
            best, best_obj = b, obj
    return best


def _least_squares_bases(
    beta: np.ndarray, counts: np.ndarray, sums: np.ndarray, lower: float, upper: float
) -> np.ndarray:
    """Least-squares bases in the box for fixed masks, from per-mask statistics.

    ``E = sum_m sum_{i: m_i = m} (w_i - a_m . b)^2`` has normal equations
    ``(sum_m n_m a_m a_m^T) b = sum_m s_m a_m`` (``n_m`` weights with mask ``m``,
    summing to ``s_m``; ``a_m`` its bits). A base that no mask uses keeps its value.
    """
    bits = _mask_bits(beta.size)
    used = (counts @ bits) > 0
    gram = bits.T @ (counts[:, None] * bits)
    rhs = bits.T @ sums
    trial = beta.copy()
    if used.any():
        g_uu = gram[np.ix_(used, used)]
        r_u = rhs[used] - gram[np.ix_(used, ~used)] @ beta[~used]
        trial[used] = _box_least_squares(g_uu, r_u, lower, upper)
    return trial


def fit_bases(
    w: ArrayLike,
    base_weights: ArrayLike,
    *,
    lower: float = 0.0,
    upper: float = np.inf,
    max_iter: int = 200,
    tol: float = 1e-9,
    allow_drop: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Alternating optimisation of bases and masks from ``base_weights``.

    Each round takes the best masks for the bases (``best_masks``), then the
    least-squares bases for those masks within ``[lower, upper]``; a base that no mask
    uses keeps its value. Neither step increases ``E``, so ``E`` never rises.

    Args:
        w: ``(M,)`` nonzero weight magnitudes, weight units.
        base_weights: ``(n,)`` initial bases, weight units (clipped into the box).
        lower, upper: bounds on every base, weight units.
        max_iter: most rounds.
        tol: stop when a round lowers ``E`` by less than ``tol * E``.

    Returns:
        ``(bases, masks, sse)``: final bases, their best masks (uint8), and ``E``
        after each mask step, starting with the initial bases' (non-increasing).
    """
    w = np.asarray(w, dtype=float).ravel()
    beta = np.clip(np.asarray(base_weights, dtype=float), lower, upper)
    sorted_w = _SortedWeights(w)
    counts, sums, sse = sorted_w.assign(beta, allow_drop)
    history = [sse]
    for _ in range(max_iter):
        trial = _least_squares_bases(beta, counts, sums, lower, upper)
        trial_counts, trial_sums, sse = sorted_w.assign(trial, allow_drop)
        if sse > history[-1]:  # only rounding can do this; keep the better bases
            break
        beta, counts, sums = trial, trial_counts, trial_sums
        history.append(sse)
        if history[-2] - sse <= tol * history[-2]:
            break
    return beta, best_masks(w, beta, allow_drop=allow_drop)[0], np.array(history)


@functools.cache
def _orderings(n_bases: int) -> tuple[np.ndarray, ...]:
    """Orders of the ``2^n`` subset sums of ascending positive bases, masks ascending.

    Found by sampling (seeded, so fixed): for 4 bases all 14 orders (OEIS A009997),
    for more at most ``_MAX_ORDERINGS`` of them.
    """
    rng = np.random.default_rng(0)
    bits = _mask_bits(n_bases)
    seen: dict[tuple[int, ...], None] = {}
    for beta in np.sort(rng.random((4096, n_bases)), axis=1):
        seen.setdefault(tuple(np.argsort(bits @ beta, kind="stable")), None)
        if len(seen) == _MAX_ORDERINGS:
            break
    return tuple(np.array(order) for order in seen)


def initial_bases(w: ArrayLike, n_bases: int = 4) -> list[np.ndarray]:
    """The deterministic starting bases (weight units) for ``fit_bases``.

    * Geometric ladders ``beta_k = s r^k`` for ``r`` in 1, 1.5, 2, 3 with
      ``sum_k beta_k = max w`` (the binary ladder at ``max w`` is the third), and the
      binary ladder with sum at the 99th percentile of ``w`` (if below the maximum).
    * Level matching: the weights' cluster means (1-D ``k``-means with ``k = 2^n - 1``,
      or the distinct values when there are no more), in ascending order, given to
      nonzero masks in ascending order of their subset sums -- for each possible order
      of the subset sums (14 for 4 bases) and, with fewer means than masks, each choice
      of masks while that stays within ``_MAX_MATCHINGS`` -- with the least-squares
      bases of each assignment (negative ones clipped to 0); the ``_KEEP_MATCHINGS``
      with the lowest ``E`` are kept. When ``w`` is representable with masks whose
      levels are all distinct weights (for 4 bases: 14 or 15 masks used, within the
      budget), one of these is exact.
    * At most ``n`` distinct values: those values, exact before the grid (and on it
      when each value is a grid current).
    """
    w = np.asarray(w, dtype=float).ravel()
    if w.size == 0:
        return [2.0 ** np.arange(n_bases) / (2**n_bases - 1)]
    top = float(w.max())
    ladders = [np.asarray(r, dtype=float) ** np.arange(n_bases) for r in _LADDER_RATIOS]
    inits = [top * lad / lad.sum() for lad in ladders]
    robust = float(np.quantile(w, _ROBUST_QUANTILE))
    if 0 < robust < top:
        binary = 2.0 ** np.arange(n_bases)
        inits.append(robust * binary / binary.sum())
    sorted_w = _SortedWeights(w)
    means, sizes = sorted_w.clusters(2**n_bases - 1)
    if means.size <= n_bases:
        inits.append(np.concatenate((means, np.full(n_bases - means.size, top))))
        return inits
    orders = _orderings(n_bases)
    n_choices = math.comb(2**n_bases - 1, means.size)
    if len(orders) * n_choices > _MAX_MATCHINGS:
        return inits
    chosen = np.array(
        [c for order in orders for c in itertools.combinations(order[1:], means.size)]
    )
    bits = _mask_bits(n_bases)[chosen].astype(float)  # (assignments, means, bases)
    gram = np.einsum("atk,t,atl->akl", bits, sizes, bits)
    rhs = np.einsum("atk,t->ak", bits, means * sizes)
    # Negative least-squares bases are clipped: this only seeds fit_bases.
    betas = np.maximum(
        (np.linalg.pinv(gram, hermitian=True) @ rhs[..., None])[..., 0], 0
    )
    best = np.argsort(sorted_w.sse_many(betas), kind="stable")[:_KEEP_MATCHINGS]
    return inits + list(betas[best])


def _check_common(
    n_bases: int, i_scale: float, generator: BiasGenerator
) -> tuple[float, float]:
    if not (isinstance(n_bases, int | np.integer) and 1 <= n_bases <= MAX_BASES):
        raise ValueError(f"n_bases = {n_bases!r}: must be an integer in 1..{MAX_BASES}")
    if not (np.isfinite(i_scale) and i_scale > 0):
        raise ValueError(f"i_scale = {i_scale!r} A: must be positive and finite")
    return generator.min_current / i_scale, generator.max_current / i_scale


def _check_weights(W: ArrayLike, *, signed: bool) -> np.ndarray:
    w = np.asarray(W, dtype=float)
    bad = ~np.isfinite(w) if signed else ~(np.isfinite(w) & (w >= 0))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        value = float(w[where])
        why = "finite" if signed or not np.isfinite(value) else ">= 0"
        hint = "" if signed or why == "finite" else " (use quantize_signed)"
        label = f"W{list(where)}" if where else "W"
        raise ValueError(f"{label} = {value:g}: weights must be {why}{hint}")
    return w


def _check_reachable(
    w: np.ndarray, n_bases: int, i_scale: float, generator: BiasGenerator
) -> None:
    peak = float(np.abs(w).max()) if w.size else 0.0
    limit = n_bases * generator.max_current
    if peak * i_scale > limit * (1 + 1e-9):
        where = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(w)), w.shape))
        raise ValueError(
            f"W{list(where)} = {w[where]:g} is {peak * i_scale:g} A at i_scale = "
            f"{i_scale:g} A, above {limit:g} A, the sum of {n_bases} base currents at "
            f"the {generator.name} maximum; lower i_scale"
        )


def _grid_descent(
    w: _SortedWeights, idx: np.ndarray, grid: np.ndarray, allow_drop: bool
) -> tuple[np.ndarray, float]:
    """Move single bases to neighbouring grid levels while ``E`` drops."""
    idx = idx.copy()
    best = w.assign(grid[idx], allow_drop)[2]
    improved = True
    while improved:
        improved = False
        for k, step in itertools.product(range(idx.size), (1, -1)):
            while 0 <= idx[k] + step < grid.size:
                trial = idx.copy()
                trial[k] += step
                sse = w.assign(grid[trial], allow_drop)[2]
                if not sse < best * (1 - 1e-12):
                    break
                idx, best, improved = trial, sse, True
    return idx, best


def _on_grid(
    w: np.ndarray,
    starts: list[np.ndarray],
    i_scale: float,
    generator: BiasGenerator,
    allow_drop: bool,
) -> np.ndarray:
    """Grid indices of the best bases reachable from ``starts`` (weight units).

    Every start is snapped; the ``_KEEP_FITTED`` snapped starts with the lowest ``E``,
    and the last start (the binary ladder), go through grid descent.
    """
    currents = generator.grid()[2]
    grid = currents / i_scale
    sorted_w = _SortedWeights(w)

    def snapped(beta: np.ndarray) -> tuple[int, ...]:
        at = generator.snap(np.clip(beta * i_scale, 0, generator.max_current))[2]
        return tuple(np.sort(np.searchsorted(currents, at)).tolist())

    ranked: dict[tuple[int, ...], tuple[float, int]] = {}
    for idx in map(snapped, starts):
        sse = sorted_w.assign(grid[list(idx)], allow_drop)[2]
        ranked.setdefault(idx, (sse, len(ranked)))
    chosen = sorted(ranked, key=ranked.__getitem__)[:_KEEP_FITTED]
    found: dict[tuple[int, ...], tuple[float, int]] = {}
    for idx in [*chosen, snapped(starts[-1])]:
        end, sse = _grid_descent(sorted_w, np.array(idx), grid, allow_drop)
        found.setdefault(tuple(np.sort(end).tolist()), (sse, len(found)))
    return np.array(min(found, key=found.__getitem__), dtype=np.int64)


def _result(
    w_signed: np.ndarray,
    idx: np.ndarray,
    i_scale: float,
    generator: BiasGenerator,
    masks: np.ndarray | None = None,
    allow_drop: bool = True,
) -> QuantizedWeights:
    """Assemble the result for grid indices ``idx``; masks searched unless given."""
    coarse, fine, currents = generator.grid()
    bases = currents[idx]
    magnitude = np.abs(w_signed)
    signs = np.sign(w_signed).astype(np.int8)
    connected = signs != 0
    if masks is None:
        masks = np.zeros(w_signed.shape, np.uint8)
        masks[connected] = best_masks(
            magnitude[connected], bases / i_scale, allow_drop=allow_drop
        )[0]
    masks = np.where(connected, masks, 0).astype(np.uint8)
    recon = signs * ((_mask_bits(idx.size)[masks] @ bases) / i_scale)
    norm = float(np.linalg.norm(w_signed))
    err = recon - w_signed
    return QuantizedWeights(
        bases=bases,
        coarse=coarse[idx],
        fine=fine[idx],
        masks=masks,
        signs=signs,
        reconstruction=recon,
        i_scale=float(i_scale),
        rel_rms_error=float(np.linalg.norm(err) / norm) if norm > 0 else 0.0,
        max_abs_error=float(np.abs(err).max()) if err.size else 0.0,
        n_connections=int(connected.sum()),
        n_dropped=int((connected & (masks == 0)).sum()),
    )


class QuantizeOptions(TypedDict, total=False):
    """The keywords of :func:`quantize_weights` and :func:`quantize_signed`; the
    defaults are ``_quantize``'s (``DEFAULT_I_SCALE``, ``BASE_WEIGHT``, ``True``,
    200, 1e-9)."""

    i_scale: float
    generator: BiasGenerator
    allow_drop: bool
    max_iter: int
    tol: float


def _quantize(
    w_signed: np.ndarray,
    n_bases: int,
    *,
    i_scale: float = DEFAULT_I_SCALE,
    generator: BiasGenerator = BASE_WEIGHT,
    allow_drop: bool = True,
    max_iter: int = 200,
    tol: float = 1e-9,
) -> QuantizedWeights:
    lower, upper = _check_common(n_bases, i_scale, generator)
    _check_reachable(w_signed, n_bases, i_scale, generator)
    w = np.abs(w_signed[w_signed != 0])
    if w.size == 0:
        return _result(w_signed, np.zeros(n_bases, np.int64), i_scale, generator)
    inits = initial_bases(w, n_bases)
    fits = [
        fit_bases(
            w,
            beta,
            lower=lower,
            upper=upper,
            max_iter=max_iter,
            tol=tol,
            allow_drop=allow_drop,
        )
        for beta in inits
    ]
    # The binary ladder last, snapped as the baseline snaps it: it keeps the result
    # at least as good as quantize_weights_baseline.
    starts = [beta for beta, _, _ in fits] + [inits[_BINARY_LADDER]]
    idx = _on_grid(w, starts, i_scale, generator, allow_drop)
    return _result(w_signed, idx, i_scale, generator, allow_drop=allow_drop)


def quantize_weights(
    W: ArrayLike, n_bases: int = 4, **options: Unpack[QuantizeOptions]
) -> QuantizedWeights:
    """Quantize one core's nonnegative fan-in weights to bases and masks.

    See the module docstring for the method. The mask has one bit per base (§1), so
    ``n_bases`` is also the mask width: 4 on Dynap-SE2.

    Args:
        W: nonnegative weights of the connections into one core's neurons, any shape
            (e.g. pre x post), dimensionless; 0 is no connection.
        n_bases: base currents per core (4 on the chip).
        options: keywords (:class:`QuantizeOptions`):
        i_scale: amperes per unit weight (default :data:`DEFAULT_I_SCALE`).
        generator: the bias generator of the base currents (default BASE_WEIGHT).
        allow_drop: let a nonzero weight take mask 0 (lose its CAM entry; default
            ``True``).
        max_iter, tol: stopping rule of each alternating optimisation (default
            200, 1e-9).

    Raises:
        ValueError: a negative or non-finite weight, a weight above what ``n_bases``
            maximal base currents sum to, or a bad ``n_bases``/``i_scale``; the
            message names the entry or parameter and its value.
    """
    w = _check_weights(W, signed=False)
    return _quantize(w, n_bases, **options)


def quantize_signed(
    W: ArrayLike, n_bases: int = 4, **options: Unpack[QuantizeOptions]
) -> QuantizedWeights:
    """Quantize one core's signed fan-in weights: AMPA for > 0, GABA for < 0.

    Arguments as ``quantize_weights``; ``W`` may be negative. The result's ``signs``
    give each connection's dendrite (``ampa_masks``, ``gaba_masks``).
    """
    # NOTE: one set of bases serves both signs. dynapse2.md §1: every bias current,
    # "the 4 base weights" included, is shared by the core's 256 neurons, and the
    # weight biases are the single set Iw_0..Iw_3 -> SYAM_W0_P..SYAM_W3_P; a CAM entry
    # picks its dendrite (AMPA/GABA) and its mask independently. The reverse path
    # (§5.3) reads W = sign(dendrite) * sum_k b_k Iw_k(core). So the magnitudes of
    # excitatory and inhibitory weights are fitted jointly. (A separate inhibitory
    # scale would have to come from the GABA dendrite gain, DEGA_IGAIN_P, against
    # AMPA's DEAM_EGAIN_P -- a neuron parameter, not a weight; not modelled here.)
    w = _check_weights(W, signed=True)
    return _quantize(w, n_bases, **options)


def quantize_weights_baseline(
    W: ArrayLike,
    n_bases: int = 4,
    *,
    i_scale: float = DEFAULT_I_SCALE,
    generator: BiasGenerator = BASE_WEIGHT,
) -> QuantizedWeights:
    """A grid-unaware, reconstruction-only quantizer, for comparison.

    Stands in for Rockpool's flow as the reference describes it (dynapse2.md §4,
    "Consequences"): bases chosen for reconstruction alone, ignoring the bias grid,
    then exported to coarse/fine codes, which adds error. Here the bases are the
    binary ladder ``beta_k = max|w| 2^k / (2^n - 1)`` (Rockpool's default base
    currents are binary-weighted, §1; its autoencoder learns them instead), masks
    are ``round(|w| / beta_0)``, and the export snaps each base to the grid on its
    own and keeps the masks. Signed ``W`` keeps signs apart, as Rockpool does (§4, step 1).

    Raises:
        ValueError: a non-finite weight, or a base above the grid's maximum (named
            ``Iw_k``, with its current).
    """
    w = _check_weights(W, signed=True)
    _check_common(n_bases, i_scale, generator)
    magnitude = np.abs(w)
    top = float(magnitude.max()) if w.size else 0.0
    if top == 0:
        return _result(w, np.zeros(n_bases, np.int64), i_scale, generator)
    ladder = 2.0 ** np.arange(n_bases)
    beta = top * ladder / ladder.sum()
    masks = np.clip(np.round(magnitude / beta[0]), 0, 2**n_bases - 1).astype(np.uint8)
    snapped = [generator.snap(b * i_scale, f"Iw_{k}")[2] for k, b in enumerate(beta)]
    currents = generator.grid()[2]
    idx = np.searchsorted(currents, np.array(snapped, dtype=float))
    return _result(w, idx, i_scale, generator, masks=masks)
