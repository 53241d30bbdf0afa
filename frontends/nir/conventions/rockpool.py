"""``rockpool``: exact decay with the input added unscaled.

Rockpool steps ``I = b (I + x)``, ``v = a v + I + bias`` and emits
``floor(v / thr)`` spikes a step (``LIFTorch``'s ``max_spikes_per_dt``, default
2**16), subtracting. Its exporter writes ``r = tau exp(-dt / tau) / dt``, from which
``dt`` is recovered by solving per neuron. IR parameters: ``tau`` unchanged,
``r = 1 / (1 - a)``, ``v_leak = bias / (1 - a)``, ``w_in = w_in b / (1 - b)``.
Detected when ``r`` gives one ``dt`` for at least two different time constants.
Rockpool 3.1's ``to_nir`` writes ``v_leak = 0`` whatever the bias and drops a
recurrent ``LIFTorch``'s ``w_rec``: every import of a Rockpool file says so.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

import ir
from frontends.nir.common import (
    REL_TOL,
    Array,
    Flat,
    Neuron,
    NIRImportWarning,
    f64,
)
from frontends.nir.conventions.base import MANY_SPIKES, Convention, exact_integrate

__all__ = ["CONVENTION", "recover_dt"]

_DT_SNAP = 5e-7
"""Relative distance within which a recovered ``dt`` is taken as its 6-digit value."""


def _leak(tau: Array, r: Array, v_leak: Array, dt: float) -> tuple[Array, Array, Array]:
    # v = a v + I + bias: the input is not scaled by (1 - a); NIR's r only encodes dt.
    gain = 1 / (1 - np.exp(-dt / f64(tau)))
    return tau, gain, f64(v_leak) * gain


def _synapse(tau_syn: Array, w_in: Array, dt: float) -> tuple[Array, Array]:
    # isyn = b (isyn + x): the input is decayed in its own step, (1 - b) w_in = b.
    b = np.exp(-dt / f64(tau_syn))
    return tau_syn, f64(w_in) * b / (1 - b)


def recover_dt(neurons: list[Neuron]) -> float | None:
    """Solve Rockpool's ``r = tau exp(-dt/tau) / dt`` for one ``dt`` over all neurons."""
    steps = []
    for neuron in neurons:
        if neuron.kind not in ("LI", "LIF", "CubaLI", "CubaLIF"):
            return None
        tau, r = f64(neuron.tau()), f64(neuron.node.r)
        if np.any(r <= 0) or np.any(tau <= 0) or np.any(~np.isfinite(tau * r)):
            return None
        steps.append((tau * _lambert_w(1 / r)).ravel())
    if not steps:
        return None
    dts = np.concatenate(steps)
    dt = float(np.median(dts))
    if np.any(np.abs(dts - dt) > REL_TOL * dt):
        return None
    # r is float32, so each solution is dt to a few 1e-8 (relative): a step of 6
    # significant digits that close is the one the framework used (1e-3, not
    # 1.00000002e-3).
    rounded = float(f"{dt:.6g}")
    return rounded if abs(rounded - dt) <= _DT_SNAP * dt else dt


def _lambert_w(z: Array) -> Array:
    """Principal branch of ``x e^x = z`` for ``z > 0`` (Newton on ``ln x + x = ln z``)."""
    y = np.log(z) - np.log1p(z)  # start: x = z / (1 + z), a lower bound of the root
    for _ in range(60):
        y = y - (y + np.exp(y) - np.log(z)) / (1 + np.exp(y))
    return np.exp(y)


def _detect(neurons: list[Neuron], dt: float | None) -> float | None:
    taus = {float(t) for n in neurons for t in np.ravel(n.tau()) if math.isfinite(t)}
    rock_dt = recover_dt(neurons)
    if rock_dt is not None and len(taus) >= 2 and dt in (None, rock_dt):
        return rock_dt
    return None


def _warn_losses(graph: ir.Graph, flat: Flat) -> None:
    """Rockpool 3.1's exporter writes ``v_leak = 0`` for every neuron (the bias is
    lost) and a ``LIFTorch`` as a bare ``CubaLIF`` (a ``has_rec=True`` layer loses
    ``w_rec``); neither can be seen in the file, so say so."""
    neurons = [n for n in graph.nodes() if flat.kinds.get(n) in ("LIF", "CubaLIF")]
    if not neurons or any(np.any(f64(flat.nodes[n].v_leak) != 0) for n in neurons):
        return
    cuba = [
        n
        for n in neurons
        if flat.kinds[n] == "CubaLIF"
        and not any(e.recurrent for e in graph.in_edges(n))
    ]
    rec = (
        f"; a recurrent LIFTorch(has_rec=True) loses its w_rec ({', '.join(cuba)} "
        "have no recurrent input: if one was recurrent, the import is not the network)"
        if cuba
        else ""
    )
    warnings.warn(
        "Rockpool 3.1's to_nir writes v_leak = 0 whatever the neurons' bias "
        f"({', '.join(neurons)}: a nonzero bias is lost){rec}; re-add them in the "
        "graph if the network had them",
        NIRImportWarning,
        stacklevel=2,
    )


# NOTE: LIFTorch subtracts and emits up to max_spikes_per_dt (default 2**16)
# spikes a step; its export drops the bias (v_leak = 0) and any w_rec.
CONVENTION = Convention(
    "rockpool",
    _leak,
    _synapse,
    exact_integrate,
    reset="subtract",
    max_spikes=MANY_SPIKES,
    recover_dt=recover_dt,
    detect=_detect,
    warn_losses=_warn_losses,
)
