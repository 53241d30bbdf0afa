"""The ``quantize-dynapse`` pass."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from backends.dynapse.lower import quantize_graph
from compiler.pass_base import Pass
from ir import Graph

__all__ = ["QuantizeDynapsePass"]


@dataclass(frozen=True)
class QuantizeDynapsePass(Pass):
    """Per core, fit 4 base weight currents and a 4-bit mask per connection.

    Every weight into a core's neurons is reconstructed as ``sign * sum_k bit_k(mask)
    Iw_k`` (positive to AMPA, negative to GABA), the bases on the bias grid
    (alternating optimisation with an exhaustive 16-mask search per weight,
    ``backends/dynapse/weights.py``). The weight ops take the realised values; masks,
    dendrites, base-weight codes and per-layer errors go to ``meta``. Needs a
    placement first (``allocate-cores`` or ``place-dynapse``).

    Options:
        i_scale: amperes per unit of threshold-scaled input (``none``: the one
            ``place-dynapse`` recorded, else 10 nA).
    """

    name = "quantize-dynapse"

    i_scale: float | None = None

    def __post_init__(self) -> None:
        if self.i_scale is not None and not (
            math.isfinite(self.i_scale) and self.i_scale > 0
        ):
            raise ValueError(
                f"option i_scale must be a positive current, got {self.i_scale}"
            )

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        return quantize_graph(graph, i_scale=self.i_scale)
