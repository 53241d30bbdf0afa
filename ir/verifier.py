"""The verifier: structure first, then each op's own checks, then shapes."""

from __future__ import annotations

import math

from ir.errors import VerifyError
from ir.graph import Graph

__all__ = ["verify"]


def verify(graph: Graph) -> None:
    """Check that ``graph`` is well formed; return ``None`` or raise.

    Order: ports and edges, cycles (only through recurrent edges, each leaving or
    entering a stateful op),
    ``dt``, each op's ``verify_()``, shapes (fan-in agreement, ``meta['shape']``).

    Raises:
        VerifyError: naming the node, the edge and what was expected.
    """
    _verify_edges(graph)
    graph.topo_order()  # raises on a cycle without a recurrent edge
    _verify_dt(graph)
    for name in graph.nodes():
        op = graph.op(name)
        try:
            op.verify_()
        except VerifyError as err:
            raise VerifyError(f"{op.name}: {err.detail}", node=name) from None
    shapes = graph.shapes()
    for name in graph.nodes():
        recorded = graph.meta(name).get("shape")
        if recorded is not None and tuple(recorded) != shapes[name]:
            raise VerifyError(
                f"meta shape {tuple(recorded)} disagrees with the inferred shape "
                f"{shapes[name]} (run infer-shapes again)",
                node=name,
            )
    if not graph.outputs():
        raise VerifyError(f"graph @{graph.name} has no io.output node")


def _verify_edges(graph: Graph) -> None:
    for name in graph.nodes():
        op = graph.op(name)
        fed = set()
        for edge in graph.in_edges(name):
            src_op = graph.op(edge.src)
            if edge.src_port not in src_op.output_ports:
                raise VerifyError(
                    f"edge from '{edge.src}' uses output port '{edge.src_port}', but "
                    f"{src_op.name} has {_ports(src_op.output_ports)}",
                    node=name,
                )
            if edge.dst_port not in op.input_ports:
                raise VerifyError(
                    f"edge from '{edge.src}' enters port '{edge.dst_port}', but "
                    f"{op.name} has {_ports(op.input_ports)}",
                    node=name,
                )
            if edge.recurrent and not (op.stateful or src_op.stateful):
                raise VerifyError(
                    f"recurrent edge from '{edge.src}' ({src_op.name}) to {op.name}: "
                    "neither end has state; a recurrent edge must leave or enter a "
                    "stateful op (a neuron or delay)",
                    node=name,
                )
            fed.add(edge.dst_port)
        for port in op.input_ports:
            if port not in fed:
                raise VerifyError(
                    f"{op.name}: input port '{port}' is not connected", node=name
                )


def _ports(ports: tuple[str, ...]) -> str:
    return f"ports {', '.join(repr(p) for p in ports)}" if ports else "no such ports"


def _verify_dt(graph: Graph) -> None:
    dt = graph.dt
    if dt is not None and not (math.isfinite(dt) and dt > 0):
        raise VerifyError(
            f"graph @{graph.name}: dt must be a positive number, got {dt}"
        )
    for name in graph.nodes():
        op = graph.op(name)
        if not op.needs_dt:
            continue
        if dt is None:
            raise VerifyError(
                f"{op.name} needs the graph's dt, which is not set", node=name
            )
        try:
            op.verify_dt_(dt)
        except VerifyError as err:
            raise VerifyError(f"{op.name}: {err.detail}", node=name) from None
