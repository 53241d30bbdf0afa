"""The ``adapt-xylo`` pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backends.xylo.adapt import adapt_graph
from backends.xylo.variants import VARIANTS, check_variant
from compiler.pass_base import Pass
from ir import Graph

__all__ = ["AdaptXyloPass"]


@dataclass(frozen=True)
class AdaptXyloPass(Pass):
    """Adapt neuron semantics to what the Xylo chip computes (warns, or strict refuses).

    Rules (``backends/xylo/adapt.py``): ``delayed-subtract`` (snnTorch's reset after
    the next decay; exact for hidden ``snn.lif``/``snn.if`` through a recurrent
    self-weight), ``zero-reset`` (reset to 0 becomes subtracting the threshold),
    ``spike-cap`` (31 spikes per hidden neuron and step, 1 per output neuron),
    ``v-init`` (membranes start at 0), ``bias-form`` (a synapse-filtered constant
    input becomes the membrane bias). Each change is recorded in the node's
    ``meta["adapted"]`` as ``(pass, what, from, to)``; each approximation warns with
    ``compiler.AdapterWarning`` naming the node. The zero-reset surplus is measured
    on the ``calibration`` input when given (else a seeded random raster).

    Options:
        variant: the Xylo variant (its spike caps).
        strict: refuse approximations (``AdapterError`` naming each node and
            difference) instead of adapting.
    """

    name = "adapt-xylo"
    inputs = ("calibration",)

    variant: str = "xylo-audio2"
    strict: bool = False

    def __post_init__(self) -> None:
        check_variant(self.variant)

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        adapted, _ = adapt_graph(
            graph,
            VARIANTS[self.variant],
            strict=self.strict,
            calibration=inputs.get("calibration"),
        )
        return adapted
