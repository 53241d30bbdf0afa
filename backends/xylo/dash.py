"""Time constants to Xylo bit-shift decays ("dash") and back.

Xylo decays a state by a right shift: one step multiplies it by ``1 - 2^-dash``
(``v <- v - (v >> dash)``, reference ``xylo.md`` §2; the integer floor and the
1-LSB minimum step are the emulator's business, not this module's). The float IR
(``ir/ops/snn.py``) decays exactly: one step multiplies by ``a = exp(-dt / tau)``.

Convention (one, used everywhere in the Xylo target): **nearest decay factor**. The
dash of a time constant is the integer ``d`` minimising ``|(1 - 2^-d) - exp(-dt/tau)|``,
i.e. the one whose per-step leak ``2^-d`` is nearest to the exact leak
``1 - exp(-dt/tau)``; the inverse is the exact ``tau(d) = -dt / ln(1 - 2^-d)``
(≈ ``(2^d - 0.5) dt``). A tie goes to the smaller dash.

The conventions in the reference (xylo.md §5) and why this one:

========================================  =======================================
rockpool graph conversion, docs           ``log2(tau/dt)``, rounded half-to-even
                                          later; inverse ``tau = dt 2^d``
``LIFTorch`` leak-mode helpers            ``-log2(1 - exp(-dt/tau))`` as a float
this module                               nearest ``1 - 2^-d`` to ``exp(-dt/tau)``
========================================  =======================================

``log2(tau/dt)`` is the large-``tau`` limit of the exact dash and is off by up to a
third of a step at small ``tau/dt`` (``tau/dt = 2`` gives 1 where the exact dash is
1.35), and its inverse ``dt 2^d`` does not reproduce the decay factor. Rounding the
exact float dash is right in log space; rounding in decay space instead minimises the
error of a state after one step, which is what the emulator-versus-interpreter
comparison sees. The two rules pick the same dash except near the boundaries, which
lie at ``tau/dt ≈ 2^d / 0.75`` (this module) instead of ``2^(d + 0.5)``.

Time constants are checked, not clamped: ``tau <= dt`` (rockpool's mapper rejects it
too, xylo.md §3) and ``tau`` whose nearest dash is beyond ``2^bits - 1``
(``tau/dt`` beyond about 43,690 with 4 bits) raise ``ResourceError`` naming the
neuron; dash 0 (state cleared every step) is never produced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backends.xylo.allocate import ResourceError

__all__ = [
    "DashFit",
    "dash_to_decay",
    "dash_to_tau",
    "fit_dash",
    "tau_to_dash",
    "tau_to_decay",
]


def tau_to_decay(tau: np.ndarray | float, dt: float) -> np.ndarray:
    """Exact per-step decay factor ``exp(-dt / tau)`` of the float IR neurons."""
    return np.exp(-dt / np.asarray(tau, dtype=np.float64))


def dash_to_decay(dash: np.ndarray | int) -> np.ndarray:
    """Per-step decay factor ``1 - 2^-dash`` of a Xylo bit-shift decay."""
    return 1.0 - np.exp2(-np.asarray(dash, dtype=np.float64))


def dash_to_tau(dash: np.ndarray | int, dt: float) -> np.ndarray:
    """Time constant (seconds) whose exact decay equals the dash's: ``-dt/ln(1-2^-d)``.

    Dash 0 (the state is cleared every step) gives ``tau = 0``.
    """
    leak = np.exp2(-np.asarray(dash, dtype=np.float64))
    with np.errstate(divide="ignore"):
        return -dt / np.log1p(-leak)


@dataclass(frozen=True, kw_only=True, eq=False)
class DashFit:
    """Dashes for a set of time constants, with the error each one makes.

    Attributes:
        dash: integer dashes (``int64``), the shape of ``tau``.
        tau: the requested time constants (seconds).
        tau_effective: the time constants the dashes realise (``dash_to_tau``).
        decay_error: relative error of the per-step decay factor,
            ``(1 - 2^-d) / exp(-dt/tau) - 1``.
        tau_error: relative error of the time constant, ``tau_effective / tau - 1``.
    """

    dash: np.ndarray
    tau: np.ndarray
    tau_effective: np.ndarray
    decay_error: np.ndarray
    tau_error: np.ndarray


def _nearest_dash(tau: np.ndarray, dt: float) -> np.ndarray:
    """Unbounded nearest-decay dash (``inf`` where ``tau`` is infinite)."""
    leak = -np.expm1(-dt / tau)  # exact 1 - exp(-dt/tau), accurate for large tau
    with np.errstate(divide="ignore"):
        exact = -np.log2(leak)
    low = np.floor(exact)
    finite = np.isfinite(low)
    low = np.where(finite, low, 0.0)
    # Between 2^-low and 2^-(low+1) the nearer one wins; the midpoint is 0.75 2^-low.
    nearer_high = leak < 0.75 * np.exp2(-low)
    return np.where(finite, low + nearer_high, np.inf)


def tau_to_dash(
    tau: np.ndarray | float, dt: float, *, dash_bits: int = 4, what: str = "tau"
) -> np.ndarray:
    """Dash of each time constant, by the nearest-decay convention (module docstring).

    Args:
        tau: time constants (seconds), any shape.
        dt: time step (seconds).
        dash_bits: dash register width (``XyloVariant.dash_bits``).
        what: what ``tau`` is (``"tau_mem of layer 'lif1'"``), for messages.

    Returns:
        ``int64`` dashes in ``1..2^dash_bits - 1``, the shape of ``tau``.

    Raises:
        ResourceError: ``tau <= dt``, ``tau`` not a number, or beyond the longest
            time constant the dash register holds; the message names the neuron.
    """
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive number of seconds, got {dt}")
    tau = np.asarray(tau, dtype=np.float64)
    max_dash = 2**dash_bits - 1
    short = np.flatnonzero(~(tau > dt))  # NaN counts as too short
    if short.size:
        i = _at(tau, int(short[0]))
        raise ResourceError(
            f"{what}{i} = {tau.flat[short[0]]:g} s is not longer than dt = {dt:g} s "
            f"({short.size} neuron(s)): Xylo's bit-shift decay needs tau > dt"
        )
    dash = _nearest_dash(tau, dt)
    long = np.flatnonzero(dash > max_dash)
    if long.size:
        i = _at(tau, int(long[0]))
        longest = float(dash_to_tau(max_dash, dt))
        raise ResourceError(
            f"{what}{i} = {tau.flat[long[0]]:g} s is beyond the longest time constant "
            f"of a {dash_bits}-bit dash (dash {max_dash}: {longest:g} s at dt = "
            f"{dt:g} s; {long.size} neuron(s))"
        )
    return dash.astype(np.int64)


def fit_dash(
    tau: np.ndarray | float, dt: float, *, dash_bits: int = 4, what: str = "tau"
) -> DashFit:
    """``tau_to_dash`` plus the decay and time-constant error of each neuron."""
    tau = np.asarray(tau, dtype=np.float64)
    dash = tau_to_dash(tau, dt, dash_bits=dash_bits, what=what)
    tau_effective = dash_to_tau(dash, dt)
    return DashFit(
        dash=dash,
        tau=tau,
        tau_effective=tau_effective,
        decay_error=dash_to_decay(dash) / tau_to_decay(tau, dt) - 1.0,
        tau_error=tau_effective / tau - 1.0,
    )


def _at(arr: np.ndarray, flat: int) -> str:
    """``[i]`` or ``[i, j]`` index text of a flat position, empty for a scalar."""
    if arr.ndim == 0:
        return ""
    return str(list(int(i) for i in np.unravel_index(flat, arr.shape)))
