"""The Dynap-SE2 bias generator: (coarse, fine) codes to currents and back.

Every analog parameter of a Dynap-SE2 core (time constants, gains, threshold, pulse
widths, the 4 base weight currents) is a bias current set by a coarse code
``c in 0..5`` and a fine code ``f in 0..255`` (``shared/reference/dynapse2.md`` §1
"Bias generator", §8.1 "every bias on a 6x256 coarse/fine grid").

**Model.** Rockpool converts a code with a measured lookup table times a per-bias scale
factor, ``I = LUT[type][c][f] * s_param`` (§1). The table itself is not in the
reference; its shape is: roughly linear in ``f``, about x8 per coarse step, a floor of
about 0.4-1.1 pA at ``f = 0``, and full scale at ``f = 255`` of

* N type: 71.8 pA, 0.573 nA, 4.57 nA, 36.4 nA, 290 nA, 2.28 uA;
* P type: 66.9 pA ... 2.25 uA (only the ends are given; the four inner values are
  interpolated geometrically, x8.04 per step, the same ratio as the N type's x7.9-8.0).

So this module models the table as a straight line from the floor to full scale::

    I(c, f) = s * (I_floor + (I_fs[c] - I_floor) * f / 255)        [A]

with one ``I_floor`` per type, 0.5 pA (N) and 0.4 pA (P): values inside the
reference's 0.4-1.1 pA (which may vary with the coarse code; only coarse 0 depends on
it noticeably), chosen to match its default-current codes (§1, "Default currents -> (c, f)"): for
the eleven with a known scale factor, the reference's code decodes here to within 7 % of
its current (the Idc floor case: 10 %), and ``snap`` lands on the same coarse code
within 5 fine steps (base weights 1/2/4/8 nA: reference (3, 31) / (3, 67) / (3, 138) /
(4, 31), here (3, 33) / (3, 67) / (3, 133) / (4, 33)). It is a model of a measured,
per-chip table: treat its currents as accurate to a few percent, not to the last fine
step.

**Snapping.** ``snap`` picks the code whose current is nearest in relative (log) error,
``argmin |ln(I(c, f) / I)|``, over all 6 x 256 codes: a current is compared with its
two neighbours on the sorted grid and goes to the upper one past their geometric mean.
Codes that give the same current (every ``f = 0``) resolve to the lowest coarse code.
Coarse ranges overlap (x8 apart, so fine 32 of one is about fine 255 of the one
below): above the lowest eighth of coarse 0 every current lies where some coarse code
has ``f >= 32`` and neighbouring fine codes differ by about ``1/f``, so the grid's
relative step there is at most 1/32 (about 3 %; worst snap error half that, and
interleaved codes of two coarse ranges often make it much finer); it coarsens toward
the floor. ``resolution`` gives the step at any current.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "N_COARSE",
    "N_FINE",
    "N_TYPE_FULL_SCALE",
    "P_TYPE_FULL_SCALE",
    "SCALE_FACTORS",
    "BiasGenerator",
    "N_TYPE",
    "P_TYPE",
    "BASE_WEIGHT",
    "for_bias",
    "current_of",
    "snap",
]

N_COARSE = 6
"""Coarse codes ``0..5``."""

N_FINE = 256
"""Fine codes ``0..255``."""

N_TYPE_FULL_SCALE = (71.8e-12, 0.573e-9, 4.57e-9, 36.4e-9, 290e-9, 2.28e-6)
"""LUT current at ``f = 255`` per coarse code, N-type bias, amperes (dynapse2.md §1)."""

P_TYPE_FULL_SCALE = tuple(float(x) for x in np.geomspace(66.9e-12, 2.25e-6, N_COARSE))
"""LUT current at ``f = 255`` per coarse code, P-type bias, amperes: the reference's
66.9 pA and 2.25 uA ends (§1), geometric in between."""

SCALE_FACTORS: Mapping[str, float] = {
    **{f"SYAM_W{k}_P": 0.22 for k in range(4)},
    "DEAM_ETAU_P": 0.2,
    "DEAM_EGAIN_P": 0.68,
    "SOIF_LEAK_N": 0.61,
    "SOIF_GAIN_N": 1.05,
    "SOIF_SPKTHR_P": 0.38,
    "SOIF_DC_P": 0.38,
    "SYPD_EXT_N": 0.92,
}
"""Per-bias scale factors ``s_param`` that the reference gives (§1), by samna name."""

# Relative slack on the maximum: a current computed as ``max * x / x`` must not fail.
_MAX_SLACK = 1e-9


@dataclass(frozen=True, kw_only=True)
class BiasGenerator:
    """One bias generator: a transistor type's table and a bias's scale factor.

    ``I(c, f) = scale * (floor + (full_scale[c] - floor) * f / 255)`` amperes.

    Attributes:
        name: what the generator drives, for error messages (``SYAM_W0_P``).
        full_scale: LUT current at ``f = 255`` for each coarse code, amperes,
            increasing.
        floor: LUT current at ``f = 0``, amperes, below ``full_scale[0]``.
        scale: the bias's scale factor ``s_param`` (dimensionless, positive).
    """

    name: str
    full_scale: tuple[float, ...]
    floor: float
    scale: float = 1.0

    def __post_init__(self) -> None:
        fs = np.asarray(self.full_scale, dtype=float)
        if fs.shape != (N_COARSE,) or not np.all(np.isfinite(fs)):
            raise ValueError(
                f"bias generator {self.name}: full_scale must hold {N_COARSE} finite "
                f"currents, got {self.full_scale!r}"
            )
        if not 0 < self.floor < fs[0] or np.any(np.diff(fs) <= 0):
            raise ValueError(
                f"bias generator {self.name}: need 0 < floor ({self.floor:g} A) < "
                f"full_scale[0] and increasing full_scale, got {self.full_scale!r}"
            )
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(
                f"bias generator {self.name}: scale must be positive, got {self.scale:g}"
            )

    @property
    def min_current(self) -> float:
        """Smallest current on the grid (any ``f = 0``), amperes."""
        return float(self.scale * self.floor)

    @property
    def max_current(self) -> float:
        """Largest current on the grid, ``(5, 255)``, amperes."""
        return float(self.scale * self.full_scale[-1])

    def current_of(self, coarse: ArrayLike, fine: ArrayLike) -> np.ndarray:
        """Current of codes ``(coarse, fine)``, amperes; broadcasts like numpy.

        Raises:
            ValueError: a code that is not an integer in range, naming it.
        """
        c = _code(coarse, "coarse", N_COARSE)
        f = _code(fine, "fine", N_FINE)
        fs = np.asarray(self.full_scale)[c]
        return self.scale * (self.floor + (fs - self.floor) * f / (N_FINE - 1))

    @functools.cached_property
    def _levels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c, f = np.divmod(np.arange(N_COARSE * N_FINE), N_FINE)
        current = self.current_of(c, f)
        # np.unique keeps the first (lowest-coarse) code of equal currents.
        levels, first = np.unique(current, return_index=True)
        return c[first], f[first], levels

    def grid(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The distinct grid currents, ascending, with one code each.

        Returns:
            ``(coarse, fine, current)``: int64, int64 and float arrays (amperes) of
            equal length; equal currents keep the lowest coarse code.
        """
        c, f, levels = self._levels
        return c.copy(), f.copy(), levels.copy()

    def snap(
        self, current: ArrayLike, name: str = "current"
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest grid point in relative error, ``argmin |ln(I(c, f) / current)|``.

        ``0`` snaps to the floor (no code gives less). Broadcasts over arrays.

        Args:
            current: amperes, ``0 <= current <= max_current``.
            name: the parameter's name, for error messages.

        Returns:
            ``(coarse, fine, snapped_current)`` with the shape of ``current``.

        Raises:
            ValueError: a negative, non-finite or too-large current, naming ``name``
                (and the index, for arrays) and the value.
        """
        x = self._check_current(current, name)
        c, f, levels = self._levels
        hi = np.clip(np.searchsorted(levels, x), 0, levels.size - 1)
        lo = np.maximum(hi - 1, 0)
        # Past the geometric mean of its neighbours a current is nearer the upper one.
        idx = np.where(x * x > levels[lo] * levels[hi], hi, lo)
        return c[idx], f[idx], levels[idx]

    def resolution(self, current: ArrayLike, name: str = "current") -> np.ndarray:
        """Relative step of the grid at ``current``: ``hi / lo - 1``.

        ``lo <= current <= hi`` are neighbouring grid currents (the first cell for
        currents at or below the floor); the worst relative snap error in that cell
        is about half of this.
        """
        x = self._check_current(current, name)
        levels = self._levels[2]
        hi = np.clip(np.searchsorted(levels, x), 1, levels.size - 1)
        return np.asarray(levels[hi] / levels[hi - 1] - 1.0)

    def _check_current(self, current: ArrayLike, name: str) -> np.ndarray:
        x = np.asarray(current, dtype=float)
        bad = ~(np.isfinite(x) & (x >= 0) & (x <= self.max_current * (1 + _MAX_SLACK)))
        if not bad.any():
            return np.minimum(x, self.max_current)
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        label = f"{name}[{', '.join(map(str, where))}]" if where else name
        value = float(x[where])
        if not np.isfinite(value) or value < 0:
            raise ValueError(
                f"{label} = {value:g} A: a bias current must be finite and >= 0"
            )
        raise ValueError(
            f"{label} = {value:g} A is above the largest current of bias generator "
            f"{self.name}, {self.max_current:g} A (coarse {N_COARSE - 1}, fine "
            f"{N_FINE - 1})"
        )


def _code(value: ArrayLike, name: str, n: int) -> np.ndarray:
    x = np.asarray(value)
    if x.dtype.kind in "ui":
        bad = (x < 0) | (x >= n)
    else:
        xf = x.astype(float)
        bad = ~(np.isfinite(xf) & (xf == np.round(xf)) & (xf >= 0) & (xf < n))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        label = f"{name}[{', '.join(map(str, where))}]" if where else name
        raise ValueError(
            f"{label} = {x[where].item()!r}: must be an integer in 0..{n - 1}"
        )
    return x.astype(np.int64)


N_TYPE = BiasGenerator(name="N type", full_scale=N_TYPE_FULL_SCALE, floor=0.5e-12)
"""An N-type bias generator with scale 1: the raw table."""

P_TYPE = BiasGenerator(name="P type", full_scale=P_TYPE_FULL_SCALE, floor=0.4e-12)
"""A P-type bias generator with scale 1: the raw table."""


def for_bias(name: str, scale: float | None = None) -> BiasGenerator:
    """The generator of a samna bias, e.g. ``SYAM_W0_P`` or ``SOIF_LEAK_N``.

    The transistor type is the name's last letter (dynapse2.md §1). The scale factor
    is ``scale`` if given, else the reference's value from ``SCALE_FACTORS``.

    Raises:
        ValueError: a name that does not end in ``_N`` or ``_P``, or a name without
            a known scale factor when ``scale`` is not given (listing the known ones).
    """
    base = {"N": N_TYPE, "P": P_TYPE}.get(name[-1:]) if name[-2:-1] == "_" else None
    if base is None:
        raise ValueError(f"bias name {name!r} must end in _N or _P (transistor type)")
    if scale is None:
        if name not in SCALE_FACTORS:
            raise ValueError(
                f"no scale factor known for bias {name!r}; pass scale=, or use one "
                f"of {', '.join(sorted(SCALE_FACTORS))}"
            )
        scale = SCALE_FACTORS[name]
    return BiasGenerator(
        name=name, full_scale=base.full_scale, floor=base.floor, scale=scale
    )


BASE_WEIGHT = for_bias("SYAM_W0_P")
"""The generator of the 4 base weight currents ``Iw_0..Iw_3`` (``SYAM_W0_P`` ..
``SYAM_W3_P``, P type, scale 0.22; dynapse2.md §1): 0.088 pA .. 495 nA."""


def current_of(
    coarse: ArrayLike, fine: ArrayLike, generator: BiasGenerator = BASE_WEIGHT
) -> np.ndarray:
    """``generator.current_of(coarse, fine)``, amperes; base weights by default."""
    return generator.current_of(coarse, fine)


def snap(
    current: ArrayLike, name: str = "current", generator: BiasGenerator = BASE_WEIGHT
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``generator.snap(current, name)``: ``(coarse, fine, snapped_current)``."""
    return generator.snap(current, name)
