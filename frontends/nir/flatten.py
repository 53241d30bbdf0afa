"""Nested NIR graphs flattened into one: sub-graphs' nodes get dotted names
(``g.lif``); edges addressing ``g``, ``g.input`` or ``g.output`` go through the
child's ``Input`` and ``Output`` nodes, which disappear. An edge that closes a cycle
is marked recurrent (it reads the previous step): the edge *out of* a stateful op
(neuron or delay), the last one met when the cycle is walked from its node nearest
the graph inputs (for snnTorch's ``RSynaptic`` that is ``lif -> w_rec``, so the
recurrent ``Affine`` adds its bias from the first step on, as NIR's continuous-time
graph and snnTorch do)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import networkx as nx

import ir
from frontends.errors import FrontendError
from frontends.nir.common import NEURONS, PORTS, Flat, as_str
from frontends.nir.nodes import BUILDERS, STATELESS

__all__ = ["close_cycles", "contract", "flatten", "kind_of"]


def kind_of(nir: ModuleType, node: Any) -> str:
    for kind in (*NEURONS, *PORTS, "NIRGraph", *STATELESS):
        if type(node) is getattr(nir, kind):
            return kind
    return type(node).__name__


def flatten(nir: ModuleType, graph: Any, prefix: str, flat: Flat, top: bool) -> None:
    """Add ``graph``'s nodes (sub-graphs expanded) and edges to ``flat``."""
    nodes = getattr(graph, "nodes", None)
    edges = getattr(graph, "edges", None)
    if not isinstance(nodes, Mapping) or edges is None:
        raise FrontendError(f"sub-graph '{prefix[:-1]}' has no nodes or edges")
    for name, node in nodes.items():
        full = prefix + str(name)
        kind = kind_of(nir, node)
        if kind == "NIRGraph":
            flatten(nir, node, full + ".", flat, top=False)
            continue
        if kind not in BUILDERS:
            raise FrontendError(
                f"node '{full}' has unknown NIR type '{kind}' "
                f"(known: {', '.join(sorted(BUILDERS))}, NIRGraph)"
            )
        if full in flat.nodes:
            raise FrontendError(
                f"node name '{full}' is used twice (a dotted name collides with a "
                "sub-graph's node)"
            )
        flat.nodes[full] = node
        flat.kinds[full] = kind
        if kind in PORTS and not top:
            flat.passthrough.add(full)
    for edge in edges:
        try:
            src, dst = (str(as_str(e) or e) for e in edge)
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
        if kind_of(nir, node) != "NIRGraph":
            return prefix + name
        ports = [k for k, n in node.nodes.items() if kind_of(nir, n) == port]
        if len(ports) != 1:
            raise FrontendError(
                f"edge {tuple(edge)}: sub-graph '{prefix}{name}' has {len(ports)} "
                f"{port} nodes; address one as '{name}.<{port.lower()}>'"
            )
        return prefix + name + "." + ports[0]
    head, dot, rest = name.partition(".")
    while dot:
        child = nodes.get(head)
        if child is not None and kind_of(nir, child) == "NIRGraph":
            return _endpoint(nir, child, prefix + head + ".", rest, port, edge)
        more, dot, rest = rest.partition(".")
        head = f"{head}.{more}"
    raise FrontendError(
        f"edge {tuple(edge)}: no node named '{prefix}{name}' "
        f"(nodes: {', '.join(prefix + str(k) for k in nodes)})"
    )


def contract(flat: Flat) -> None:
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


def close_cycles(
    flat: Flat, graph: ir.Graph, marked: set[tuple[str, str]]
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
