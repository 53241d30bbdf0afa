"""The canonical printer: ``Graph`` to ``.sfir`` text.

Canonical means: nodes in dependency order with ties broken by natural name order,
operands in port-then-name order, fields in declaration order, meta keys sorted,
floats in their shortest exact form. Equal graphs print to equal bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

import numpy as np

from ir.errors import VerifyError
from ir.graph import Graph
from ir.literals import ELIDED, format_tensor, format_type

__all__ = ["FORMAT_VERSION", "format_value", "to_text"]

FORMAT_VERSION = 1
"""The ``.sfir`` format version this code reads and writes."""

_BARE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.$\-]*$")


def to_text(
    graph: Graph,
    *,
    sidecar: str | None = None,
    blobs: MutableMapping[str, np.ndarray] | None = None,
    inline_limit: int | None = None,
    sidecar_digest: Callable[[Mapping[str, np.ndarray]], str] | None = None,
    elide_larger_than: int | None = None,
) -> str:
    """Print ``graph`` as ``.sfir`` text.

    Args:
        graph: the graph (it need not verify, but its edges must be acyclic apart from
            recurrent edges).
        sidecar: file name written in the ``sidecar`` header when blobs are used.
        blobs: receives the arrays printed as references instead of inline.
        inline_limit: arrays with more elements than this go to ``blobs`` (needs
            ``blobs`` and ``sidecar``); ``None`` prints everything inline.
        sidecar_digest: given the collected blobs, the SHA-256 (hex) of the sidecar
            that will hold them, recorded in the header (``ir.save`` passes it).
        elide_larger_than: print tensors (attributes and meta) with more elements
            than this as ``blob<f32[64,128]> "__elided__"``, like MLIR's
            ``dense_resource<__elided__>``: text for reading, which the parser
            refuses; ``None`` prints every element.
    """
    lines: list[str] = []
    for name in graph.topo_order():
        lines.append("  " + _node(graph, name, blobs, inline_limit, elide_larger_than))
    header = [f"sfir {FORMAT_VERSION}"]
    if blobs:
        if sidecar is None:
            raise ValueError("blobs were collected but no sidecar name was given")
        line = f"sidecar {json.dumps(sidecar)}"
        if sidecar_digest is not None:
            line += f' sha256 "{sidecar_digest(blobs)}"'
        header.append(line)
    dt = "none" if graph.dt is None else repr(float(graph.dt))
    header.append(f"graph {_symbol('@', graph.name)} {{dt = {dt}}} {{")
    return "\n".join([*header, *lines, "}"]) + "\n"


def _symbol(sigil: str, name: str) -> str:
    # NOTE: fullmatch, not match: ``$`` also matches before a trailing newline, so
    # ``match`` printed a name like "0\n" bare and the text did not parse back.
    return sigil + (name if _BARE.fullmatch(name) else json.dumps(name))


def _node(
    graph: Graph,
    name: str,
    blobs: MutableMapping[str, np.ndarray] | None,
    inline_limit: int | None,
    elide: int | None = None,
) -> str:
    op = graph.op(name)
    operands = []
    for edge in graph.in_edges(name):
        text = _symbol("%", edge.src)
        if edge.src_port != graph.op(edge.src).output_ports[0]:
            text += f"#{edge.src_port}"
        if edge.recurrent:
            text = f"prev {text}"
        if not op.input_ports or edge.dst_port != op.input_ports[0]:
            text = f"{edge.dst_port} = {text}"
        operands.append(text)
    attrs = []
    for field, value in op.params().items():
        if (
            isinstance(value, np.ndarray)
            and blobs is not None
            and inline_limit is not None
            and value.size > inline_limit
        ):
            key = f"{name}.{field}"
            blobs[key] = value
            attrs.append(f"{field} = {format_type('blob', value)} {json.dumps(key)}")
        else:
            attrs.append(f"{field} = {format_value(value, elide)}")
    text = f"{_symbol('%', name)} = {op.name}({', '.join(operands)}) {{{', '.join(attrs)}}}"
    meta = {k: v for k, v in sorted(graph.meta(name).items()) if not k.startswith("_")}
    if meta:
        try:
            items = ", ".join(
                f"{k} = {format_value(v, elide)}" for k, v in meta.items()
            )
        except TypeError as err:
            raise VerifyError(f"meta: {err}", node=name) from None
        text += f" meta {{{items}}}"
    return text


def format_value(value: Any, elide_larger_than: int | None = None) -> str:
    """Text of one attribute or meta value (tensors over ``elide_larger_than``
    elements elided, see :func:`to_text`).

    Raises:
        TypeError: the value has no text form.
    """
    if value is None:
        return "none"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, np.ndarray):
        if elide_larger_than is not None and value.size > elide_larger_than:
            return f"{format_type('blob', value)} {json.dumps(ELIDED)}"
        return format_tensor(value)
    if isinstance(value, (tuple, list)):
        items = (format_value(v, elide_larger_than) for v in value)
        return "(" + ", ".join(items) + ")"
    raise TypeError(f"value {value!r} of type {type(value).__name__} has no text form")
