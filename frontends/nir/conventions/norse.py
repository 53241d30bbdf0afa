"""``norse``: forward Euler at ``dt = 1e-3`` (Norse's default).

Norse steps ``j = (1 - dt / tau_syn) j + x``, which feeds ``v`` in the same step;
``v`` starts at ``v_leak`` and resets to ``v_reset`` (``zero``). Norse 1.1.0 (2024 to
May 2025) writes ``tau = dt * tau`` (norse #411, ``norse_tau="dt-scaled"``), other
versions the true ``tau`` (``"true"``, before 2024 and after norse #413). IR
parameters: the true constants (``tau / dt`` when dt-scaled), then as snnTorch's
forward Euler; ``w_in = w_in tau_syn / dt`` (true ``tau_syn``); ``v_init = v_leak``.
The two ways of writing ``tau`` are told apart by the numbers when ``norse_tau`` is
not given (:func:`tau_mode`). Never detected: pass ``convention="norse"``.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from frontends.errors import FrontendError
from frontends.nir.common import Array, Neuron, NIRImportWarning, f64
from frontends.nir.conventions.base import (
    Convention,
    euler_leak,
    per_step_integrate,
    tau_for_decay,
)

__all__ = ["CONVENTION", "NORSE_DT", "NORSE_TAU_MODES", "tau_mode", "with_true_tau"]

NORSE_DT = 1e-3
"""Norse's default integration step (seconds)."""
NORSE_TAU_MODES = ("dt-scaled", "true")
"""How a Norse file writes its time constants: ``dt-scaled`` (Norse 1.1.0, 2024 to
May 2025: ``tau = dt * tau``, norse #411) or ``true`` (before 2024 and after norse
#413, May 2025)."""
_NORSE_SCALED_MAX = 0.1
"""A Norse ``tau`` at most this many ``dt`` cannot be a true forward-Euler time
constant (``1 - dt/tau <= -9``): it is ``dt * tau`` (``tau <= 100 dt``)."""


def _leak(tau: Array, r: Array, v_leak: Array, dt: float) -> tuple[Array, Array, Array]:
    # norse #411: to_nir writes tau = dt / tau_mem_inv = dt * tau_mem.
    return euler_leak(f64(tau) / dt, r, v_leak, dt)


def _synapse(tau_syn: Array, w_in: Array, dt: float) -> tuple[Array, Array]:
    # tau_syn is written as dt * tau_syn (norse #411).
    return _true_synapse(f64(tau_syn) / dt, w_in, dt)


def _true_synapse(tau_syn: Array, w_in: Array, dt: float) -> tuple[Array, Array]:
    # j = (1 - dt/tau_syn) j + x (the input jumps into the current, which drives v in
    # the same step).
    tau = f64(tau_syn)
    return tau_for_decay(1 - dt / tau, dt), f64(w_in) * tau / dt


def tau_mode(neurons: list[Neuron], dt: float) -> str:
    """``dt-scaled`` or ``true`` from the numbers, else a FrontendError.

    A true forward-Euler time constant is at least ``dt`` (else ``1 - dt/tau < 0``);
    Norse 1.1.0's ``dt * tau`` is at most ``0.1 dt`` for any ``tau <= 100 dt``.
    """
    leaky = [n for n in neurons if n.kind not in ("I", "IF")]
    taus = [
        (n, f64(getattr(n.node, f)))
        for n in leaky
        for f in ("tau", "tau_mem", "tau_syn")
        if getattr(n.node, f, None) is not None
    ]
    if not taus:
        return "dt-scaled"  # nothing to scale: either reading gives the same graph
    scaled = all(np.all(t <= _NORSE_SCALED_MAX * dt) for _, t in taus)
    true = all(np.all(t >= dt) for _, t in taus)
    if scaled:
        return "dt-scaled"
    if true:
        return "true"
    name = next((n.name for n, t in taus if not np.all(t >= dt)), taus[0][0].name)
    values = np.concatenate([np.ravel(t) for _, t in taus])
    raise FrontendError(
        f"node '{name}': Norse time constants {values.min():.6g} .. "
        f"{values.max():.6g} s do not say whether the file holds dt*tau (Norse "
        f"1.1.0, tau <= {_NORSE_SCALED_MAX * dt:g} s) or the true tau (other Norse "
        f"versions, tau >= dt = {dt:g} s); pass norse_tau='dt-scaled' or "
        "norse_tau='true' (CLI: --norse-tau), and dt= if the network ran with "
        f"another step than {dt:g} s"
    )


def with_true_tau(conv: Convention, dt: float, dt_assumed: bool) -> Convention:
    """``conv`` reading the true ``tau`` (``norse_tau="true"``); warns when ``dt``
    was assumed (``dt_assumed``), as such a file ties the network to no step."""
    if dt_assumed:
        # dt * tau at least ties the file to to_nir's dt (default 1e-3)
        warnings.warn(
            "a Norse file with the true tau does not record the step the "
            f"network ran with; assumed Norse's default dt = {dt:g} s: "
            "pass dt= (CLI: --dt) if it ran with another",
            NIRImportWarning,
            stacklevel=3,
        )
    return dataclasses.replace(conv, leak=euler_leak, synapse=_true_synapse)


CONVENTION = Convention(
    "norse",
    _leak,
    _synapse,
    per_step_integrate,
    reset="zero",
    dt=NORSE_DT,
    init_at_leak=True,
)
