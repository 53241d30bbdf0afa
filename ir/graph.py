"""``ir.Graph``: named op nodes joined by port-to-port edges, over ``networkx``.

Node data: the op (immutable) and a ``meta`` dict. Documented ``meta`` keys:

* ``shape``: the node's output feature shape, written by the ``infer-shapes`` pass;
  the verifier checks it against inference, and :meth:`Graph.replace` drops it;
* keys that start with ``_`` are transient (never printed);
* later passes document their own keys (e.g. core placement).

An edge carries the source's output port, the destination's input port, and whether it
is *recurrent*: a recurrent edge delivers the source's output of the **previous** step
(zero at the first step). Several edges into one port are summed (NIR semantics). A
cycle is legal only when it contains a recurrent edge, and a recurrent edge must leave
or enter a stateful op (on the spike side, e.g. ``lif -> w_rec``, a recurrent weight's
bias acts from the first step, as in continuous time).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx

from ir.errors import VerifyError
from ir.op import Op, Shape

__all__ = ["Edge", "Graph", "natural_key"]


@dataclass(frozen=True, order=True)
class Edge:
    """A connection ``src.src_port -> dst.dst_port``.

    Attributes:
        src: source node name.
        dst: destination node name.
        src_port: the source's output port.
        dst_port: the destination's input port.
        recurrent: whether the edge reads the source's previous step.
    """

    src: str
    dst: str
    src_port: str = "output"
    dst_port: str = "input"
    recurrent: bool = False


_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key that orders ``fc2`` before ``fc10``; ties break on the plain string."""
    parts = _DIGITS.split(name)
    return (tuple((0, int(p), "") if p.isdecimal() else (1, 0, p) for p in parts), name)


class Graph:
    """A dataflow graph of ops with a time step ``dt``.

    Passes build new graphs (``copy`` then edit); the editing API keeps edges, ports
    and caches consistent, so nothing outside this class mutates the ``networkx`` graph.

    Args:
        name: the graph's name (printed as ``graph @name``).
        dt: time step in seconds; required by ops with time constants.
    """

    def __init__(self, name: str = "main", *, dt: float | None = None) -> None:
        self.name = name
        self.dt = dt
        self._g: nx.DiGraph = nx.DiGraph()
        self._shapes: dict[str, Shape] | None = None

    # -- building --------------------------------------------------------------------
    def add(
        self,
        name: str,
        op: Op,
        inputs: Iterable[str] = (),
        *,
        meta: Mapping[str, Any] | None = None,
    ) -> str:
        """Add node ``name`` running ``op``, fed by the outputs of ``inputs``.

        Returns:
            ``name``, so calls can be chained.

        Raises:
            VerifyError: the name is taken or an input does not exist.
        """
        if not isinstance(name, str) or not name:
            raise VerifyError(f"node names must be non-empty strings, got {name!r}")
        if name in self._g:
            raise VerifyError("a node with this name already exists", node=name)
        self._g.add_node(name, op=op, meta=dict(meta or {}))
        self._changed()
        try:
            for src in inputs:
                self.connect(src, name)
        except VerifyError:
            # A failed add leaves the graph as it was.
            self._g.remove_node(name)
            raise
        return name

    def connect(
        self,
        src: str,
        dst: str,
        *,
        src_port: str = "output",
        dst_port: str = "input",
        recurrent: bool = False,
    ) -> None:
        """Add the edge ``src.src_port -> dst.dst_port``.

        Raises:
            VerifyError: a node is missing or the two nodes are already connected.
        """
        for end in (src, dst):
            if end not in self._g:
                raise VerifyError(f"edge {src} -> {dst}: no node named '{end}'")
        if self._g.has_edge(src, dst):
            raise VerifyError(
                f"duplicate edge {src} -> {dst}: nodes are joined by at most one edge "
                "(for x + x, scale by 2 instead)",
                node=dst,
            )
        self._g.add_edge(
            src, dst, src_port=src_port, dst_port=dst_port, recurrent=recurrent
        )
        self._changed()

    def disconnect(self, src: str, dst: str) -> None:
        """Remove the edge ``src -> dst``."""
        if not self._g.has_edge(src, dst):
            raise VerifyError(f"no edge {src} -> {dst}", node=dst)
        self._g.remove_edge(src, dst)
        self._changed()

    def remove(self, name: str) -> None:
        """Remove node ``name`` and every edge touching it."""
        self._require(name)
        self._g.remove_node(name)
        self._changed()

    def replace(self, name: str, op: Op) -> None:
        """Run ``op`` at node ``name`` instead, keeping its edges and meta (not ``shape``)."""
        self._require(name)
        self._g.nodes[name]["op"] = op
        self._g.nodes[name]["meta"].pop("shape", None)
        self._changed()

    def redirect(self, old: str, new: str) -> None:
        """Make every user of ``old``'s output read ``new``'s output instead."""
        for edge in self.out_edges(old):
            self._g.remove_edge(old, edge.dst)
            self._changed()
            if edge.dst == new:
                continue
            if self._g.has_edge(new, edge.dst):
                raise VerifyError(
                    f"redirecting {old} -> {edge.dst} to {new} would duplicate an edge",
                    node=edge.dst,
                )
            self.connect(
                new, edge.dst, dst_port=edge.dst_port, recurrent=edge.recurrent
            )

    def fresh_name(self, base: str) -> str:
        """Return ``base``, or ``base_1``, ``base_2``, ... whichever is free."""
        if base not in self._g:
            return base
        k = 1
        while f"{base}_{k}" in self._g:
            k += 1
        return f"{base}_{k}"

    def copy(self) -> Graph:
        """Return an independent copy (ops are immutable and shared; meta is copied)."""
        other = Graph(self.name, dt=self.dt)
        for name, data in self._g.nodes(data=True):
            other._g.add_node(name, op=data["op"], meta=dict(data["meta"]))
        for src, dst, data in self._g.edges(data=True):
            other._g.add_edge(src, dst, **data)
        other._shapes = self._shapes
        return other

    # -- reading ---------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self._g

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def __iter__(self) -> Iterator[str]:
        return iter(self._g.nodes)

    def nodes(self) -> list[str]:
        """Node names in insertion order."""
        return list(self._g.nodes)

    def op(self, name: str) -> Op:
        """The op at node ``name``."""
        self._require(name)
        op: Op = self._g.nodes[name]["op"]
        return op

    def meta(self, name: str) -> dict[str, Any]:
        """The (mutable) meta dict of node ``name``."""
        self._require(name)
        meta: dict[str, Any] = self._g.nodes[name]["meta"]
        return meta

    def in_edges(self, name: str) -> list[Edge]:
        """Edges into ``name``, sorted by port then source name."""
        self._require(name)
        edges = [Edge(s, d, **data) for s, d, data in self._g.in_edges(name, data=True)]
        return sorted(edges, key=lambda e: (e.dst_port, natural_key(e.src)))

    def out_edges(self, name: str) -> list[Edge]:
        """Edges out of ``name``, sorted by destination name."""
        self._require(name)
        edges = [
            Edge(s, d, **data) for s, d, data in self._g.out_edges(name, data=True)
        ]
        return sorted(edges, key=lambda e: natural_key(e.dst))

    def edges(self) -> list[Edge]:
        """Every edge, in canonical order."""
        edges = [Edge(s, d, **data) for s, d, data in self._g.edges(data=True)]
        return sorted(
            edges, key=lambda e: (natural_key(e.dst), e.dst_port, natural_key(e.src))
        )

    def users(self, name: str) -> list[str]:
        """Nodes that read ``name``'s output."""
        return [e.dst for e in self.out_edges(name)]

    def producers(self, name: str) -> list[str]:
        """Nodes whose output ``name`` reads."""
        return [e.src for e in self.in_edges(name)]

    def inputs(self) -> list[str]:
        """The ``io.input`` nodes, in canonical order."""
        return [n for n in self.topo_order() if self.op(n).name == "io.input"]

    def outputs(self) -> list[str]:
        """The ``io.output`` nodes, in canonical order."""
        return [n for n in self.topo_order() if self.op(n).name == "io.output"]

    def topo_order(self) -> list[str]:
        """Nodes in dependency order over non-recurrent edges, ties by natural name order.

        Raises:
            VerifyError: the non-recurrent edges form a cycle (named in the message).
        """
        forward = nx.DiGraph()
        forward.add_nodes_from(self._g.nodes)
        forward.add_edges_from(
            (s, d) for s, d, rec in self._g.edges(data="recurrent") if not rec
        )
        try:
            return list(nx.lexicographical_topological_sort(forward, key=natural_key))
        except nx.NetworkXUnfeasible:
            cycle = [s for s, _ in nx.find_cycle(forward)]
            path = " -> ".join([*cycle, cycle[0]])
            raise VerifyError(
                f"cycle {path} has no recurrent edge; mark an edge that leaves or enters "
                "a stateful op as recurrent (text: 'prev %name') so it reads the "
                "previous step"
            ) from None

    def components(self) -> list[list[str]]:
        """Strongly connected components (over all edges) in dependency order.

        Each component lists its nodes in topological order; a component with more than
        one node, or with a recurrent self-loop, must be stepped one time step at a time.
        """
        order = {n: i for i, n in enumerate(self.topo_order())}
        sccs = [
            sorted(c, key=order.__getitem__)
            for c in nx.strongly_connected_components(self._g)
        ]
        condensed = nx.condensation(self._g, scc=[set(c) for c in sccs])
        rank = {i: min(order[n] for n in sccs[i]) for i in range(len(sccs))}
        ordered = nx.lexicographical_topological_sort(condensed, key=rank.__getitem__)
        return [sccs[i] for i in ordered]

    def shape(self, name: str) -> Shape:
        """Output feature shape of ``name`` (inferred and cached)."""
        self._require(name)
        return self.shapes()[name]

    def shapes(self) -> dict[str, Shape]:
        """Output feature shape of every node (inferred and cached)."""
        if self._shapes is None:
            from ir.shapes import infer_shapes

            self._shapes = infer_shapes(self)
        return dict(self._shapes)

    def is_equivalent(self, other: Graph) -> bool:
        """Structural equality: names, ops (bitwise), edges, meta, ``dt`` and name."""
        if self.name != other.name or _float_bits(self.dt) != _float_bits(other.dt):
            return False
        if set(self._g.nodes) != set(other._g.nodes) or self.edges() != other.edges():
            return False
        for name in self._g.nodes:
            if not self.op(name).equivalent(other.op(name)):
                return False
            if not _same_meta(self.meta(name), other.meta(name)):
                return False
        return True

    def __repr__(self) -> str:
        return f"<Graph @{self.name}: {len(self)} nodes, dt={self.dt}>"

    def summary_rows(self) -> list[tuple[str, str, str, str, str]]:
        """``(node, op, inputs, shape, parameters)`` per node in dependency order:
        inputs ``prev x`` for a recurrent edge, the output shape (``?`` when it
        cannot be inferred), the number of values in the op's array fields."""
        try:
            shapes: dict[str, Shape] | None = self.shapes()
        except Exception:  # a summary of a malformed graph still prints
            shapes = None
        try:
            order = self.topo_order()
        except Exception:
            order = self.nodes()
        rows = []
        for name in order:
            op = self.op(name)
            inputs = ", ".join(
                ("prev " if e.recurrent else "")
                + e.src
                + ("" if e.src_port == "output" else f".{e.src_port}")
                for e in self.in_edges(name)
            )
            shape = "?" if shapes is None else "x".join(map(str, shapes[name])) or "()"
            size = sum(
                int(getattr(v, "size", 0))
                for v in vars(op).values()
                if hasattr(v, "shape") and hasattr(v, "size")
            )
            rows.append((name, op.name, inputs, shape, f"{size:,}" if size else ""))
        return rows

    def __str__(self) -> str:
        """A compact table of the nodes (``ir.to_text`` gives the full IR)."""
        head = ("node", "op", "inputs", "shape", "params")
        rows = [head, *self.summary_rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [f"graph @{self.name}: {len(self)} nodes, dt = {self.dt}"]
        for row in rows:
            cells = [row[i].ljust(widths[i]) for i in range(4)]
            lines.append("  " + "  ".join(cells) + "  " + row[4].rjust(9))
        return "\n".join(line.rstrip() for line in lines)

    def _repr_html_(self) -> str:
        """The :meth:`__str__` table as HTML (Jupyter)."""
        from html import escape

        head = "".join(
            f"<th>{h}</th>" for h in ("node", "op", "inputs", "shape", "params")
        )
        body = "".join(
            "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
            for row in self.summary_rows()
        )
        caption = escape(f"graph @{self.name}: {len(self)} nodes, dt = {self.dt}")
        return f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table>"

    # -- internals -------------------------------------------------------------------
    def _require(self, name: str) -> None:
        if name not in self._g:
            raise VerifyError(f"no node named '{name}'")

    def _changed(self) -> None:
        self._shapes = None


def _float_bits(x: float | None) -> bytes | None:
    import struct

    return None if x is None else struct.pack("<d", x)


def _same_meta(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    from ir.op import _same_value

    public_a = {k: v for k, v in a.items() if not k.startswith("_")}
    public_b = {k: v for k, v in b.items() if not k.startswith("_")}
    if public_a.keys() != public_b.keys():
        return False
    return all(_same_value(public_a[k], public_b[k]) for k in public_a)
