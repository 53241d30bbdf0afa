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
``groups``         per-neuron parameters (time constants, threshold, gain, constant
                   input) that need more parameter groups than the chip has cores
                   (a core shares every bias) are merged, layer by layer, into at
                   most as many groups as fit (:func:`merge_groups`)
=================  ===========================================================

Each adapted node's meta ``adapted`` lists what changed (kind, old and new values,
how many neurons); the pass warns once with a :class:`DynapseAdapterWarning`
listing them. ``strict=True`` raises instead (``AdapterError``, naming the node and
the difference).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
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
    "merge_groups",
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


def _clipped(
    which: str, tau: np.ndarray, lo: float, hi: float
) -> tuple[np.ndarray, str]:
    """``tau`` clipped to the chip's range ``lo..hi``, and what that changed (``""``
    when nothing); ``which`` names the time constant in it."""
    clipped = np.clip(tau, lo, hi)
    changed = clipped != tau
    if not np.any(changed):
        return clipped, ""
    return clipped, (
        f"{which} {_span(tau[changed])} s -> {_span(clipped[changed])} s: outside the "
        f"chip's range {lo:.3g}..{hi:.3g} s"
    )


def adapt_graph(
    graph: Graph, *, strict: bool = False, warn: bool = True, chips: int = 1
) -> tuple[Graph, list[Adaptation]]:
    """The graph the chip runs, and the list of changes (module docstring).

    ``chips`` is the number of chips the network may use (``groups``: 4 cores of
    256 neurons each).

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
            clipped, detail = _clipped("membrane", tau, mem_lo, mem_hi)
            if detail:
                note(node, "tau", detail)
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
                clipped, detail = _clipped("synapse", ts, syn_lo, syn_hi)
                if detail:
                    note(node, "tau", detail)
                    fields["tau_syn"] = _like(clipped, op.tau_syn)
        new = op.replace(**fields) if fields else op
        if isinstance(op, LIF):
            new = _as_cubalif(new, ts)  # type: ignore[arg-type]
        if new is not op:
            result.replace(node, new)
    merge_groups(result, [layer.node for layer in layers], note, chips=chips)
    for layer in layers:
        node = layer.node
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


_TAUS = ("tau", "tau_mem", "tau_syn")


def merge_groups(
    graph: Graph,
    layers: list[str],
    note: Callable[[str, str, str], None],
    *,
    chips: int = 1,
) -> None:
    """Merge per-neuron parameters into as many parameter groups as the cores hold.

    Neurons on one core share every bias: ``target.SHARED_PARAMETERS`` and the
    constant input (``v_leak`` plus the gain times the affine bias). When the
    distinct groups need more cores than ``chips`` chips have, each layer gets one
    group plus a share of the spare cores (cores minus ``ceil(n / 256)`` per layer,
    handed out one at a time in layer order), and its neurons are clustered into
    that many groups by k-means on the standardized parameters (time constants on a
    log scale), initialized from quantiles of the first principal component
    (deterministic). Each neuron then takes its group's representative (geometric
    mean of a time constant, mean of the rest).

    ``allocate-cores`` groups neurons by the op's fields only, so a constant input
    that differs inside such a group would put two bias sets on one core: in a
    merged layer, or one where that happens, a LIF/CubaLIF neuron's constant input
    moves into ``v_leak`` (the affine bias becomes 0; the chip injects it as a DC
    current either way), and an IF neuron's (no ``v_leak``) takes its group's mean.

    ``graph`` is changed in place; ``note(node, "groups", text)`` records each
    changed layer.
    """
    from backends.dynapse.lower import SHARED_PARAMETERS, _gain, _weight_node
    from backends.dynapse.routing import DynapseSystem

    system = DynapseSystem(chips=chips)
    per_core = system.neurons_per_core
    dt = float(graph.dt or 0.0)
    tables: list[tuple[str, list[str], np.ndarray, str | None]] = []
    for node in layers:
        op = graph.op(node)
        n = int(np.prod(graph.shape(node)))
        names = [f for f in SHARED_PARAMETERS if hasattr(op, f)]
        cols = [_arr(getattr(op, f), n) for f in names]
        wnode = _weight_node(graph, node, forward=True)
        wop = graph.op(wnode) if wnode is not None else None
        affine = wnode if isinstance(wop, Affine) else None
        if isinstance(wop, Affine):
            current = _gain(op, n, dt) * _arr(wop.bias, n)
            if "v_leak" in names:
                cols[names.index("v_leak")] = cols[names.index("v_leak")] + current
            else:
                cols.append(current)
                names.append("bias")
        table = np.stack(cols, axis=1) if cols else np.zeros((n, 0))
        tables.append((node, names, table, affine))
    keys: dict[tuple[object, ...], int] = {}
    sizes: dict[int, int] = {}
    for node, _, table, _ in tables:
        for row in table.tolist():
            g = keys.setdefault((graph.op(node).name, *row), len(keys))
            sizes[g] = sizes.get(g, 0) + 1
    need = sum(-(-s // per_core) for s in sizes.values())
    base = [-(-t[2].shape[0] // per_core) for t in tables]
    spare = system.cores - sum(base)
    if spare < 0:
        return  # the layers are too big by size alone: allocate-cores says so
    distinct = [np.unique(t[2], axis=0).shape[0] for t in tables]
    k = list(distinct)
    if need > system.cores:
        k = [1] * len(tables)
        while spare > 0 and any(k[i] < distinct[i] for i in range(len(tables))):
            for i in range(len(tables)):
                if spare > 0 and k[i] < distinct[i]:
                    k[i] += 1
                    spare -= 1
    merged_all: list[np.ndarray] = []
    clustered: list[bool] = []
    for (_, names, table, _), groups, d in zip(tables, k, distinct, strict=True):
        merged = table.copy()
        if d > groups:
            is_tau = np.array(
                [
                    f in _TAUS and bool(np.all(table[:, j] > 0))
                    for j, f in enumerate(names)
                ],
                bool,
            )
            logged = table.copy()
            logged[:, is_tau] = np.log(logged[:, is_tau])
            label = _kmeans(logged, groups)
            for g in np.unique(label).tolist():
                rows = label == g
                mean = logged[rows].mean(axis=0)
                first = table[rows][0]
                same = np.all(table[rows] == first, axis=0)
                merged[rows] = np.where(
                    same, first, np.where(is_tau, np.exp(mean), mean)
                )
        merged_all.append(merged)
        clustered.append(d > groups)
    # A LIF/CubaLIF layer whose constant input moves into v_leak: clustered ones,
    # and those whose neurons allocate-cores would put with another input current.
    folded = [c and t[3] is not None for c, t in zip(clustered, tables, strict=True)]
    for _ in range(len(tables) + 1):
        seen: dict[tuple[object, ...], set[tuple[object, ...]]] = {}
        rows_of: list[list[tuple[object, ...]]] = []
        for i, (node, names, _, affine) in enumerate(tables):
            op = graph.op(node)
            alloc = merged_all[i].copy()
            if "v_leak" in names and affine is not None and not folded[i]:
                alloc[:, names.index("v_leak")] = _arr(op.v_leak, alloc.shape[0])  # type: ignore[attr-defined]
            own = [j for j, f in enumerate(names) if f != "bias"]
            keys_i = [(op.name, *row) for row in alloc[:, own].tolist()]
            rows_of.append(keys_i)
            for key, full in zip(keys_i, merged_all[i].tolist(), strict=True):
                seen.setdefault(key, set()).add((op.name, *full))
        clash = {key for key, full in seen.items() if len(full) > 1}
        if not clash:
            break
        for i, (_, names, _, affine) in enumerate(tables):
            if affine is None or not any(key in clash for key in rows_of[i]):
                continue
            if "v_leak" in names:
                folded[i] = True
        # IF (no v_leak): one constant input per allocate-cores group, all layers
        for key in clash:
            parts = [
                (i, np.array([r == key for r in rows_of[i]], bool))
                for i, t in enumerate(tables)
                if "bias" in t[1]
            ]
            parts = [(i, rows) for i, rows in parts if rows.any()]
            if not parts:
                continue
            values = np.concatenate(
                [merged_all[i][rows, tables[i][1].index("bias")] for i, rows in parts]
            )
            for i, rows in parts:
                merged_all[i][rows, tables[i][1].index("bias")] = values.mean()
    for i, (node, names, table, affine) in enumerate(tables):
        op = graph.op(node)
        merged = merged_all[i]
        n = table.shape[0]
        fields: dict[str, object] = {}
        parts_text = []
        for j, f in enumerate(names):
            if f == "v_leak" and affine is not None:
                if not folded[i]:
                    continue
                old = _arr(op.v_leak, n)  # type: ignore[attr-defined]
                if not np.array_equal(merged[:, j], old):
                    parts_text.append(
                        f"constant input {_span(table[:, j])} -> "
                        f"{_values(merged[:, j])} in v_leak"
                    )
                    fields[f] = _shaped(merged[:, j], op.v_leak)  # type: ignore[attr-defined]
                continue
            if np.array_equal(merged[:, j], table[:, j]):
                continue
            unit = " s" if f in _TAUS else ""
            what = "constant input" if f == "bias" else f
            parts_text.append(
                f"{what} {_span(table[:, j])}{unit} -> {_values(merged[:, j])}"
            )
            if f != "bias":
                fields[f] = _shaped(merged[:, j], getattr(op, f))
        if not parts_text:
            continue
        if affine is not None:
            wop = graph.op(affine)
            if "bias" in names:
                gain = _gain(op.replace(**fields) if fields else op, n, dt)
                safe = np.where(gain != 0, gain, 1.0)
                c = np.where(gain != 0, merged[:, names.index("bias")] / safe, 0.0)
            elif folded[i]:
                c = np.zeros(n)
            else:
                c = _arr(wop.bias, n)  # type: ignore[attr-defined]
            if not np.array_equal(c, _arr(wop.bias, n)):  # type: ignore[attr-defined]
                graph.replace(affine, wop.replace(bias=_shaped(c, wop.bias)))  # type: ignore[attr-defined]
        groups_now = np.unique(merged, axis=0).shape[0]
        note(
            node,
            "groups",
            ", ".join(parts_text)
            + f" ({groups_now} parameter groups of {n} neurons): a core shares one "
            f"parameter set (the network needs {need} cores, the system has "
            f"{system.describe()})",
        )
        if fields:
            graph.replace(node, op.replace(**fields))


def _values(column: np.ndarray) -> str:
    count = int(np.unique(column).size)
    return f"{count} value" + ("" if count == 1 else "s")


def _shaped(new: np.ndarray, old: object) -> np.ndarray:
    """``new`` (one value per neuron) in ``old``'s dtype, and its shape when it held
    one value per neuron too."""
    arr = np.asarray(old)
    out = _like(new, old)
    return out.reshape(arr.shape) if arr.size == out.size else out


def _kmeans(x: np.ndarray, k: int, iterations: int = 100) -> np.ndarray:
    """Cluster label (0..k-1) of each row of ``x``: Lloyd's k-means on standardized
    columns from the first principal component's quantiles (deterministic)."""
    std = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    order = np.argsort(z @ vt[0], kind="stable")
    centers = np.stack([z[chunk].mean(axis=0) for chunk in np.array_split(order, k)])
    label = np.full(len(z), -1)
    for _ in range(iterations):
        dist = ((z[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        new = np.argmin(dist, axis=1)
        if np.array_equal(new, label):
            break
        label = new
        for g in range(k):
            if np.any(label == g):
                centers[g] = z[label == g].mean(axis=0)
    return label


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
