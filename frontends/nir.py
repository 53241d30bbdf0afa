"""NIR frontend: ``.nir`` files and ``nir.NIRGraph`` objects to ``ir.Graph`` and back.

NIR (neuroir.org) describes neurons as continuous-time ODEs with no time step and no
reset mode; the IR is discrete-time (``ir/ops/snn.py``): exact exponential decay with
the input held over the step, ``v[t] = a v[t-1] + (1 - a)(v_leak + r I[t])`` with
``a = exp(-dt / tau)``, integrators ``v[t] = v[t-1] + dt r I[t]``, a CubaLIF synapse
first (``I[t] = b I[t-1] + (1 - b) w_in S[t]``, ``b = exp(-dt / tau_syn)``), spike
when ``v >= v_threshold``, reset ``zero`` or ``subtract``.

Each exporting framework discretised the ODE its own way before writing NIR, so the
same numbers mean different networks. A :class:`Convention` says how one framework
stepped its neurons and turns NIR's parameters into IR parameters that reproduce that
framework step for step (checked against each framework's own simulation in
``tests/fixtures/``; the equations are in ``tests/fixtures/README.md``):

============  ======================================  =================================
convention    framework step (NIR params as written)  IR params
============  ======================================  =================================
exact         the ODE stepped exactly (needs ``dt``)  unchanged; reset ``zero``
snntorch      forward Euler, dt = 1e-4 fixed:         ``tau = -dt / ln(beta)``,
              ``beta = 1 - dt/tau`` (the exporter     ``r``, ``v_leak``, ``w_in``
              wrote ``tau = dt/(1-beta)``,            unchanged (``(1 - a) r = 1``);
              ``r = tau/dt``); ``syn = alpha syn +    synapse alike:
              x``, ``mem = beta mem + syn - thr       ``tau_syn = -dt / ln(alpha)``;
              S[t-1]`` (subtract one step late,       reset ``subtract`` with
              after the decay)                        ``v_subtract = thr / beta``
rockpool      exact decay, input added unscaled:      ``tau`` unchanged,
              ``I = b (I + x)``, ``v = a v + I +      ``r = 1 / (1 - a)``,
              bias``; ``r = tau exp(-dt/tau)/dt``     ``v_leak = bias / (1 - a)``,
              (``dt`` recovered by solving this       ``w_in = w_in b / (1 - b)``;
              per neuron); ``floor(v/thr)`` spikes    ``subtract``, many spikes
sinabs        one step per unit of time (dt = 1):     ``tau = tau_steps * dt``,
              ``v += r x`` (IAF), ``v = a v + (1-a)   IF ``r = r / dt``; ``subtract``,
              x``, ``a = exp(-1/tau)``; MultiSpike    many spikes
              ``trunc(v/thr)``, MembraneSubtract
norse         forward Euler, dt = 1e-3 (default);     true constants (``tau / dt``
              Norse 1.1.0 writes ``tau = dt * tau``   when dt-scaled), then as
              (norse #411), others the true tau;      snntorch; ``w_in = w_in
              ``j = (1 - dt/tau_syn) j + x`` feeds    tau_syn / dt`` (true
              ``v`` in the same step; ``v`` starts    ``tau_syn``); reset ``zero``;
              at ``v_leak``                           ``v_init = v_leak``
============  ======================================  =================================

Norse's two ways of writing ``tau`` (``norse_tau="dt-scaled"``: Norse 1.1.0, 2024 to
May 2025; ``"true"``: before 2024 and after norse #413) are told apart by the numbers
when ``norse_tau`` is not given: a true forward-Euler ``tau`` is at least ``dt``, and
``dt * tau`` is at most ``0.1 dt`` for any ``tau`` up to 100 steps. Time constants in
between, or some of each, are refused with an error that names ``norse_tau``. A true
``tau`` ties the file to no step, so without ``dt=`` the import warns that it assumed
Norse's default 1e-3 s (the NIR paper's Norse neuron ran at 1e-4).

Resets and spikes: snnTorch and Sinabs default to reset by subtraction, Rockpool
always subtracts (Rockpool and Sinabs' ``MultiSpike`` emit ``floor(v / v_threshold)``
spikes per step), Norse and the NIR spec reset to ``v_reset`` (``zero``). No exporter
writes its reset mode, so a network trained with a non-default one (e.g. snnTorch's
``reset_mechanism="zero"``) needs ``reset=``. snnTorch's default ``reset_delay=True``
subtracts the threshold one step late, after the decay
(``mem[t+1] = beta mem[t] + x - thr S[t]``); that equals the IR subtracting
``thr / beta`` at once (``v_subtract``), spike condition unchanged. With
``reset_delay=False`` snnTorch subtracts in the same step but its spike test still
removes the delayed reset that its "avoid double reset" then adds back, so a
membrane left above threshold needs ``2 thr`` to fire again: the IR's
``refire_offset = thr`` (snnTorch 1.0.0's ``RSynaptic`` ignores ``reset_delay=False``
and keeps the delayed reset; the importer does the same, with a warning). Sinabs
clamps the membrane at ``min_v_mem`` after each reset (the IR's ``v_min``). Neither
``reset_delay`` nor ``min_v_mem`` nor the reset mode is written by the exporters:
``reset_delay=``, ``v_min=`` and ``reset=`` say them, and where they are not given
the framework's default is used with a :class:`ConventionWarning`. The IR spikes at
``v >= v_threshold``; NIR, snnTorch and Norse at ``v > thr`` (Sinabs and Rockpool at
``>=``): the two differ only when the membrane equals the threshold exactly.

With ``convention=None`` the convention is read from the file when spikeforge wrote
it (``to_nir`` stores ``dt``, reset modes and recurrent edges in NIR metadata), else
detected where the numbers leave no doubt: every leaky neuron has ``tau = r * 1e-4``,
``v_leak = 0`` (and ``tau_syn = w_in * 1e-4``) is snnTorch; integrate-and-fire
neurons with ``r = 1`` and no ``dt`` given is Sinabs; Rockpool's ``r`` formula giving
one ``dt`` for at least two different time constants is Rockpool. Anything else is a
:class:`FrontendError` that names the neuron and the argument to pass.

Exporter quirks are tolerated with a :class:`NIRImportWarning` that names them, never
silently: Rockpool 3.1's ``to_nir`` (written with nir <= 1.0.4) types the graph's
``Output`` with the export sample's batch/time dims (``(8, 1, 4)`` or ``(1, 1, 4)``
where the edge carries ``(4,)``; a 3-D type ending in the edge's size or all ones is
taken as that, any other mismatch is an error) and, with its default sample, the
``Input`` as ``[1, n]`` (taken as ``(n,)`` when only dense layers read it); it writes
``v_leak = 0`` whatever the bias and drops a recurrent ``LIFTorch``'s ``w_rec``, which
the file cannot show, so every Rockpool import says so. Time constants that leave
(almost) no memory after the mapping (per-step decay below 1e-3) are warned about, as
they are the sign of a wrong convention, ``dt`` or ``norse_tau``.

Structure: sub-graphs are flattened into the parent with dotted names (``g.lif``);
edges addressing ``g``, ``g.input`` or ``g.output`` go through the child's ``Input``
and ``Output`` nodes, which disappear. An edge that closes a cycle is marked recurrent
(it reads the previous step): the edge *out of* a stateful op (neuron or delay), the
last one met when the cycle is walked from its node nearest the graph inputs (for
snnTorch's ``RSynaptic`` that is ``lif -> w_rec``, so the recurrent ``Affine`` adds
its bias from the first step on, as NIR's continuous-time graph and snnTorch do).
Several edges into one node sum. Scalar neuron parameters are broadcast to the
layer's shape. Files are read without nir's type check at every level (nir >= 1.0.8
checks nested sub-graphs even with ``type_check=False``); ``ir.verify`` checks the
flattened graph.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import networkx as nx
import numpy as np

import ir
from frontends.errors import FrontendError
from ir.ops import io, nn, snn
from ir.serialize import install_file

__all__ = [
    "CONVENTIONS",
    "NORSE_TAU_MODES",
    "Convention",
    "ConventionWarning",
    "ImportInfo",
    "NIRImportWarning",
    "V_MIN_CHOICES",
    "from_nir",
    "from_nir_info",
    "to_nir",
    "write_nir",
]

Array = np.ndarray

SNNTORCH_DT = 1e-4
"""snnTorch's ``export_to_nir`` writes time constants for this fixed step (seconds)."""
NORSE_DT = 1e-3
"""Norse's default integration step (seconds)."""
SINABS_DT = 1.0
"""Sinabs has no time unit: one step per unit of its time constants."""
_MANY_SPIKES = 2**16
"""``max_spikes`` for frameworks that emit ``floor(v / v_threshold)`` spikes a step."""
_DT_SNAP = 5e-7
"""Relative distance within which a recovered ``dt`` is taken as its 6-digit value."""
_META_PREFIX = "spikeforge_"
_REL_TOL = 1e-4
"""Relative tolerance when recognizing an exporter's numbers (float32 round-off)."""
NORSE_TAU_MODES = ("dt-scaled", "true")
"""How a Norse file writes its time constants: ``dt-scaled`` (Norse 1.1.0, 2024 to
May 2025: ``tau = dt * tau``, norse #411) or ``true`` (before 2024 and after norse
#413, May 2025)."""
_NORSE_SCALED_MAX = 0.1
"""A Norse ``tau`` at most this many ``dt`` cannot be a true forward-Euler time
constant (``1 - dt/tau <= -9``): it is ``dt * tau`` (``tau <= 100 dt``)."""
_COLLAPSED = 1e-3
"""Per-step decay below which a time constant has collapsed (``tau < dt / 6.9``)."""


class NIRImportWarning(UserWarning):
    """An import that goes through but may differ from the exporter's network: an
    exporter quirk tolerated, or a time constant that collapsed to no memory."""


@dataclass(frozen=True)
class ImportInfo:
    """What :func:`from_nir_info` used, and where each choice came from.

    Attributes:
        convention: the convention's name.
        convention_from: ``"given"``, ``"metadata"`` (spikeforge's own file),
            ``"detected"`` or ``"default"`` (no neurons: ``exact``).
        dt: the graph's step (seconds), or ``None``.
        dt_from: ``"given"``, ``"metadata"``, ``"detected"``, ``"recovered"`` (from
            the neurons' numbers), ``"convention"`` or ``"none"``.
        resets: spiking neurons per reset mode, e.g. ``{"subtract": 2}``.
        reset_from: ``"given"``, ``"metadata"`` or ``"convention"``.
        norse_tau: the Norse time-constant mode (``None`` for other conventions).
        norse_tau_from: ``"given"`` or ``"detected"`` (``None`` when not Norse).
    """

    convention: str
    convention_from: str
    dt: float | None
    dt_from: str
    resets: Mapping[str, int]
    reset_from: str
    norse_tau: str | None = None
    norse_tau_from: str | None = None

    def describe(self) -> str:
        """One line: ``convention norse (given), norse_tau true (detected), ...``."""
        parts = [f"convention {self.convention} ({self.convention_from})"]
        if self.norse_tau is not None:
            parts.append(f"norse_tau {self.norse_tau} ({self.norse_tau_from})")
        dt = "none" if self.dt is None else f"{self.dt:g} s"
        parts.append(f"dt {dt} ({self.dt_from})")
        if self.resets:
            modes = ", ".join(f"{m} x{n}" for m, n in sorted(self.resets.items()))
            parts.append(f"reset {modes} ({self.reset_from})")
        return ", ".join(parts)


V_MIN_CHOICES = ("none", "-threshold")
"""Named ``v_min=`` values: no floor, or each neuron's ``-v_threshold``."""


class ConventionWarning(UserWarning):
    """An import assumed what the file does not record (a reset variant, a floor)."""


# -- conventions ---------------------------------------------------------------------

LeakFn = Callable[[Array, Array, Array, float], tuple[Array, Array, Array]]
"""``(tau, r, v_leak, dt) -> (tau, r, v_leak)`` of the IR op."""
SynapseFn = Callable[[Array, Array, float], tuple[Array, Array]]
"""``(tau_syn, w_in, dt) -> (tau_syn, w_in)`` of the IR op."""
IntegrateFn = Callable[[Array, float], Array]
"""``(r, dt) -> r`` of the IR op (``snn.integrator``, ``snn.if``)."""
SubtractFn = Callable[[Array, Array], Array]
"""``(v_threshold, a) -> v_subtract`` of a subtracting neuron with membrane decay ``a``."""


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
    """

    name: str
    leak: LeakFn
    synapse: SynapseFn
    integrate: IntegrateFn
    reset: str
    max_spikes: int = 1
    dt: float | None = None
    recover_dt: Callable[[list[_Neuron]], float | None] | None = None
    subtract: SubtractFn | None = None
    init_at_leak: bool = False
    reset_delay: bool | None = None
    floor_note: str | None = None


def _f64(x: Any) -> Array:
    return np.asarray(x, dtype=np.float64)


def _tau_for_decay(a: Array, dt: float) -> Array:
    """The IR time constant whose exact decay over ``dt`` is ``a`` (0 < a < 1)."""
    # NOTE: a = 0 (no memory, e.g. snnTorch beta = 0) has no finite tau; dt / 64
    # gives a = exp(-64) ~ 1e-28, below float32 resolution of any state.
    with np.errstate(divide="ignore"):
        return np.where(a > 0, -dt / np.log(np.where(a > 0, a, 0.5)), dt / 64)


def _exact_leak(
    tau: Array, r: Array, v_leak: Array, dt: float
) -> tuple[Array, Array, Array]:
    return tau, r, v_leak


def _exact_synapse(tau_syn: Array, w_in: Array, dt: float) -> tuple[Array, Array]:
    return tau_syn, w_in


def _exact_integrate(r: Array, dt: float) -> Array:
    return r


def _euler_leak(
    tau: Array, r: Array, v_leak: Array, dt: float
) -> tuple[Array, Array, Array]:
    # v += dt/tau (v_leak - v + r I)  ==  v = a v + (1 - a)(v_leak + r I), a = 1 - dt/tau
    return _tau_for_decay(1 - dt / _f64(tau), dt), r, v_leak


def _euler_synapse(tau_syn: Array, w_in: Array, dt: float) -> tuple[Array, Array]:
    return _tau_for_decay(1 - dt / _f64(tau_syn), dt), w_in


def _rockpool_leak(
    tau: Array, r: Array, v_leak: Array, dt: float
) -> tuple[Array, Array, Array]:
    # v = a v + I + bias: the input is not scaled by (1 - a); NIR's r only encodes dt.
    gain = 1 / (1 - np.exp(-dt / _f64(tau)))
    return tau, gain, _f64(v_leak) * gain


def _rockpool_synapse(tau_syn: Array, w_in: Array, dt: float) -> tuple[Array, Array]:
    # isyn = b (isyn + x): the input is decayed in its own step, (1 - b) w_in = b.
    b = np.exp(-dt / _f64(tau_syn))
    return tau_syn, _f64(w_in) * b / (1 - b)


def _sinabs_leak(
    tau: Array, r: Array, v_leak: Array, dt: float
) -> tuple[Array, Array, Array]:
    # Sinabs' tau counts steps: a = exp(-1 / tau).
    return _f64(tau) * dt, r, v_leak


def _sinabs_synapse(tau_syn: Array, w_in: Array, dt: float) -> tuple[Array, Array]:
    return _f64(tau_syn) * dt, w_in


def _per_step_integrate(r: Array, dt: float) -> Array:
    # v += r I every step, whatever dt is.
    return _f64(r) / dt


def _snntorch_subtract(v_threshold: Array, a: Array) -> Array:
    # reset_delay=True: mem[t+1] = beta mem[t] + x - thr S[t], i.e. thr / beta removed
    # before the decay. beta = 0 is a = exp(-64) here (see _tau_for_decay).
    return _f64(v_threshold) / a


def _norse_leak(
    tau: Array, r: Array, v_leak: Array, dt: float
) -> tuple[Array, Array, Array]:
    # norse #411: to_nir writes tau = dt / tau_mem_inv = dt * tau_mem.
    return _euler_leak(_f64(tau) / dt, r, v_leak, dt)


def _norse_synapse(tau_syn: Array, w_in: Array, dt: float) -> tuple[Array, Array]:
    # tau_syn is written as dt * tau_syn (norse #411).
    return _norse_true_synapse(_f64(tau_syn) / dt, w_in, dt)


def _norse_true_synapse(tau_syn: Array, w_in: Array, dt: float) -> tuple[Array, Array]:
    # j = (1 - dt/tau_syn) j + x (the input jumps into the current, which drives v in
    # the same step).
    tau = _f64(tau_syn)
    return _tau_for_decay(1 - dt / tau, dt), _f64(w_in) * tau / dt


def _norse_tau_mode(neurons: list[_Neuron], dt: float) -> str:
    """``dt-scaled`` or ``true`` from the numbers, else a FrontendError.

    A true forward-Euler time constant is at least ``dt`` (else ``1 - dt/tau < 0``);
    Norse 1.1.0's ``dt * tau`` is at most ``0.1 dt`` for any ``tau <= 100 dt``.
    """
    leaky = [n for n in neurons if n.kind not in ("I", "IF")]
    taus = [
        (n, _f64(getattr(n.node, f)))
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


def _rockpool_dt(neurons: list[_Neuron]) -> float | None:
    """Solve Rockpool's ``r = tau exp(-dt/tau) / dt`` for one ``dt`` over all neurons."""
    steps = []
    for neuron in neurons:
        if neuron.kind not in ("LI", "LIF", "CubaLI", "CubaLIF"):
            return None
        tau, r = _f64(neuron.tau()), _f64(neuron.node.r)
        if np.any(r <= 0) or np.any(tau <= 0) or np.any(~np.isfinite(tau * r)):
            return None
        steps.append((tau * _lambert_w(1 / r)).ravel())
    if not steps:
        return None
    dts = np.concatenate(steps)
    dt = float(np.median(dts))
    if np.any(np.abs(dts - dt) > _REL_TOL * dt):
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


CONVENTIONS: dict[str, Convention] = {
    "exact": Convention(
        "exact", _exact_leak, _exact_synapse, _exact_integrate, reset="zero"
    ),
    "snntorch": Convention(
        "snntorch",
        _euler_leak,
        _euler_synapse,
        _exact_integrate,
        reset="subtract",
        dt=SNNTORCH_DT,
        subtract=_snntorch_subtract,
        reset_delay=True,
    ),
    # NOTE: LIFTorch subtracts and emits up to max_spikes_per_dt (default 2**16)
    # spikes a step; its export drops the bias (v_leak = 0) and any w_rec.
    "rockpool": Convention(
        "rockpool",
        _rockpool_leak,
        _rockpool_synapse,
        _exact_integrate,
        reset="subtract",
        max_spikes=_MANY_SPIKES,
        recover_dt=_rockpool_dt,
    ),
    # NOTE: Sinabs IAF/LIF default to MultiSpike (floor(v / thr) spikes a step) and
    # MembraneSubtract.
    "sinabs": Convention(
        "sinabs",
        _sinabs_leak,
        _sinabs_synapse,
        _per_step_integrate,
        reset="subtract",
        max_spikes=_MANY_SPIKES,
        dt=SINABS_DT,
        floor_note=(
            "Sinabs' exporter does not write min_v_mem; assumed none (the IAF/LIF "
            "layers' default). sinabs.from_torch clamps at -1.0 and sinabs.from_nir "
            "at -v_threshold: pass v_min=-1.0 or v_min='-threshold' (spikeforge "
            "import --v-min=-threshold), or v_min='none' to confirm no floor"
        ),
    ),
    "norse": Convention(
        "norse",
        _norse_leak,
        _norse_synapse,
        _per_step_integrate,
        reset="zero",
        dt=NORSE_DT,
        init_at_leak=True,
    ),
}
"""The exporters spikeforge knows, by ``convention=`` name."""


# -- reading NIR ---------------------------------------------------------------------

_NEURONS = ("I", "IF", "LI", "LIF", "CubaLI", "CubaLIF")
_SPIKING = ("IF", "LIF", "CubaLIF")
_PORTS = ("Input", "Output")


@dataclass
class _Neuron:
    """A NIR neuron node being imported, with its flat name."""

    name: str
    kind: str
    node: Any

    def tau(self) -> Array:
        return _f64(getattr(self.node, "tau", getattr(self.node, "tau_mem", np.nan)))


@dataclass
class _Flat:
    """A NIR graph with sub-graphs flattened: nodes by dotted name, plain edges."""

    nodes: dict[str, Any] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    passthrough: set[str] = field(default_factory=set)


def _nir() -> ModuleType:
    try:
        import nir
    except ImportError as err:
        raise FrontendError(
            "the NIR frontend needs the 'nir' package: pip install spikeforge[nir]"
        ) from err
    return nir


def from_nir(
    source: str | os.PathLike[str] | Any,
    *,
    dt: float | None = None,
    reset: str | None = None,
    convention: str | None = None,
    norse_tau: str | None = None,
    reset_delay: bool | None = None,
    v_min: float | str | None = None,
) -> ir.Graph:
    """Import a NIR graph (a ``.nir`` file or a ``nir.NIRGraph``) as a verified graph.

    Args:
        source: path of a ``.nir`` file, or a ``nir.NIRGraph``.
        dt: time step in seconds; overrides the convention's (needed for ``exact``).
        reset: ``"zero"`` or ``"subtract"`` for every spiking neuron; ``None`` takes
            the exporter's (see the module docstring).
        convention: the exporter's discretization (:data:`CONVENTIONS`); ``None``
            detects it where the numbers make it certain.
        norse_tau: for ``convention="norse"`` (implied when given): ``"dt-scaled"``
            (Norse 1.1.0 wrote ``dt * tau``) or ``"true"`` (other Norse versions);
            ``None`` tells them apart by the numbers (:data:`NORSE_TAU_MODES`).
        reset_delay: snnTorch's ``reset_delay`` (convention ``snntorch`` only):
            ``True`` (its default) subtracts the threshold one step late, ``False``
            in the same step. ``None`` takes the default and warns, as the file does
            not say; no effect with ``reset="zero"`` (both are exact then).
        v_min: membrane floor of every spiking neuron (Sinabs' ``min_v_mem``): a
            number, ``"-threshold"`` (each neuron's ``-v_threshold``) or ``"none"``;
            ``None`` keeps what the file (spikeforge metadata) says, else no floor,
            with a warning under ``sinabs``, whose exporter drops ``min_v_mem``.

    Raises:
        FrontendError: an unreadable file, an unknown node type, a missing edge
            endpoint, mismatched shapes, or an ambiguous discretization; the message
            names the node (and the file) and the argument to pass.

    Warns:
        ConventionWarning: the convention assumed a variant the file does not record
            (snnTorch's reset mode and ``reset_delay``, Sinabs' ``min_v_mem``); the
            message names the argument that settles it.
        NIRImportWarning: an exporter quirk was tolerated (Rockpool's ``Output``
            type, its lost ``w_rec`` and bias), a true-tau Norse file had its ``dt``
            assumed, or a time constant collapsed to no memory (``tau << dt`` after
            the convention's mapping).
    """
    return from_nir_info(
        source,
        dt=dt,
        reset=reset,
        convention=convention,
        norse_tau=norse_tau,
        reset_delay=reset_delay,
        v_min=v_min,
    )[0]


def from_nir_info(
    source: str | os.PathLike[str] | Any,
    *,
    dt: float | None = None,
    reset: str | None = None,
    convention: str | None = None,
    norse_tau: str | None = None,
    reset_delay: bool | None = None,
    v_min: float | str | None = None,
) -> tuple[ir.Graph, ImportInfo]:
    """:func:`from_nir`, also returning the convention, ``dt`` and reset it used."""
    if norse_tau is not None and norse_tau not in NORSE_TAU_MODES:
        raise FrontendError(
            f"unknown norse_tau {norse_tau!r}; choose one of "
            f"{', '.join(NORSE_TAU_MODES)}"
        )
    if norse_tau is not None and convention not in (None, "norse"):
        raise FrontendError(f"norse_tau= is for convention 'norse', not {convention!r}")
    if convention is not None and convention not in CONVENTIONS:
        raise FrontendError(
            f"unknown convention {convention!r}; choose one of {', '.join(CONVENTIONS)}"
        )
    if reset is not None and reset not in snn.RESET_MODES:
        raise FrontendError(
            f"unknown reset {reset!r}; choose one of {', '.join(snn.RESET_MODES)}"
        )
    if dt is not None and not (math.isfinite(dt) and dt > 0):
        raise FrontendError(f"dt must be a positive number of seconds, got {dt}")
    if reset_delay is not None and not isinstance(reset_delay, bool):
        raise FrontendError(f"reset_delay must be True or False, got {reset_delay!r}")
    floor = _floor_arg(v_min)
    nir = _nir()
    if isinstance(source, nir.NIRGraph):
        where, graph = "NIR graph", source
    elif isinstance(source, (str, os.PathLike)):
        where, graph = str(source), _read(nir, Path(source))
    else:
        raise FrontendError(
            f"from_nir takes a .nir path or a nir.NIRGraph, got {type(source).__name__}"
        )
    try:
        importer = _Importer(
            nir,
            graph,
            dt=dt,
            reset=reset,
            convention=convention,
            norse_tau=norse_tau,
            reset_delay=reset_delay,
            v_min=floor,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NIRImportWarning)
            result = importer.run()
    except FrontendError as err:
        raise FrontendError(f"{where}: {err}") from None
    except ir.VerifyError as err:
        raise FrontendError(f"{where}: {err}") from None
    for w in caught:  # re-issued with the file's name, from the caller's line
        if issubclass(w.category, NIRImportWarning):
            warnings.warn(f"{where}: {w.message}", NIRImportWarning, stacklevel=3)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result, importer.info(result)


def _floor_arg(v_min: float | str | None) -> float | str | None:
    """Check ``v_min=``: ``None``, a named choice, or a finite number."""
    if v_min is None or v_min in V_MIN_CHOICES:
        return v_min
    if isinstance(v_min, str) or isinstance(v_min, bool):
        raise FrontendError(
            f"unknown v_min {v_min!r}; pass a number or one of "
            f"{', '.join(V_MIN_CHOICES)}"
        )
    try:
        value = float(v_min)
    except (TypeError, ValueError):
        raise FrontendError(f"v_min must be a number, got {v_min!r}") from None
    if not math.isfinite(value):
        raise FrontendError(f"v_min must be finite, got {value}")
    return value


def _read(nir: ModuleType, path: Path) -> Any:
    if not path.is_file():
        raise FrontendError(f"{path}: no such file")
    _scan(nir, path)
    try:
        # Type checking is ours (after flattening); nir's rejects dotted sub-graph
        # edges and some exporters' files (snntorch #410), and nir >= 1.0.8 checks
        # nested sub-graphs even with type_check=False: build every level unchecked.
        return _read_unchecked(nir, path)
    except Exception as err:  # h5py/numpy/nir raise anything on a damaged file
        raise FrontendError(f"{path}: cannot read the NIR graph: {err}") from None


def _read_unchecked(nir: ModuleType, path: Path) -> Any:
    """``nir.read(path, type_check=False)`` that also skips nested graphs' checks."""
    import h5py

    to_node = getattr(nir, "dict2NIRNode", None)
    hdf2dict = getattr(getattr(nir, "serialization", None), "hdf2dict", None)
    checks = "type_check" in inspect.signature(nir.NIRGraph.__init__).parameters
    if to_node is None or hdf2dict is None or not checks:
        return nir.read(path)  # an older nir, which does not type-check
    with h5py.File(path, "r") as f:
        tree = hdf2dict(f["node"])

    def unchecked(node: dict[str, Any]) -> dict[str, Any]:
        if node.get("type") == "NIRGraph":
            node["type_check"] = False
            for child in node.get("nodes", {}).values():
                if isinstance(child, dict):
                    unchecked(child)
        return node

    return to_node(unchecked(tree))


def _scan(nir: ModuleType, path: Path) -> None:
    """Check the HDF5 layout and every node's type, naming the first bad node."""
    import h5py

    known = {*nir.ir.__all__} - {"NIRNode", "str2NIRNode", "dict2NIRNode"}
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f or not isinstance(f["node"], h5py.Group):
                raise FrontendError(f"{path}: not a NIR file (no 'node' group)")
            _scan_node(nir, f["node"], "", known, path)
    except FrontendError:
        raise
    except Exception as err:
        raise FrontendError(
            f"{path}: not a readable NIR (HDF5) file, corrupt or truncated: {err}"
        ) from None


def _scan_node(
    nir: ModuleType, group: Any, name: str, known: set[str], path: Path
) -> None:
    label = f"node '{name}'" if name else "the top graph"
    if "type" not in group:
        raise FrontendError(f"{path}: {label} has no 'type'")
    kind = group["type"][()]
    kind = kind.decode("utf8") if isinstance(kind, bytes) else str(kind)
    if kind not in known:
        raise FrontendError(
            f"{path}: {label} has unknown NIR type '{kind}' "
            f"(known: {', '.join(sorted(known))})"
        )
    missing = sorted(_stored_fields(nir, kind) - set(group.keys()))
    if missing:
        raise FrontendError(
            f"{path}: {label} ({kind}) lacks field(s) {', '.join(missing)}"
        )
    if kind == "NIRGraph":
        for child, sub in group["nodes"].items():
            _scan_node(nir, sub, f"{name}.{child}" if name else child, known, path)


def _stored_fields(nir: ModuleType, kind: str) -> set[str]:
    """The datasets a node of ``kind`` must have in the file (``nir.write``'s layout)."""
    if kind in _PORTS:
        return {"shape"}
    cls = getattr(nir, kind)
    # NOTE: input_type/output_type are derived (Flatten's is optional), and a conv's
    # input_shape may be absent.
    derived = {"input_type", "output_type", "metadata", "input_shape"}
    return {
        f.name
        for f in dataclasses.fields(cls)
        if f.init
        and f.name not in derived
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    }


class _Importer:
    """One import: flatten, pick the convention, build ops, wire edges, verify."""

    def __init__(
        self,
        nir: ModuleType,
        graph: Any,
        *,
        dt: float | None,
        reset: str | None,
        convention: str | None,
        norse_tau: str | None = None,
        reset_delay: bool | None = None,
        v_min: float | str | None = None,
    ) -> None:
        self.nir = nir
        self.top = graph
        self.meta = _meta(graph)
        self.dt_arg = dt
        self.reset_arg = reset
        self.convention_arg = convention
        if norse_tau is not None and convention is None:
            self.convention_arg = "norse"
        self.norse_tau_arg = norse_tau
        self.input_shapes: dict[str, tuple[int, ...]] = {}
        self.sources: dict[str, str | None] = {}
        self.reset_from: set[str] = set()
        self.reset_delay_arg = reset_delay
        self.v_min_arg = v_min
        self.cyclic: set[str] = set()
        self.assumed: dict[str, str] = {}
        """Warning text by topic, for variants the file does not record."""

    def run(self) -> ir.Graph:
        flat = _Flat()
        _flatten(self.nir, self.top, "", flat, top=True)
        _contract(flat)
        neurons = [
            _Neuron(n, flat.kinds[n], flat.nodes[n])
            for n in flat.nodes
            if flat.kinds[n] in _NEURONS
        ]
        conv, dt = self._convention(flat, neurons)
        self._input_quirk(flat)
        loops = nx.DiGraph(flat.edges)
        self.cyclic = {
            n
            for part in nx.strongly_connected_components(loops)
            if len(part) > 1
            for n in part
        }
        name = _str(self.meta.get(_META_PREFIX + "name"))
        graph = ir.Graph(name or "main", dt=dt)
        broadcast: dict[str, tuple[str, ...]] = {}
        for node_name, node in flat.nodes.items():
            kind = flat.kinds[node_name]
            op, fields = self._op(node_name, kind, node, conv, dt)
            graph.add(node_name, op)
            broadcast[node_name] = fields
        recurrent = self._recurrent(flat, graph)
        for src, dst in flat.edges:
            graph.connect(src, dst, recurrent=(src, dst) in recurrent)
        ir.verify(graph)
        self._check_declared_shapes(flat, graph)
        for node_name, fields in broadcast.items():
            if fields:
                graph.replace(node_name, _broadcast(graph, node_name, fields))
        ir.verify(graph)
        _warn_collapsed(graph, flat)
        if conv.name == "rockpool" and _stored_convention(self.meta) is None:
            _warn_rockpool_losses(graph, flat)
        for text in self.assumed.values():
            warnings.warn(text, ConventionWarning, stacklevel=3)
        return graph

    def info(self, graph: ir.Graph) -> ImportInfo:
        """What this import used (after :meth:`run`)."""
        resets: dict[str, int] = {}
        for name in graph.nodes():
            mode = getattr(graph.op(name), "reset", None)
            if isinstance(mode, str):
                resets[mode] = resets.get(mode, 0) + 1
        order = ("given", "metadata", "convention")
        reset_from = next((o for o in order if o in self.reset_from), "convention")
        return ImportInfo(
            convention=str(self.sources["convention"]),
            convention_from=str(self.sources["convention_from"]),
            dt=graph.dt,
            dt_from=str(self.sources["dt_from"]),
            resets=resets,
            reset_from=reset_from,
            norse_tau=self.sources.get("norse_tau"),
            norse_tau_from=self.sources.get("norse_tau_from"),
        )

    def _input_quirk(self, flat: _Flat) -> None:
        """Drop leading 1-dims an exporter traced into a graph ``Input``.

        Rockpool's ``to_nir`` with its default sample ``zeros((1, n))`` (and any
        nirtorch export without ``ignore_dims``) writes ``Input [1, n]``. When every
        user of the input is a dense layer taking ``n`` features, the leading 1s are
        the sample's batch dim: the input is taken as ``(n,)``, with a warning.
        """
        for name, kind in flat.kinds.items():
            if kind != "Input":
                continue
            shape = flat.nodes[name].input_type.get("input")
            if shape is None or np.ndim(shape) != 1:
                continue
            try:
                raw = np.ravel(np.asarray(shape, dtype=np.float64))
            except (TypeError, ValueError):
                continue  # not numbers: the shape check names it
            if not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
                continue  # NaN or fractional: the shape check names it
            declared = tuple(int(d) for d in raw)
            if len(declared) < 2 or any(d != 1 for d in declared[:-1]):
                continue
            users = [d for s, d in flat.edges if s == name]
            dense = all(
                flat.kinds[u] in ("Affine", "Linear")
                and np.ndim(flat.nodes[u].weight) == 2
                and np.shape(flat.nodes[u].weight)[1] == declared[-1]
                for u in users
            )
            if not users or not dense:
                continue
            self.input_shapes[name] = declared[-1:]
            warnings.warn(
                f"Input '{name}' declares shape {declared}, but its users "
                f"({', '.join(repr(u) for u in users)}) take {declared[-1]} features: "
                "the leading 1s are the export sample's batch dim (Rockpool 3.1's "
                "to_nir default sample, or a nirtorch export without ignore_dims); "
                f"importing the input as ({declared[-1]},)",
                NIRImportWarning,
                stacklevel=2,
            )

    # -- convention and dt -----------------------------------------------------------
    def _convention(
        self, flat: _Flat, neurons: list[_Neuron]
    ) -> tuple[Convention, float | None]:
        stored = _stored_convention(self.meta)
        name = self.convention_arg or stored
        src = "given" if self.convention_arg else "metadata"
        meta_dt = self.meta.get(_META_PREFIX + "dt")
        dt = self.dt_arg if self.dt_arg is not None else None
        dt_from = "given" if dt is not None else "none"
        if name is None and not neurons:
            name, src = "exact", "default"  # nothing to discretize
        if name is None:
            name, detected_dt = _detect(neurons, self.dt_arg)
            src = "detected"
            if dt is None and detected_dt is not None:
                dt, dt_from = detected_dt, "detected"
        if name not in CONVENTIONS:
            raise FrontendError(f"metadata names unknown convention {name!r}")
        conv = CONVENTIONS[name]
        if dt is None and meta_dt is not None and name == stored:
            dt, dt_from = float(meta_dt), "metadata"
        if dt is None and conv.recover_dt is not None:
            dt = conv.recover_dt(neurons)
            dt_from = "recovered" if dt is not None else dt_from
        if dt is None and conv.dt is not None:
            dt, dt_from = conv.dt, "convention"
        if self.reset_delay_arg is not None and conv.reset_delay is None:
            raise FrontendError(
                f"reset_delay applies to convention 'snntorch' only, not '{name}'"
            )
        timed = [n for n in flat.nodes if flat.kinds[n] in (*_NEURONS, "Delay")]
        if dt is None and timed:
            raise FrontendError(
                f"node '{timed[0]}' ({flat.kinds[timed[0]]}) needs a time step: pass "
                f"dt= (seconds) for convention '{name}'"
            )
        if self.norse_tau_arg is not None and name != "norse":
            raise FrontendError(f"norse_tau= is for convention 'norse', not {name!r}")
        self.sources.update(convention=name, convention_from=src, dt_from=dt_from)
        if name == "norse" and dt is not None:
            mode = self.norse_tau_arg or _norse_tau_mode(neurons, dt)
            self.sources.update(
                norse_tau=mode,
                norse_tau_from="given" if self.norse_tau_arg else "detected",
            )
            if mode == "true":
                conv = dataclasses.replace(
                    conv, leak=_euler_leak, synapse=_norse_true_synapse
                )
                if dt_from == "convention":
                    # dt * tau at least ties the file to to_nir's dt (default 1e-3)
                    warnings.warn(
                        "a Norse file with the true tau does not record the step the "
                        f"network ran with; assumed Norse's default dt = {dt:g} s: "
                        "pass dt= (CLI: --dt) if it ran with another",
                        NIRImportWarning,
                        stacklevel=2,
                    )
        return conv, dt

    # -- ops -------------------------------------------------------------------------
    def _op(
        self, name: str, kind: str, node: Any, conv: Convention, dt: float | None
    ) -> tuple[ir.Op, tuple[str, ...]]:
        build = _BUILDERS.get(kind)
        if build is None:
            raise FrontendError(f"node '{name}': NIR type '{kind}' is not supported")
        try:
            return build(self, name, node, conv, dt or 1.0)
        except ir.VerifyError as err:
            raise FrontendError(f"node '{name}' ({kind}): {err}") from None
        except (TypeError, ValueError, AttributeError, KeyError) as err:
            raise FrontendError(
                f"node '{name}' ({kind}): bad parameters: {err}"
            ) from None

    def spiking(
        self,
        name: str,
        node: Any,
        conv: Convention,
        decay: Array,
        v_leak: Array | None = None,
    ) -> dict[str, Any]:
        """Reset mode, spike cap, subtracted amount and initial potential of a neuron.

        ``decay`` is the IR membrane's per-step factor ``a`` (1 for ``snn.if``) and
        ``v_leak`` its resting potential (``None`` for ``snn.if``).
        """
        meta = _meta(node)
        stored = _str(meta.get(_META_PREFIX + "reset"))
        reset = self.reset_arg or stored or conv.reset
        self.reset_from.add(
            "given" if self.reset_arg else "metadata" if stored else "convention"
        )
        if reset not in snn.RESET_MODES:
            raise FrontendError(f"node '{name}': unknown reset mode {reset!r}")
        max_spikes = int(meta.get(_META_PREFIX + "max_spikes", conv.max_spikes))
        extra: dict[str, Any] = {}
        delay = self._reset_delay(name, node, conv, reset)
        if reset == "zero":
            max_spikes = 1
        elif _META_PREFIX + "v_subtract" in meta:
            extra["v_subtract"] = _meta_array(meta[_META_PREFIX + "v_subtract"])
        elif conv.subtract is not None and delay is not False:
            extra["v_subtract"] = _f32(conv.subtract(_arr(node.v_threshold), decay))
        if _META_PREFIX + "refire_offset" in meta:
            extra["refire_offset"] = _meta_array(meta[_META_PREFIX + "refire_offset"])
        elif reset == "subtract" and delay is False:
            # snnTorch's "avoid double reset": the spike test still removes the
            # delayed reset that the same-step subtraction then adds back.
            extra["refire_offset"] = _arr(node.v_threshold).copy()
        v_min = self._floor(name, node, conv, meta)
        if v_min is not None:
            extra["v_min"] = v_min
        return {
            "reset": reset,
            "max_spikes": max_spikes,
            **extra,
            **_init(meta, conv, v_leak),
        }

    def _reset_delay(
        self, name: str, node: Any, conv: Convention, reset: str
    ) -> bool | None:
        """snnTorch's ``reset_delay`` for this neuron (``None``: not snnTorch)."""
        if conv.reset_delay is None:
            return None
        delay = self.reset_delay_arg
        given = self.reset_arg is not None and (reset == "zero" or delay is not None)
        if not given:
            self.assumed["snntorch"] = (
                "snnTorch's exporter writes neither reset_mechanism nor reset_delay; "
                f"assumed reset={reset!r}"
                + (
                    f", reset_delay={conv.reset_delay if delay is None else delay}"
                    if reset == "subtract"
                    else ""
                )
                + " (snnTorch's defaults: 'subtract', reset_delay=True). If the "
                "network used others, pass reset='zero' or reset_delay=False "
                "(spikeforge import --reset zero / --no-reset-delay); pass both to "
                "silence this warning"
            )
        if delay is None:
            delay = conv.reset_delay
        rsynaptic = type(node).__name__ == "CubaLIF" and name in self.cyclic
        if rsynaptic and not delay:
            # snnTorch 1.0.0 RSynaptic.forward applies the same-step reset to a local
            # copy of mem (and fails with init_hidden=True): it runs the delayed one.
            self.assumed[f"rsynaptic {name}"] = (
                f"node '{name}': a recurrent CubaLIF is snnTorch's RSynaptic, which "
                "ignores reset_delay=False in snnTorch 1.0.0 (its forward resets a "
                "local copy of the membrane); imported with the delayed reset it runs"
            )
            delay = True
        recurrent_or_cuba = type(node).__name__ == "CubaLIF" or name in self.cyclic
        if reset == "zero" and delay and recurrent_or_cuba:
            self.assumed[f"zero {name}"] = (
                f"node '{name}': snnTorch's delayed zero reset of Synaptic, RLeaky "
                "and RSynaptic zeroes the whole next step's membrane, input included, "
                "which the IR cannot express; imported with the same-step zero reset "
                "(not exact where a spike is followed by input)"
            )
        return delay

    def _floor(
        self, name: str, node: Any, conv: Convention, meta: Mapping[str, Any]
    ) -> Array | None:
        """The neuron's ``v_min``: the argument, else spikeforge metadata, else none
        (with the convention's warning where its exporter drops the floor)."""
        arg = self.v_min_arg
        if arg is None:
            stored = meta.get(_META_PREFIX + "v_min")
            if stored is not None:
                return _meta_array(stored)
            if conv.floor_note is not None:
                self.assumed["floor"] = conv.floor_note
            return None
        if arg == "none":
            return None
        if arg == "-threshold":
            return -_f32(node.v_threshold)
        return np.asarray(arg, np.float32)

    # -- edges -----------------------------------------------------------------------
    def _recurrent(self, flat: _Flat, graph: ir.Graph) -> set[tuple[str, str]]:
        stored = _str(self.meta.get(_META_PREFIX + "recurrent_edges"))
        if stored is not None:
            try:
                marked = {(str(s), str(d)) for s, d in json.loads(stored)}
            except (ValueError, TypeError) as err:
                raise FrontendError(f"bad recurrent_edges metadata: {err}") from None
        else:
            marked = set()
        return _close_cycles(flat, graph, marked)

    def _check_declared_shapes(self, flat: _Flat, graph: ir.Graph) -> None:
        for name, node in flat.nodes.items():
            try:
                declared = _declared_input(flat.kinds[name], node)
            except (TypeError, ValueError) as err:
                raise FrontendError(
                    f"node '{name}' ({flat.kinds[name]}): bad shape: {err}"
                ) from None
            if declared is None:
                continue
            fed = {graph.shape(e.src) for e in graph.in_edges(name)}
            if flat.kinds[name] == "Output" and _output_quirk(declared, fed):
                warnings.warn(
                    f"Output '{name}' declares type {declared} but its edge carries "
                    f"{next(iter(fed))}: Rockpool 3.1's to_nir (with nir <= 1.0.4) "
                    "writes the export sample's batch/time dims into the Output type; "
                    "using the edge's type",
                    NIRImportWarning,
                    stacklevel=2,
                )
                continue
            for shape in sorted(fed - {declared}):
                raise FrontendError(
                    f"node '{name}' ({flat.kinds[name]}) declares input shape "
                    f"{declared} but receives {shape}"
                )


def _stored_convention(meta: Mapping[str, Any]) -> str | None:
    """The convention spikeforge's own export recorded (``None``: a foreign file)."""
    return _str(meta.get(_META_PREFIX + "convention"))


def _output_quirk(declared: tuple[int, ...], fed: set[tuple[int, ...]]) -> bool:
    """Rockpool's bogus ``Output`` type: 3-D (batch, time, channels) where the edge
    is 1-D, ending in the edge's size or all ones (e.g. ``(8, 1, 4)``, ``(1, 1, 4)``,
    ``(1, 1, 1)`` for ``(4,)``)."""
    if len(fed) != 1:
        return False
    (shape,) = fed
    return (
        len(shape) == 1
        and len(declared) == 3
        and (declared[-1] == shape[0] or all(d == 1 for d in declared))
    )


def _warn_collapsed(graph: ir.Graph, flat: _Flat) -> None:
    """Warn once where mapped time constants leave (almost) no memory per step."""
    dt = graph.dt
    if dt is None:
        return
    found = []
    for name in graph.nodes():
        op = graph.op(name)
        for field_name in ("tau", "tau_mem", "tau_syn"):
            tau = getattr(op, field_name, None)
            if not isinstance(tau, np.ndarray):
                continue
            low = np.exp(-dt / _f64(tau)) < _COLLAPSED
            if not np.any(low):
                continue
            node = flat.nodes.get(name)
            written = getattr(node, field_name, None)
            if written is None and field_name == "tau":
                written = getattr(node, "tau_mem", None)
            was = "" if written is None else f", written {_show(written)} s"
            found.append(
                f"'{name}'.{field_name} ({int(low.sum())}/{low.size} neurons{was})"
            )
    if found:
        warnings.warn(
            f"time constants collapse to no memory (per-step decay < {_COLLAPSED:g}, "
            f"tau < dt/{-math.log(_COLLAPSED):.1f} at dt = {dt:g} s): "
            f"{', '.join(found)}; check the convention, dt= and (Norse) norse_tau=",
            NIRImportWarning,
            stacklevel=2,
        )


def _warn_rockpool_losses(graph: ir.Graph, flat: _Flat) -> None:
    """Rockpool 3.1's exporter writes ``v_leak = 0`` for every neuron (the bias is
    lost) and a ``LIFTorch`` as a bare ``CubaLIF`` (a ``has_rec=True`` layer loses
    ``w_rec``); neither can be seen in the file, so say so."""
    neurons = [n for n in graph.nodes() if flat.kinds.get(n) in ("LIF", "CubaLIF")]
    if not neurons or any(np.any(_f64(flat.nodes[n].v_leak) != 0) for n in neurons):
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


def _meta(node: Any) -> dict[str, Any]:
    meta = getattr(node, "metadata", None)
    return dict(meta) if isinstance(meta, Mapping) else {}


def _str(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _str(value.item())
    return value if isinstance(value, str) else None


def _init(
    meta: Mapping[str, Any], conv: Convention, v_leak: Array | None = None
) -> dict[str, Any]:
    """``v_init`` from spikeforge's metadata, else ``v_leak`` where the framework
    starts there (Norse), else nothing (the op's default, 0)."""
    v_init = meta.get(_META_PREFIX + "v_init")
    if v_init is not None:
        return {"v_init": _meta_array(v_init)}
    if conv.init_at_leak and v_leak is not None:
        return {"v_init": v_leak.copy()}
    return {}


def _meta_array(value: Any) -> Array:
    # A scalar is written as a plain number (HDF5 cannot compress a scalar dataset).
    return np.asarray(value, np.float32 if np.ndim(value) == 0 else None)


def _declared_input(kind: str, node: Any) -> tuple[int, ...] | None:
    """The input shape a node declares, where NIR stores one (else ``None``)."""
    if kind in ("Conv1d", "Conv2d") and node.input_shape is not None:
        channels = int(node.weight.shape[1]) * int(node.groups)
        return (channels, *_whole(node.input_shape, "input_shape"))
    if kind == "Flatten":
        shape = (node.input_type or {}).get("input")
    elif kind == "Output":
        shape = (node.output_type or {}).get("output")
    else:
        return None
    if shape is None or np.size(shape) == 0:
        return None
    return _whole(shape, "declared shape")


# -- flattening ----------------------------------------------------------------------


def _kind(nir: ModuleType, node: Any) -> str:
    for kind in (*_NEURONS, *_PORTS, "NIRGraph", *_STATELESS):
        if type(node) is getattr(nir, kind):
            return kind
    return type(node).__name__


def _flatten(nir: ModuleType, graph: Any, prefix: str, flat: _Flat, top: bool) -> None:
    """Add ``graph``'s nodes (sub-graphs expanded) and edges to ``flat``."""
    nodes = getattr(graph, "nodes", None)
    edges = getattr(graph, "edges", None)
    if not isinstance(nodes, Mapping) or edges is None:
        raise FrontendError(f"sub-graph '{prefix[:-1]}' has no nodes or edges")
    for name, node in nodes.items():
        full = prefix + str(name)
        kind = _kind(nir, node)
        if kind == "NIRGraph":
            _flatten(nir, node, full + ".", flat, top=False)
            continue
        if kind not in _BUILDERS:
            raise FrontendError(
                f"node '{full}' has unknown NIR type '{kind}' "
                f"(known: {', '.join(sorted(_BUILDERS))}, NIRGraph)"
            )
        if full in flat.nodes:
            raise FrontendError(
                f"node name '{full}' is used twice (a dotted name collides with a "
                "sub-graph's node)"
            )
        flat.nodes[full] = node
        flat.kinds[full] = kind
        if kind in _PORTS and not top:
            flat.passthrough.add(full)
    for edge in edges:
        try:
            src, dst = (str(_str(e) or e) for e in edge)
        except (TypeError, ValueError):
            raise FrontendError(f"malformed edge {edge!r}") from None
        flat.edges.append(
            (
                _endpoint(nir, graph, prefix, src, "Output", edge),
                _endpoint(nir, graph, prefix, dst, "Input", edge),
            )
        )


def _endpoint(
    nir: ModuleType, graph: Any, prefix: str, name: str, port: str, edge: Any
) -> str:
    """Flat name of an edge end: a node, ``g.node`` inside sub-graph ``g``, or ``g``."""
    nodes = graph.nodes
    if name in nodes:
        node = nodes[name]
        if _kind(nir, node) != "NIRGraph":
            return prefix + name
        ports = [k for k, n in node.nodes.items() if _kind(nir, n) == port]
        if len(ports) != 1:
            raise FrontendError(
                f"edge {tuple(edge)}: sub-graph '{prefix}{name}' has {len(ports)} "
                f"{port} nodes; address one as '{name}.<{port.lower()}>'"
            )
        return prefix + name + "." + ports[0]
    head, dot, rest = name.partition(".")
    while dot:
        child = nodes.get(head)
        if child is not None and _kind(nir, child) == "NIRGraph":
            return _endpoint(nir, child, prefix + head + ".", rest, port, edge)
        more, dot, rest = rest.partition(".")
        head = f"{head}.{more}"
    raise FrontendError(
        f"edge {tuple(edge)}: no node named '{prefix}{name}' "
        f"(nodes: {', '.join(prefix + str(k) for k in nodes)})"
    )


def _contract(flat: _Flat) -> None:
    """Remove sub-graph Input/Output nodes, joining their producers to their users."""
    for port in sorted(flat.passthrough):
        preds = [s for s, d in flat.edges if d == port and s != port]
        succs = [d for s, d in flat.edges if s == port and d != port]
        flat.edges = [(s, d) for s, d in flat.edges if port not in (s, d)]
        flat.edges += [(s, d) for s in preds for d in succs]
        del flat.nodes[port], flat.kinds[port]
    seen: set[tuple[str, str]] = set()
    for edge in flat.edges:
        if edge in seen:
            raise FrontendError(
                f"duplicate edge {edge[0]} -> {edge[1]} (NIR sums it twice; the IR "
                "joins two nodes at most once: insert a Scale of 2)"
            )
        seen.add(edge)


def _close_cycles(
    flat: _Flat, graph: ir.Graph, marked: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Mark recurrent the edges that close cycles, each out of (else into) state."""
    forward = nx.DiGraph()
    forward.add_nodes_from(flat.nodes)
    forward.add_edges_from(e for e in flat.edges if e not in marked)
    inputs = [n for n in flat.nodes if flat.kinds[n] == "Input"]
    depth = _depths(forward, inputs)
    recurrent = set(marked)
    while True:
        try:
            cycle = [(s, d) for s, d in nx.find_cycle(forward)]
        except nx.NetworkXNoCycle:
            return recurrent
        # Walk the cycle from its node reached first from the inputs (ties by name).
        entry = min(range(len(cycle)), key=lambda i: (depth[cycle[i][0]], cycle[i][0]))
        walk = cycle[entry:] + cycle[:entry]
        out_of_state = [(s, d) for s, d in walk if graph.op(s).stateful]
        into_state = [(s, d) for s, d in walk if graph.op(d).stateful]
        if out_of_state:
            # The last exit from a state before the walk returns to its start: the
            # state's spikes reach the rest of the loop one step late, and the ops
            # after it (a recurrent Affine's bias) act from the first step on.
            edge = out_of_state[-1]
        elif into_state:
            # NOTE: unreachable while every node of a cycle has an edge on it; kept
            # in case an op ever may not start a recurrent edge. As NIRTorch: cut
            # where the loop re-enters its first stateful node.
            edge = into_state[0]
        else:
            path = " -> ".join([*(s for s, _ in cycle), cycle[0][0]])
            raise FrontendError(
                f"cycle {path} has no stateful node (neuron or delay) to carry it to "
                "the next step; NIR recurrence needs one"
            )
        forward.remove_edge(*edge)
        recurrent.add(edge)


def _depths(forward: nx.DiGraph, inputs: list[str]) -> dict[str, float]:
    depth: dict[str, float] = dict.fromkeys(forward.nodes, math.inf)
    frontier = list(inputs)
    for n in inputs:
        depth[n] = 0
    while frontier:
        nxt = []
        for n in frontier:
            for m in forward.successors(n):
                if depth[m] == math.inf:
                    depth[m] = depth[n] + 1
                    nxt.append(m)
        frontier = nxt
    return depth


# -- detection -----------------------------------------------------------------------


def _close(a: Array, b: Array) -> bool:
    a, b = _f64(a), _f64(b)
    return bool(np.all(np.abs(a - b) <= _REL_TOL * np.maximum(np.abs(a), np.abs(b))))


def _is_snntorch(neuron: _Neuron, dt: float) -> bool:
    node = neuron.node
    if neuron.kind not in ("LIF", "LI", "CubaLIF", "CubaLI"):
        return False
    ok = _close(neuron.tau(), _f64(node.r) * dt) and not np.any(_f64(node.v_leak))
    if neuron.kind.startswith("Cuba"):
        ok = ok and _close(node.tau_syn, _f64(node.w_in) * dt)
    return ok


def _is_sinabs(neuron: _Neuron) -> bool:
    node = neuron.node
    if neuron.kind == "IF":
        return bool(np.all(_f64(node.r) == 1))
    if neuron.kind in ("LIF", "LI"):
        return bool(np.all(_f64(node.r) == 1) and not np.any(_f64(node.v_leak)))
    return False


def _detect(neurons: list[_Neuron], dt: float | None) -> tuple[str, float | None]:
    """The convention the numbers make certain, else a FrontendError saying why not."""
    if dt in (None, SNNTORCH_DT) and all(_is_snntorch(n, SNNTORCH_DT) for n in neurons):
        return "snntorch", SNNTORCH_DT
    if (
        dt is None
        and any(n.kind == "IF" for n in neurons)
        and all(_is_sinabs(n) for n in neurons)
    ):
        return "sinabs", SINABS_DT
    taus = {float(t) for n in neurons for t in np.ravel(n.tau()) if math.isfinite(t)}
    rock_dt = _rockpool_dt(neurons)
    if rock_dt is not None and len(taus) >= 2 and dt in (None, rock_dt):
        return "rockpool", rock_dt
    first = neurons[0]
    if first.kind in ("I", "IF"):
        what = f"r={_show(first.node.r)}"
    else:
        what = f"tau={_show(first.tau())}, r={_show(first.node.r)}"
    raise FrontendError(
        f"node '{first.name}' ({first.kind}): {what} do not say how the exporter "
        "discretized time (NIR stores no time step); pass convention= (one of "
        f"{', '.join(CONVENTIONS)}), with dt= for 'exact', and reset= if the "
        "exporter's default reset is not the one used"
    )


def _show(x: Any) -> str:
    flat = np.ravel(_f64(x))
    return f"{flat[0]:.6g}" + (" ..." if flat.size > 1 else "")


# -- node builders -------------------------------------------------------------------


def _arr(x: Any) -> Array:
    """A float parameter array: float32 unless it already is float32 or float64."""
    arr = _real(x)
    return arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float32)


def _f32(x: Any) -> Array:
    return _real(x).astype(np.float32)


def _real(x: Any) -> Array:
    """``x`` as an array of real numbers; complex or non-numeric values are an error
    (NumPy would drop an imaginary part with only a warning)."""
    arr = np.asarray(x)
    if arr.dtype.kind == "c":
        raise ValueError(f"complex values ({arr.dtype}); parameters must be real")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{arr.dtype} values; parameters must be numbers")
    return arr


def _whole(x: Any, what: str) -> tuple[int, ...]:
    """``x`` flattened to integers; fractions, NaN or complex values are an error."""
    arr = np.ravel(_real(x))
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        raise ValueError(f"{what} {arr.tolist()} must hold whole numbers")
    return tuple(int(v) for v in arr)


def _ints(x: Any, n: int) -> tuple[int, ...]:
    flat = list(_whole(x, "value"))
    if len(flat) == 1:
        flat = flat * n
    if len(flat) != n:
        raise ValueError(f"expected {n} integers, got {flat}")
    return tuple(flat)


def _padding(node: Any, n: int) -> tuple[int, ...]:
    padding = _str(node.padding)
    if padding is None:
        return _ints(node.padding, n)
    if padding == "valid":
        return (0,) * n
    if padding != "same":
        raise ValueError(f"padding {padding!r} must be 'same', 'valid' or integers")
    if any(s != 1 for s in _ints(node.stride, n)):
        raise ValueError("padding 'same' needs stride 1")
    spans = [
        d * (k - 1)
        for d, k in zip(_ints(node.dilation, n), node.weight.shape[2:], strict=True)
    ]
    if any(s % 2 for s in spans):
        raise ValueError(
            "padding 'same' with an even kernel span pads unevenly, which the IR "
            "cannot express"
        )
    return tuple(s // 2 for s in spans)


def _bias(node: Any, meta: Mapping[str, Any]) -> Array | None:
    has_bias = meta.get(_META_PREFIX + "bias", 1)  # to_nir's mark of "no bias"
    if node.bias is None or not int(has_bias):
        return None
    return np.broadcast_to(_arr(node.bias), (node.weight.shape[0],)).copy()


Builder = Callable[
    [_Importer, str, Any, Convention, float], tuple[ir.Op, tuple[str, ...]]
]


def _input(imp: _Importer, name: str, node: Any, conv: Convention, dt: float) -> Any:
    if name in imp.input_shapes:
        return io.Input(shape=imp.input_shapes[name]), ()
    shape = node.input_type.get("input")
    if shape is None or np.size(shape) == 0:
        raise ValueError("Input has no shape")
    return io.Input(shape=_whole(shape, "input shape")), ()


def _output(imp: _Importer, name: str, node: Any, conv: Convention, dt: float) -> Any:
    return io.Output(), ()


def _affine(imp: _Importer, name: str, node: Any, conv: Convention, dt: float) -> Any:
    _dense(node.weight)
    return nn.Affine(weight=_arr(node.weight), bias=_arr(node.bias)), ()


def _linear(imp: _Importer, name: str, node: Any, conv: Convention, dt: float) -> Any:
    _dense(node.weight)
    return nn.Linear(weight=_arr(node.weight)), ()


def _dense(weight: Any) -> None:
    if np.ndim(weight) != 2:
        raise ValueError(
            f"weight of shape {np.shape(weight)}: only 2-D (out, in) weights are supported"
        )


def _scale(imp: _Importer, name: str, node: Any, conv: Convention, dt: float) -> Any:
    if _str(_meta(node).get(_META_PREFIX + "op")) == nn.Add.name:
        return nn.Add(), ()
    return nn.Scale(scale=_arr(node.scale)), ()


def _conv(imp: _Importer, name: str, node: Any, conv: Convention, dt: float) -> Any:
    rank = np.ndim(node.weight) - 2
    if rank not in (1, 2):
        raise ValueError(f"weight of shape {np.shape(node.weight)}")
    common: dict[str, Any] = {
        "weight": _arr(node.weight),
        "bias": _bias(node, _meta(node)),
        "groups": int(node.groups),
    }
    if rank == 1:
        return nn.Conv1d(
            **common,
            stride=_ints(node.stride, 1)[0],
            padding=_padding(node, 1)[0],
            dilation=_ints(node.dilation, 1)[0],
        ), ()
    return nn.Conv2d(
        **common,
        stride=_ints(node.stride, 2),
        padding=_padding(node, 2),
        dilation=_ints(node.dilation, 2),
    ), ()


def _pool(imp: _Importer, name: str, node: Any, conv: Convention, dt: float) -> Any:
    cls = nn.SumPool2d if type(node).__name__ == "SumPool2d" else nn.AvgPool2d
    return cls(
        kernel_size=_ints(node.kernel_size, 2),
        stride=_ints(node.stride, 2),
        padding=_ints(node.padding, 2),
    ), ()


def _flatten_op(
    imp: _Importer, name: str, node: Any, conv: Convention, dt: float
) -> Any:
    return nn.Flatten(start_dim=int(node.start_dim), end_dim=int(node.end_dim)), ()


def _delay(imp: _Importer, name: str, node: Any, conv: Convention, dt: float) -> Any:
    return snn.Delay(delay=_arr(node.delay)), ("delay",)


def _threshold(
    imp: _Importer, name: str, node: Any, conv: Convention, dt: float
) -> Any:
    return snn.Threshold(threshold=_arr(node.threshold)), ("threshold",)


def _integrator(
    imp: _Importer, name: str, node: Any, conv: Convention, dt: float
) -> Any:
    r = _param(node.r, conv.integrate(node.r, dt))
    return snn.Integrator(r=r, **_init(_meta(node), conv)), ("r",)


def _if(imp: _Importer, name: str, node: Any, conv: Convention, dt: float) -> Any:
    op = snn.IF(
        r=_param(node.r, conv.integrate(node.r, dt)),
        v_threshold=_arr(node.v_threshold),
        v_reset=_arr(_v_reset(node)),
        **imp.spiking(name, node, conv, np.ones(())),
    )
    return op, ("r", "v_threshold", "v_reset", *_subtract_field(op))


def _leaky(node: Any, conv: Convention, dt: float) -> dict[str, Any]:
    tau = getattr(node, "tau", None)
    tau = node.tau_mem if tau is None else tau
    _check_tau(tau)
    new = conv.leak(tau, node.r, node.v_leak, dt)
    return {
        k: _param(old, v)
        for k, old, v in zip(
            ("tau", "r", "v_leak"), (tau, node.r, node.v_leak), new, strict=True
        )
    }


def _check_tau(tau: Any) -> None:
    t = _f64(tau)
    if np.any(~(t > 0)) or np.any(~np.isfinite(t)):
        raise ValueError(f"time constants must be finite and > 0, got {_show(t)}")


def _param(original: Any, converted: Any) -> Array:
    """Keep the original array (bit for bit) when the convention left it unchanged."""
    return _arr(original) if converted is original else _f32(converted)


def _v_reset(node: Any) -> Any:
    v_reset = getattr(node, "v_reset", None)
    return np.zeros_like(_arr(node.v_threshold)) if v_reset is None else v_reset


def _decay(tau: Array, dt: float) -> Array:
    """The IR's per-step membrane factor ``a = exp(-dt / tau)`` for ``tau`` as stored."""
    return np.exp(-dt / _f64(tau))


def _subtract_field(op: Any) -> tuple[str, ...]:
    """The optional spiking fields ``op`` sets (broadcast to the layer's shape)."""
    optional = ("v_subtract", "v_min", "refire_offset")
    return tuple(f for f in optional if getattr(op, f, None) is not None)


def _li(imp: _Importer, name: str, node: Any, conv: Convention, dt: float) -> Any:
    leak = _leaky(node, conv, dt)
    return snn.LI(**leak, **_init(_meta(node), conv, leak["v_leak"])), (
        "tau",
        "r",
        "v_leak",
    )


def _lif(imp: _Importer, name: str, node: Any, conv: Convention, dt: float) -> Any:
    leak = _leaky(node, conv, dt)
    op = snn.LIF(
        **leak,
        v_threshold=_arr(node.v_threshold),
        v_reset=_arr(_v_reset(node)),
        **imp.spiking(name, node, conv, _decay(leak["tau"], dt), leak["v_leak"]),
    )
    return op, ("tau", "r", "v_leak", "v_threshold", "v_reset", *_subtract_field(op))


def _cuba(node: Any, conv: Convention, dt: float) -> dict[str, Any]:
    leak = _leaky(node, conv, dt)
    _check_tau(node.tau_syn)
    w_in = getattr(node, "w_in", None)
    w_in = np.ones((), np.float32) if w_in is None else w_in
    tau_syn, w = conv.synapse(node.tau_syn, w_in, dt)
    return {
        "tau_syn": _param(node.tau_syn, tau_syn),
        "tau_mem": leak["tau"],
        "r": leak["r"],
        "v_leak": leak["v_leak"],
        "w_in": _param(w_in, w),
    }


_CUBA = ("tau_syn", "tau_mem", "r", "v_leak", "w_in")


def _cubali(imp: _Importer, name: str, node: Any, conv: Convention, dt: float) -> Any:
    cuba = _cuba(node, conv, dt)
    return snn.CubaLI(**cuba, **_init(_meta(node), conv, cuba["v_leak"])), _CUBA


def _cubalif(imp: _Importer, name: str, node: Any, conv: Convention, dt: float) -> Any:
    cuba = _cuba(node, conv, dt)
    decay = _decay(cuba["tau_mem"], dt)
    op = snn.CubaLIF(
        **cuba,
        v_threshold=_arr(node.v_threshold),
        v_reset=_arr(_v_reset(node)),
        **imp.spiking(name, node, conv, decay, cuba["v_leak"]),
    )
    return op, (*_CUBA, "v_threshold", "v_reset", *_subtract_field(op))


_BUILDERS: dict[str, Builder] = {
    "Input": _input,
    "Output": _output,
    "Affine": _affine,
    "Linear": _linear,
    "Scale": _scale,
    "Conv1d": _conv,
    "Conv2d": _conv,
    "SumPool2d": _pool,
    "AvgPool2d": _pool,
    "Flatten": _flatten_op,
    "Delay": _delay,
    "Threshold": _threshold,
    "I": _integrator,
    "IF": _if,
    "LI": _li,
    "LIF": _lif,
    "CubaLI": _cubali,
    "CubaLIF": _cubalif,
}
"""NIR node type -> IR op (and the parameter fields that define the layer's shape)."""

_STATELESS = tuple(k for k in _BUILDERS if k not in (*_NEURONS, *_PORTS))


def _broadcast(graph: ir.Graph, name: str, fields: Iterable[str]) -> ir.Op:
    """``name``'s op with ``fields`` broadcast to the layer's shape (NIR issue #176)."""
    op = graph.op(name)
    shape = graph.shape(name)
    changes = {}
    for f in fields:
        value = getattr(op, f)
        if value.shape != shape:
            changes[f] = np.broadcast_to(value, shape).copy()
    return op.replace(**changes) if changes else op


# -- writing NIR ---------------------------------------------------------------------


def to_nir(graph: ir.Graph) -> Any:
    """Export ``graph`` as a ``nir.NIRGraph`` under the ``exact`` convention.

    NIR parameters are the IR's own (the IR's discretization is NIR's ODE stepped
    exactly), broadcast to each layer's shape. What NIR cannot hold goes to metadata
    for spikeforge's own re-import: the graph's ``dt``, name and recurrent edges, each
    neuron's reset mode, ``max_spikes``, ``v_subtract``, ``v_min``, ``refire_offset``
    and ``v_init``, a conv's missing bias, and
    ``nn.add`` (written as a unit ``Scale``). Re-importing the file with ``from_nir``
    gives a graph with identical interpreter outputs, and an ``is_equivalent`` one
    when every neuron parameter already has the layer's shape and no node has meta.

    Raises:
        FrontendError: an op with no NIR counterpart (named), or a graph that fails
            verification.
    """
    nir = _nir()
    try:
        ir.verify(graph)
    except ir.VerifyError as err:
        raise FrontendError(f"cannot export graph @{graph.name}: {err}") from None
    nodes = {}
    for name in graph.nodes():
        op = graph.op(name)
        export = _EXPORTERS.get(op.name)
        if export is None:
            raise FrontendError(
                f"node '{name}': {op.name} has no NIR counterpart (NIR has "
                f"{', '.join(sorted(_BUILDERS))}); lower it first"
            )
        if "/" in name:
            raise FrontendError(f"node '{name}': NIR (HDF5) names cannot hold '/'")
        nodes[name] = export(nir, graph, name, op)
    edges = [(e.src, e.dst) for e in graph.edges()]
    recurrent = [[e.src, e.dst] for e in graph.edges() if e.recurrent]
    metadata: dict[str, Any] = {
        _META_PREFIX + "convention": "exact",
        _META_PREFIX + "name": graph.name,
        _META_PREFIX + "recurrent_edges": json.dumps(recurrent),
    }
    if graph.dt is not None:
        metadata[_META_PREFIX + "dt"] = float(graph.dt)
    try:
        return nir.NIRGraph(
            nodes=nodes, edges=edges, metadata=metadata, type_check=False
        )
    except Exception as err:  # nir's own checks
        raise FrontendError(
            f"graph @{graph.name}: nir rejected the export: {err}"
        ) from None


def write_nir(graph: ir.Graph, path: str | os.PathLike[str]) -> None:
    """Write ``graph`` to ``path`` as a ``.nir`` file, atomically (temp file, rename).

    Raises:
        FrontendError: see :func:`to_nir`; or the file cannot be written.
    """
    nir = _nir()
    nir_graph = to_nir(graph)
    target = Path(path)
    fd, tmp = tempfile.mkstemp(
        dir=target.parent if str(target.parent) else ".", suffix=".nir.tmp"
    )
    os.close(fd)
    try:
        nir.write(tmp, nir_graph)
        install_file(tmp, target)  # the mode a new (umask) or overwritten file keeps
    except Exception as err:
        Path(tmp).unlink(missing_ok=True)
        raise FrontendError(f"{target}: cannot write the NIR file: {err}") from None


def _full(graph: ir.Graph, name: str, value: Array) -> Array:
    return np.broadcast_to(value, graph.shape(name)).copy()


def _spiking_meta(g: ir.Graph, n: str, op: Any) -> dict[str, Any]:
    meta = {
        _META_PREFIX + "reset": op.reset,
        _META_PREFIX + "max_spikes": int(op.max_spikes),
        **_init_meta(op),
    }
    for name in ("v_subtract", "v_min", "refire_offset"):
        value = getattr(op, name, None)
        if value is not None:
            meta[_META_PREFIX + name] = _full(g, n, value)
    return meta


def _init_meta(op: Any) -> dict[str, Any]:
    v_init = op.v_init
    if v_init.ndim == 0 and v_init.dtype == np.float32 and v_init == 0:
        return {}  # the op's default
    value = float(v_init) if v_init.ndim == 0 else np.array(v_init)
    return {_META_PREFIX + "v_init": value}


def _shape_of(graph: ir.Graph, name: str) -> Array:
    return np.array(graph.shape(name), dtype=np.int64)


def _in_shape(graph: ir.Graph, name: str) -> tuple[int, ...]:
    (edge, *_) = [e for e in graph.in_edges(name) if not e.recurrent]
    return graph.shape(edge.src)


Exporter = Callable[[ModuleType, ir.Graph, str, Any], Any]


def _x_conv(nir: ModuleType, graph: ir.Graph, name: str, op: Any) -> Any:
    spatial = _in_shape(graph, name)[1:]
    bias = (
        op.bias
        if op.bias is not None
        else np.zeros(op.weight.shape[0], op.weight.dtype)
    )
    meta = {} if op.bias is not None else {_META_PREFIX + "bias": 0}
    if op.name == nn.Conv1d.name:
        return nir.Conv1d(
            input_shape=int(spatial[0]),
            weight=np.array(op.weight),
            stride=op.stride,
            padding=op.padding,
            dilation=op.dilation,
            groups=op.groups,
            bias=np.array(bias),
            metadata=meta,
        )
    return nir.Conv2d(
        input_shape=tuple(int(d) for d in spatial),
        weight=np.array(op.weight),
        stride=tuple(op.stride),
        padding=tuple(op.padding),
        dilation=tuple(op.dilation),
        groups=op.groups,
        bias=np.array(bias),
        metadata=meta,
    )


def _x_pool(nir: ModuleType, graph: ir.Graph, name: str, op: Any) -> Any:
    cls = nir.SumPool2d if op.name == nn.SumPool2d.name else nir.AvgPool2d
    return cls(
        kernel_size=np.array(op.kernel_size),
        stride=np.array(op.strides),
        padding=np.array(op.padding),
    )


def _x_lif(nir: ModuleType, g: ir.Graph, n: str, op: Any) -> Any:
    return nir.LIF(
        tau=_full(g, n, op.tau),
        r=_full(g, n, op.r),
        v_leak=_full(g, n, op.v_leak),
        v_threshold=_full(g, n, op.v_threshold),
        v_reset=_full(g, n, op.v_reset),
        metadata=_spiking_meta(g, n, op),
    )


def _x_cubalif(nir: ModuleType, g: ir.Graph, n: str, op: Any) -> Any:
    return nir.CubaLIF(
        tau_syn=_full(g, n, op.tau_syn),
        tau_mem=_full(g, n, op.tau_mem),
        r=_full(g, n, op.r),
        v_leak=_full(g, n, op.v_leak),
        v_threshold=_full(g, n, op.v_threshold),
        v_reset=_full(g, n, op.v_reset),
        w_in=_full(g, n, op.w_in),
        metadata=_spiking_meta(g, n, op),
    )


def _x_cubali(nir: ModuleType, g: ir.Graph, n: str, op: Any) -> Any:
    return nir.CubaLI(
        tau_syn=_full(g, n, op.tau_syn),
        tau_mem=_full(g, n, op.tau_mem),
        r=_full(g, n, op.r),
        v_leak=_full(g, n, op.v_leak),
        w_in=_full(g, n, op.w_in),
        metadata=_init_meta(op),
    )


_EXPORTERS: dict[str, Exporter] = {
    io.Input.name: lambda nir, g, n, op: nir.Input(
        input_type={"input": np.array(op.shape, dtype=np.int64)}
    ),
    io.Output.name: lambda nir, g, n, op: nir.Output(
        output_type={"output": _shape_of(g, n)}
    ),
    nn.Affine.name: lambda nir, g, n, op: nir.Affine(
        weight=np.array(op.weight), bias=np.array(op.bias)
    ),
    nn.Linear.name: lambda nir, g, n, op: nir.Linear(weight=np.array(op.weight)),
    nn.Scale.name: lambda nir, g, n, op: nir.Scale(scale=_full(g, n, op.scale)),
    nn.Add.name: lambda nir, g, n, op: nir.Scale(
        scale=np.ones(g.shape(n), np.float32),
        metadata={_META_PREFIX + "op": nn.Add.name},
    ),
    nn.Conv1d.name: _x_conv,
    nn.Conv2d.name: _x_conv,
    nn.SumPool2d.name: _x_pool,
    nn.AvgPool2d.name: _x_pool,
    nn.Flatten.name: lambda nir, g, n, op: nir.Flatten(
        input_type={"input": np.array(_in_shape(g, n), dtype=np.int64)},
        start_dim=op.start_dim,
        end_dim=op.end_dim,
    ),
    snn.Delay.name: lambda nir, g, n, op: nir.Delay(delay=_full(g, n, op.delay)),
    snn.Threshold.name: lambda nir, g, n, op: nir.Threshold(
        threshold=_full(g, n, op.threshold)
    ),
    snn.Integrator.name: lambda nir, g, n, op: nir.I(
        r=_full(g, n, op.r), metadata=_init_meta(op)
    ),
    snn.IF.name: lambda nir, g, n, op: nir.IF(
        r=_full(g, n, op.r),
        v_threshold=_full(g, n, op.v_threshold),
        v_reset=_full(g, n, op.v_reset),
        metadata=_spiking_meta(g, n, op),
    ),
    snn.LI.name: lambda nir, g, n, op: nir.LI(
        tau=_full(g, n, op.tau),
        r=_full(g, n, op.r),
        v_leak=_full(g, n, op.v_leak),
        metadata=_init_meta(op),
    ),
    snn.LIF.name: _x_lif,
    snn.CubaLI.name: _x_cubali,
    snn.CubaLIF.name: _x_cubalif,
}
"""IR op name -> NIR node (the inverse of ``_BUILDERS`` under ``exact``)."""
