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

    Nodes are visited in dependency order. A port takes its shape from the edges whose
    source is already known; a node whose ports wait on a recurrent edge from a later
    node (``lif -> prev w_rec -> lif``) is deferred until that source is known. At the
    end every edge, recurrent or not, must carry its port's shape.

    Raises:
        VerifyError: naming the node and the edges whose shapes disagree.
    """
    shapes: dict[str, Shape] = {}
    pending = graph.topo_order()
    while pending:
        deferred = [name for name in pending if not _infer(graph, name, shapes)]
        if len(deferred) == len(pending):
            raise _unresolved(graph, deferred[0])
        pending = deferred
    for name in graph.nodes():
        _port_shapes(graph, name, shapes, known_only=False)
    return shapes


def _infer(graph: Graph, name: str, shapes: dict[str, Shape]) -> bool:
    """Infer ``name``'s shape if its ports are known; return whether it was."""
    op = graph.op(name)
    ports = _port_shapes(graph, name, shapes, known_only=True)
    missing = [p for p in op.input_ports if p not in ports]
    if missing:
        if any(e.dst_port in missing for e in graph.in_edges(name)):
            return False  # fed by nodes not inferred yet
        raise VerifyError(f"input port '{missing[0]}' is not connected", node=name)
    try:
        shapes[name] = tuple(int(d) for d in op.infer_shape(ports))
    except VerifyError as err:
        if err.node is not None:
            raise
        raise VerifyError(f"{op.name}: {err.detail}", node=name) from None
    return True


def _port_shapes(
    graph: Graph, name: str, shapes: dict[str, Shape], *, known_only: bool
) -> dict[str, Shape]:
    ports: dict[str, Shape] = {}
    firsts: dict[str, str] = {}  # the first source seen on each port
    for edge in graph.in_edges(name):
        if edge.src in shapes or not known_only:
            _merge(ports, firsts, edge, shapes[edge.src])
    return ports


def _unresolved(graph: Graph, name: str) -> VerifyError:
    edges = graph.in_edges(name)
    port = edges[0].dst_port if edges else graph.op(name).input_ports[0]
    sources = [e.src for e in edges if e.dst_port == port]
    return VerifyError(
        f"port '{port}' is fed only by recurrent edges ({', '.join(sources)}) whose "
        "shapes depend on this node; its shape cannot be inferred",
        node=name,
    )


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
