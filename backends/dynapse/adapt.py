"""Adapt a float SNN chain to what a Dynap-SE2 neuron can do, and say what changed.

The chip's neuron (reference ``dynapse2.md`` §2.2) resets its membrane to rest
(``I_0``) after a spike, fires at most once per step and is then refractory, takes a
constant input only as a positive DC current, always filters its input through a DPI
synapse, and holds time constants only within its bias generators' ranges. A network
that asks for more is changed, node by node, into the nearest network the chip runs,
so that interpreting the adapted graph shows what the chip will do:

=================  ===========================================================
``reset``          ``subtract`` becomes ``zero`` (``v_subtract`` dropped)
``v_reset``        a nonzero reset potential becomes 0 (the chip's rest)
``max_spikes``     more than one spike per step becomes one
``bias``           a negative constant input ``b = v_leak + gain c`` (``c`` the
                   affine bias) of a LIF/CubaLIF neuron moves into its threshold
                   (``v_threshold - b``, which keeps the input at which it starts
                   firing); an IF neuron's is dropped
``leak``           an IF neuron leaks on the chip with ``lower.IF_TAU_MEM``
``synapse``        ``snn.lif`` becomes ``snn.cubalif`` (``w_in = 1``) with the
                   synapse time constant ``synapse_tau`` the chip will use
``tau``            a membrane or synapse time constant whose leak current is
                   outside its bias generator's range is clipped to the range
``v_init``         a nonzero initial potential becomes 0 (the chip starts at rest)
=================  ===========================================================

Each adapted node's meta ``adapted`` lists what changed (kind, old and new values,
how many neurons); the pass warns once with a :class:`DynapseAdapterWarning`
listing them. ``strict=True`` raises instead (``AdapterError``, naming the node and
the difference).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from backends.chain import layer_chain
from backends.dynapse.params import KAPPA, U_T, DynapseParams
from backends.dynapse.translate import generator_of
from compiler.errors import AdapterWarning
from ir import Graph, verify
from ir.ops.nn import Affine
from ir.ops.snn import IF, LIF, CubaLIF

__all__ = [
    "AdapterError",
    "DynapseAdapterWarning",
    "Adaptation",
    "adapt_graph",
    "synapse_tau",
    "tau_range",
]

_NEURONS = (LIF, CubaLIF, IF)


class DynapseAdapterWarning(AdapterWarning):
    """The Dynap-SE2 lowering changed the network's semantics to fit the chip (a
    ``compiler.AdapterWarning``, as Xylo's adapters give)."""


class AdapterError(ValueError):
    """``strict`` adaptation: the network asks for something the chip cannot do."""


@dataclass(frozen=True)
class Adaptation:
    """One change: node, kind (table in the module docstring) and what it was."""

    node: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"node '{self.node}' {self.kind}: {self.detail}"


def tau_range(block: str) -> tuple[float, float]:
    """Shortest and longest time constant (s) of ``block`` (``mem`` or ``ampa``)
    whose leak current ``U_T C / (kappa tau)`` its bias generator holds."""
    c = float(getattr(DynapseParams(), f"c_{block}"))
    gen = generator_of(f"itau_{block}")
    return U_T * c / (KAPPA * gen.max_current), U_T * c / (KAPPA * gen.min_current)


def synapse_tau(tau_mem: np.ndarray, dt: float) -> np.ndarray:
    """The chip synapse time constant given to a neuron without one (``snn.lif``).

    A quarter of the membrane's, at least one step (the emulator samples the
    synapse once per step) and at most Rockpool's 10 ms default, so the synapse
    stays fast next to the membrane as the LIF's missing filter is instantaneous.
    """
    return np.clip(np.asarray(tau_mem, np.float64) / 4, dt, 10e-3)


def _arr(value: object, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, np.float64), (n,)).copy()


def _like(new: np.ndarray, old: object) -> np.ndarray:
    dtype = np.asarray(old).dtype
    return new.astype(dtype if dtype.kind == "f" else np.float32)


def _span(values: np.ndarray) -> str:
    lo, hi = float(np.min(values)), float(np.max(values))
    return f"{lo:g}" if lo == hi else f"{lo:g}..{hi:g}"


def adapt_graph(
    graph: Graph, *, strict: bool = False, warn: bool = True
) -> tuple[Graph, list[Adaptation]]:
    """The graph the chip runs, and the list of changes (module docstring).

    A graph that is not a chain of neuron layers is returned unchanged (the
    lowering reports what it cannot take).

    Raises:
        AdapterError: with ``strict``, at the first change, naming node and
            difference.
    """
    verify(graph)
    from backends.dynapse.lower import IF_TAU_MEM, _weight_node

    dt = graph.dt
    if dt is None:
        raise ValueError(
            f"graph @{graph.name} has no dt; Dynap-SE2 needs the time step"
        )
    try:
        _, layers = layer_chain(graph, _NEURONS)
    except ValueError:
        # NOTE: not a chain of neuron layers (e.g. conv layers): the lowering says
        # what it cannot take, with its own context; nothing to adapt here.
        return graph.copy(), []
    result = graph.copy()
    changes: list[Adaptation] = []

    def note(node: str, kind: str, detail: str) -> None:
        change = Adaptation(node, kind, detail)
        if strict:
            raise AdapterError(
                f"{change}; the Dynap-SE2 chip cannot run it as written "
                "(strict=true refuses to adapt)"
            )
        changes.append(change)

    mem_lo, mem_hi = tau_range("mem")
    syn_lo, syn_hi = tau_range("ampa")
    for layer in layers:
        node, op = layer.node, layer.neuron
        n = int(np.prod(graph.shape(node)))
        fields: dict[str, object] = {}
        reset = getattr(op, "reset", "zero")
        if reset == "subtract":
            note(
                node,
                "reset",
                f"subtract -> zero ({n} neurons): the chip resets to rest",
            )
            fields["reset"] = "zero"
            if getattr(op, "v_subtract", None) is not None:
                fields["v_subtract"] = None
            if getattr(op, "refire_offset", None) is not None:
                # snnTorch's same-step reset: no refire rule after a reset to rest
                fields["refire_offset"] = None
        v_min = getattr(op, "v_min", None)
        if v_min is not None:
            note(
                node,
                "v_min",
                f"{_span(_arr(v_min, n))} -> none: the chip has no membrane floor "
                "(its membrane current cannot go below zero)",
            )
            fields["v_min"] = None
        v_reset = _arr(op.v_reset, n)  # type: ignore[attr-defined]
        if reset != "subtract" and np.any(v_reset != 0):
            note(node, "v_reset", f"{_span(v_reset)} -> 0: the chip resets to rest")
        if np.any(v_reset != 0):
            fields["v_reset"] = _like(np.zeros(n), op.v_reset)  # type: ignore[attr-defined]
        cap = int(getattr(op, "max_spikes", 1))
        if cap != 1:
            note(node, "max_spikes", f"{cap} -> 1: one spike per step, then refractory")
            fields["max_spikes"] = 1
        v_init = _arr(getattr(op, "v_init", 0.0), n)
        if np.any(v_init != 0):
            note(node, "v_init", f"{_span(v_init)} -> 0: the chip starts at rest")
            fields["v_init"] = _like(np.zeros(n), op.v_init)  # type: ignore[attr-defined]

        # Constant input: v_leak plus the affine bias times the input gain.
        wnode = _weight_node(graph, node, forward=True)
        assert wnode is not None
        wop = graph.op(wnode)
        gain = _arr(op.r, n)  # type: ignore[attr-defined]
        if isinstance(op, CubaLIF):
            gain = gain * _arr(op.w_in, n)
        if isinstance(op, IF):
            gain = gain * float(dt)
        c = _arr(wop.bias, n) if isinstance(wop, Affine) else np.zeros(n)
        v_leak = np.zeros(n) if isinstance(op, IF) else _arr(op.v_leak, n)  # type: ignore[attr-defined]
        bias = v_leak + gain * c
        neg = bias < 0
        if np.any(neg):
            if isinstance(op, IF):
                note(
                    node,
                    "bias",
                    f"negative constant input {_span(bias[neg])} on {int(neg.sum())} "
                    "neurons dropped: the chip's DC input is positive",
                )
            else:
                theta = _arr(op.v_threshold, n)  # type: ignore[attr-defined]
                new_theta = np.where(neg, theta - bias, theta)
                note(
                    node,
                    "bias",
                    f"negative constant input {_span(bias[neg])} on {int(neg.sum())} "
                    f"neurons moved into the threshold ({_span(theta[neg])} -> "
                    f"{_span(new_theta[neg])}): the chip's DC input is positive",
                )
                fields["v_threshold"] = _like(new_theta, op.v_threshold)  # type: ignore[attr-defined]
                fields["v_leak"] = _like(np.where(neg, 0.0, v_leak), op.v_leak)  # type: ignore[attr-defined]
            if isinstance(wop, Affine):
                new_c = np.where(neg, 0.0, c)
                result.replace(wnode, wop.replace(bias=_like(new_c, wop.bias)))
        if isinstance(op, IF):
            note(
                node, "leak", f"none -> tau {IF_TAU_MEM:g} s: the chip's membrane leaks"
            )

        # Time constants on the grid.
        tau_name = "tau_mem" if isinstance(op, CubaLIF) else "tau"
        if not isinstance(op, IF):
            tau = _arr(getattr(op, tau_name), n)
            clipped = np.clip(tau, mem_lo, mem_hi)
            if np.any(clipped != tau):
                note(
                    node,
                    "tau",
                    f"membrane {_span(tau[clipped != tau])} s -> "
                    f"{_span(clipped[clipped != tau])} s: outside the chip's range "
                    f"{mem_lo:.3g}..{mem_hi:.3g} s",
                )
                fields[tau_name] = _like(clipped, getattr(op, tau_name))
                tau = clipped
            if isinstance(op, LIF):
                ts = np.clip(synapse_tau(tau, float(dt)), syn_lo, syn_hi)
                note(
                    node,
                    "synapse",
                    f"snn.lif -> snn.cubalif with tau_syn {_span(ts)} s: the chip "
                    "filters every input through a DPI synapse",
                )
            elif isinstance(op, CubaLIF):
                ts = _arr(op.tau_syn, n)
                clipped = np.clip(ts, syn_lo, syn_hi)
                if np.any(clipped != ts):
                    note(
                        node,
                        "tau",
                        f"synapse {_span(ts[clipped != ts])} s -> "
                        f"{_span(clipped[clipped != ts])} s: outside the chip's range "
                        f"{syn_lo:.3g}..{syn_hi:.3g} s",
                    )
                    fields["tau_syn"] = _like(clipped, op.tau_syn)
        new = op.replace(**fields) if fields else op
        if isinstance(op, LIF):
            new = _as_cubalif(new, ts)  # type: ignore[arg-type]
        if new is not op:
            result.replace(node, new)
        mine = [str(a) for a in changes if a.node == node]
        if mine:
            result.meta(node)["adapted"] = tuple(mine)
    if changes and warn:
        warnings.warn(
            "the Dynap-SE2 chip can only approximate this network; adapted "
            f"({len(changes)} changes): "
            + "; ".join(str(a) for a in changes)
            + " (strict=true refuses instead)",
            DynapseAdapterWarning,
            stacklevel=2,
        )
    return result, changes


def _as_cubalif(op: LIF, tau_syn: np.ndarray) -> CubaLIF:
    dtype = np.asarray(op.tau).dtype
    return CubaLIF(
        tau_syn=tau_syn.astype(dtype),
        tau_mem=np.asarray(op.tau),
        r=np.asarray(op.r),
        v_leak=np.asarray(op.v_leak),
        v_threshold=np.asarray(op.v_threshold),
        v_reset=np.asarray(op.v_reset),
        w_in=np.ones_like(np.asarray(op.tau)),
        reset=op.reset,
        max_spikes=op.max_spikes,
        v_init=np.asarray(op.v_init),
        v_subtract=op.v_subtract,
    )
