"""Shape inference: every node's output feature shape, from the inputs' shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ir.errors import VerifyError
from ir.op import Shape

if TYPE_CHECKING:
    from ir.graph import Edge, Graph

__all__ = ["infer_shapes"]


def infer_shapes(graph: Graph) -> dict[str, Shape]:
    """Return the output shape of every node.

    Edges are followed in dependency order; a recurrent edge's shape is checked once
    its source is known. All edges into one port must carry the same shape.

    Raises:
        VerifyError: naming the node and the edges whose shapes disagree.
    """
    shapes: dict[str, Shape] = {}
    for name in graph.topo_order():
        op = graph.op(name)
        ports: dict[str, Shape] = {}
        firsts: dict[str, str] = {}  # the first source seen on each port
        for edge in graph.in_edges(name):
            if edge.recurrent:
                continue
            _merge(ports, firsts, edge, shapes[edge.src])
        missing = [p for p in op.input_ports if p not in ports]
        if missing:
            only_rec = [e.src for e in graph.in_edges(name) if e.dst_port in missing]
            if only_rec:
                raise VerifyError(
                    f"port '{missing[0]}' is fed only by recurrent edges "
                    f"({', '.join(only_rec)}); its shape cannot be inferred",
                    node=name,
                )
            raise VerifyError(f"input port '{missing[0]}' is not connected", node=name)
        try:
            shape = tuple(int(d) for d in op.infer_shape(ports))
        except VerifyError as err:
            if err.node is not None:
                raise
            raise VerifyError(f"{op.name}: {err.detail}", node=name) from None
        shapes[name] = shape
    for edge in graph.edges():
        if edge.recurrent and shapes[edge.src] != _port_shape(graph, shapes, edge):
            raise VerifyError(
                f"recurrent edge from '{edge.src}' carries shape {shapes[edge.src]}, "
                f"but port '{edge.dst_port}' has shape {_port_shape(graph, shapes, edge)}",
                node=edge.dst,
            )
    return shapes


def _port_shape(graph: Graph, shapes: dict[str, Shape], edge: Edge) -> Shape:
    for other in graph.in_edges(edge.dst):
        if other.dst_port == edge.dst_port and not other.recurrent:
            return shapes[other.src]
    return shapes[edge.src]


def _merge(
    ports: dict[str, Shape], firsts: dict[str, str], edge: Edge, shape: Shape
) -> None:
    port = edge.dst_port
    if port in ports and ports[port] != shape:
        raise VerifyError(
            f"edges into port '{port}' disagree: '{edge.src}' gives {shape}, "
            f"'{firsts[port]}' gives {ports[port]}",
            node=edge.dst,
        )
    ports[port] = shape
    firsts.setdefault(port, edge.src)
