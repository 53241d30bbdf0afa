"""The verifier: structure first, then each op's own checks, then shapes."""

from __future__ import annotations

import math

import numpy as np

from ir.errors import VerifyError
from ir.graph import Graph
from ir.op import Op

__all__ = ["MAX_ELEMENTS", "MAX_INT_FIELD", "verify"]

MAX_INT_FIELD = 2**31 - 1
"""Largest magnitude of an integer field (``shape``, ``padding``, ``max_spikes``...).

Larger values can only be typos or hostile input: they overflow the int32/int64 math
of the interpreter and the emulators, or ask for more memory than any machine has.
"""

MAX_ELEMENTS = 2**28
"""Most elements one node's output may have per sample and step (1 GiB of float32)."""


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
            _verify_fields(op)
            op.verify_()
        except VerifyError as err:
            raise VerifyError(f"{op.name}: {err.detail}", node=name) from None
    shapes = graph.shapes()
    for name in graph.nodes():
        _verify_size(graph.op(name), shapes[name], name)
        recorded = graph.meta(name).get("shape")
        if recorded is not None and tuple(recorded) != shapes[name]:
            raise VerifyError(
                f"meta shape {tuple(recorded)} disagrees with the inferred shape "
                f"{shapes[name]} (run infer-shapes again)",
                node=name,
            )
    if not graph.outputs():
        raise VerifyError(f"graph @{graph.name} has no io.output node")


def _verify_fields(op: Op) -> None:
    """Bounds every op shares: integers within ``MAX_INT_FIELD``, no empty tensors."""
    for field, kind in op.fields_.items():
        value = getattr(op, field)
        if value is None:
            continue
        if kind.kind in ("int", "ints"):
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                if abs(v) > MAX_INT_FIELD:
                    raise VerifyError(
                        f"field '{field}': {v} is beyond the limit "
                        f"MAX_INT_FIELD = {MAX_INT_FIELD} (magnitude)"
                    )
        elif (
            kind.kind == "tensor" and isinstance(value, np.ndarray) and value.size == 0
        ):
            raise VerifyError(
                f"field '{field}': the tensor is empty (shape {value.shape}); every "
                "dimension must be >= 1"
            )


def _verify_size(op: Op, shape: tuple[int, ...], name: str) -> None:
    if any(d < 1 for d in shape):
        raise VerifyError(
            f"{op.name}: output shape {shape} has a dimension < 1", node=name
        )
    elements = math.prod(shape)
    if elements > MAX_ELEMENTS:
        raise VerifyError(
            f"{op.name}: output shape {shape} has {elements} elements per sample and "
            f"step, beyond the limit MAX_ELEMENTS = {MAX_ELEMENTS}",
            node=name,
        )


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
