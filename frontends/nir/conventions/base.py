"""The :class:`Convention` interface and the step mappings several exporters share.

A convention is data: functions that turn NIR's continuous-time parameters into the
IR's discrete-time ones (``ir/ops/snn.py``: exact decay ``a = exp(-dt / tau)`` with
the input held over the step), the framework's defaults (reset mode, spikes per step,
step), and optional hooks the reader calls: ``recover_dt`` (the step from the
numbers), ``detect`` (is this file certainly this framework's?) and ``warn_losses``
(what the exporter drops that the file cannot show).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import ir
from frontends.nir.common import REL_TOL, Array, Flat, Neuron, f64

__all__ = [
    "MANY_SPIKES",
    "Convention",
    "DetectFn",
    "IntegrateFn",
    "LeakFn",
    "LossesFn",
    "SubtractFn",
    "SynapseFn",
    "close",
    "euler_leak",
    "euler_synapse",
    "exact_integrate",
    "exact_leak",
    "exact_synapse",
    "per_step_integrate",
    "tau_for_decay",
]

MANY_SPIKES = 2**16
"""``max_spikes`` for frameworks that emit ``floor(v / v_threshold)`` spikes a step."""

LeakFn = Callable[[Array, Array, Array, float], tuple[Array, Array, Array]]
"""``(tau, r, v_leak, dt) -> (tau, r, v_leak)`` of the IR op."""
SynapseFn = Callable[[Array, Array, float], tuple[Array, Array]]
"""``(tau_syn, w_in, dt) -> (tau_syn, w_in)`` of the IR op."""
IntegrateFn = Callable[[Array, float], Array]
"""``(r, dt) -> r`` of the IR op (``snn.integrator``, ``snn.if``)."""
SubtractFn = Callable[[Array, Array], Array]
"""``(v_threshold, a) -> v_subtract`` of a subtracting neuron with membrane decay ``a``."""
DetectFn = Callable[[list[Neuron], float | None], float | None]
"""``(neurons, dt given) -> dt`` when the numbers make the convention certain, else
``None``."""
LossesFn = Callable[[ir.Graph, Flat], None]
"""``(imported graph, flattened file) -> None``: warns about what the exporter lost."""


@dataclass(frozen=True)
class Convention:
    """How one framework stepped NIR neurons, as functions onto IR parameters.

    Attributes:
        name: the ``convention=`` value.
        leak: membrane ``tau v' = (v_leak - v) + r I`` onto ``snn.li``/``snn.lif``.
        synapse: CubaLIF synapse ``tau_syn I' = -I + w_in S`` onto the IR's.
        integrate: ``v' = r I`` onto ``snn.integrator``/``snn.if``.
        reset: the framework's reset mode (used when ``reset=`` is not given).
        max_spikes: spikes a neuron may emit per step.
        dt: the framework's step when the file does not determine it (seconds).
        recover_dt: finds the step from the neurons' numbers, or ``None``.
        subtract: the amount a spike removes under ``reset="subtract"``, from the
            threshold and the membrane's per-step decay; ``None``: the threshold.
        init_at_leak: the membrane starts at ``v_leak`` instead of 0.
        reset_delay: the default of snnTorch's ``reset_delay`` (``True``: ``subtract``
            removes the threshold one step late, through ``subtract``; ``False``: in
            the same step, with ``refire_offset = v_threshold``); ``None``: the
            framework has no such option.
        floor_note: what the framework's exporter leaves out about the membrane
            floor (Sinabs' ``min_v_mem``), for the warning; ``None``: no floor.
        detect: recognizes the framework's files by their numbers when no
            ``convention=`` is given (tried in the order of ``CONVENTIONS``);
            ``None``: never detected.
        warn_losses: called after importing a foreign file (not spikeforge's own)
            under this convention, to warn about what the exporter drops.
    """

    name: str
    leak: LeakFn
    synapse: SynapseFn
    integrate: IntegrateFn
    reset: str
    max_spikes: int = 1
    dt: float | None = None
    recover_dt: Callable[[list[Neuron]], float | None] | None = None
    subtract: SubtractFn | None = None
    init_at_leak: bool = False
    reset_delay: bool | None = None
    floor_note: str | None = None
    detect: DetectFn | None = None
    warn_losses: LossesFn | None = None


def tau_for_decay(a: Array, dt: float) -> Array:
    """The IR time constant whose exact decay over ``dt`` is ``a`` (0 < a < 1)."""
    # NOTE: a = 0 (no memory, e.g. snnTorch beta = 0) has no finite tau; dt / 64
    # gives a = exp(-64) ~ 1e-28, below float32 resolution of any state.
    with np.errstate(divide="ignore"):
        return np.where(a > 0, -dt / np.log(np.where(a > 0, a, 0.5)), dt / 64)


def exact_leak(
    tau: Array, r: Array, v_leak: Array, dt: float
) -> tuple[Array, Array, Array]:
    return tau, r, v_leak


def exact_synapse(tau_syn: Array, w_in: Array, dt: float) -> tuple[Array, Array]:
    return tau_syn, w_in


def exact_integrate(r: Array, dt: float) -> Array:
    return r


def euler_leak(
    tau: Array, r: Array, v_leak: Array, dt: float
) -> tuple[Array, Array, Array]:
    # v += dt/tau (v_leak - v + r I)  ==  v = a v + (1 - a)(v_leak + r I), a = 1 - dt/tau
    return tau_for_decay(1 - dt / f64(tau), dt), r, v_leak


def euler_synapse(tau_syn: Array, w_in: Array, dt: float) -> tuple[Array, Array]:
    return tau_for_decay(1 - dt / f64(tau_syn), dt), w_in


def per_step_integrate(r: Array, dt: float) -> Array:
    # v += r I every step, whatever dt is.
    return f64(r) / dt


def close(a: Array, b: Array) -> bool:
    """``a`` and ``b`` agree within :data:`REL_TOL` (relative), element by element."""
    a, b = f64(a), f64(b)
    return bool(np.all(np.abs(a - b) <= REL_TOL * np.maximum(np.abs(a), np.abs(b))))
