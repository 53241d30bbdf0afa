"""``sinabs``: one step per unit of time (``dt = 1``).

Sinabs steps ``v += r x`` (IAF) and ``v = a v + (1 - a) x`` with
``a = exp(-1 / tau)``; its layers default to ``MultiSpike`` (``trunc(v / thr)``
spikes a step) and ``MembraneSubtract``. IR parameters: ``tau = tau_steps * dt``,
an IF's ``r = r / dt``; reset ``subtract``, many spikes. Its exporter does not write
``min_v_mem`` (the IR's ``v_min``): the import warns. Detected when there are
integrate-and-fire neurons, all with ``r = 1`` (and leaky ones with ``v_leak = 0``),
and no ``dt`` is given.
"""

from __future__ import annotations

import numpy as np

from frontends.nir.common import Array, Neuron, f64
from frontends.nir.conventions.base import (
    MANY_SPIKES,
    Convention,
    per_step_integrate,
)

__all__ = ["CONVENTION", "SINABS_DT"]

SINABS_DT = 1.0
"""Sinabs has no time unit: one step per unit of its time constants."""


def _leak(tau: Array, r: Array, v_leak: Array, dt: float) -> tuple[Array, Array, Array]:
    # Sinabs' tau counts steps: a = exp(-1 / tau).
    return f64(tau) * dt, r, v_leak


def _synapse(tau_syn: Array, w_in: Array, dt: float) -> tuple[Array, Array]:
    return f64(tau_syn) * dt, w_in


def _is_sinabs(neuron: Neuron) -> bool:
    node = neuron.node
    if neuron.kind == "IF":
        return bool(np.all(f64(node.r) == 1))
    if neuron.kind in ("LIF", "LI"):
        return bool(np.all(f64(node.r) == 1) and not np.any(f64(node.v_leak)))
    return False


def _detect(neurons: list[Neuron], dt: float | None) -> float | None:
    if (
        dt is None
        and any(n.kind == "IF" for n in neurons)
        and all(_is_sinabs(n) for n in neurons)
    ):
        return SINABS_DT
    return None


# NOTE: Sinabs IAF/LIF default to MultiSpike (floor(v / thr) spikes a step) and
# MembraneSubtract.
CONVENTION = Convention(
    "sinabs",
    _leak,
    _synapse,
    per_step_integrate,
    reset="subtract",
    max_spikes=MANY_SPIKES,
    dt=SINABS_DT,
    floor_note=(
        "Sinabs' exporter does not write min_v_mem; assumed none (the IAF/LIF "
        "layers' default). sinabs.from_torch clamps at -1.0 and sinabs.from_nir "
        "at -v_threshold: pass v_min=-1.0 or v_min='-threshold' (spikeforge "
        "import --v-min=-threshold), or v_min='none' to confirm no floor"
    ),
    detect=_detect,
)
