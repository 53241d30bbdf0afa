"""``snntorch``: forward Euler at a fixed ``dt = 1e-4``.

snnTorch's ``export_to_nir`` writes ``tau = dt / (1 - beta)`` and ``r = tau / dt``
for ``beta = 1 - dt / tau``; it steps ``syn = alpha syn + x``,
``mem = beta mem + syn - thr S[t-1]`` (with its default ``reset_delay=True`` the
threshold is subtracted one step late, after the decay). IR parameters:
``tau = -dt / ln(beta)``, ``r``, ``v_leak``, ``w_in`` unchanged (``(1 - a) r = 1``),
``tau_syn = -dt / ln(alpha)``, reset ``subtract`` with ``v_subtract = thr / beta``.
Detected when every leaky neuron has ``tau = r * 1e-4``, ``v_leak = 0`` (and
``tau_syn = w_in * 1e-4``).
"""

from __future__ import annotations

import numpy as np

from frontends.nir.common import Array, Neuron, f64
from frontends.nir.conventions.base import (
    Convention,
    close,
    euler_leak,
    euler_synapse,
    exact_integrate,
)

__all__ = ["CONVENTION", "SNNTORCH_DT"]

SNNTORCH_DT = 1e-4
"""snnTorch's ``export_to_nir`` writes time constants for this fixed step (seconds)."""


def _subtract(v_threshold: Array, a: Array) -> Array:
    # reset_delay=True: mem[t+1] = beta mem[t] + x - thr S[t], i.e. thr / beta removed
    # before the decay. beta = 0 is a = exp(-64) here (see tau_for_decay).
    return f64(v_threshold) / a


def _is_snntorch(neuron: Neuron, dt: float) -> bool:
    node = neuron.node
    if neuron.kind not in ("LIF", "LI", "CubaLIF", "CubaLI"):
        return False
    ok = close(neuron.tau(), f64(node.r) * dt) and not np.any(f64(node.v_leak))
    if neuron.kind.startswith("Cuba"):
        ok = ok and close(node.tau_syn, f64(node.w_in) * dt)
    return ok


def _detect(neurons: list[Neuron], dt: float | None) -> float | None:
    if dt in (None, SNNTORCH_DT) and all(_is_snntorch(n, SNNTORCH_DT) for n in neurons):
        return SNNTORCH_DT
    return None


CONVENTION = Convention(
    "snntorch",
    euler_leak,
    euler_synapse,
    exact_integrate,
    reset="subtract",
    dt=SNNTORCH_DT,
    subtract=_subtract,
    reset_delay=True,
    detect=_detect,
)
