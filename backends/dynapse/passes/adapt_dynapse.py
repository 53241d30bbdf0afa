"""The ``adapt-dynapse`` pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backends.dynapse.adapt import adapt_graph
from compiler.pass_base import Pass
from ir import Graph

__all__ = ["AdaptDynapsePass"]


@dataclass(frozen=True)
class AdaptDynapsePass(Pass):
    """Change what a Dynap-SE2 neuron cannot do into what it does, and warn.

    Subtract reset to zero reset, nonzero reset potentials to rest, spike caps to one
    per step, negative constant inputs into the threshold (LIF) or dropped (IF), a
    synapse filter for ``snn.lif`` (``snn.cubalif``), time constants clipped to the
    bias generators' ranges (``backends/dynapse/adapt.py``). Each adapted node's
    ``adapted`` meta says what changed; one ``DynapseAdapterWarning`` lists it all.

    Options:
        strict: refuse instead (an error naming the node and the difference).
    """

    name = "adapt-dynapse"

    strict: bool = False

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        return adapt_graph(graph, strict=self.strict)[0]
