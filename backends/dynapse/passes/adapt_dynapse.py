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

    Per-neuron parameters that need more parameter groups than the cores of
    ``chips`` chips hold are merged into as many groups as fit (``groups``).

    Options:
        strict: refuse instead (an error naming the node and the difference).
        chips: chips the network may use (4 cores of 256 neurons each).
    """

    name = "adapt-dynapse"

    strict: bool = False
    chips: int = 1

    def __post_init__(self) -> None:
        if self.chips < 1:
            raise ValueError(f"option chips must be >= 1, got {self.chips}")

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        return adapt_graph(graph, strict=self.strict, chips=self.chips)[0]
