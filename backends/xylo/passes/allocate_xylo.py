"""The ``allocate-xylo`` pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backends.xylo.lower import allocate_graph
from compiler.pass_base import Pass
from ir import Graph

__all__ = ["AllocateXyloPass"]


@dataclass(frozen=True)
class AllocateXyloPass(Pass):
    """Place the ``xylo.core`` neurons on hardware ids (windows, fan-out, sizes).

    Reorders the core's registers into hardware-id order (delivery and spike-loop
    order on the chip) and records ``hidden_ids``/``output_ids`` in its ``meta``.
    Raises ``ResourceError`` naming the layer, neuron, limit and value when the
    network does not fit (``backends/xylo/allocate.py``).
    """

    name = "allocate-xylo"

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        return allocate_graph(graph)
