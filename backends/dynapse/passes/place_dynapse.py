"""The ``place-dynapse`` pass."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from backends.dynapse.lower import DEFAULT_I_SCALE, place_graph
from backends.dynapse.placement import DynapseSystem
from compiler.pass_base import Pass
from ir import Graph

__all__ = ["PlaceDynapsePass"]


@dataclass(frozen=True)
class PlaceDynapsePass(Pass):
    """Group neurons by parameters and place them on Dynap-SE2 cores and chips.

    Neurons that share a core share every bias, so each layer splits into parameter
    groups (translated to bias currents on the coarse/fine grid); groups are placed
    keeping connected neurons on one core (fewer spikes cross cores) within the CAM
    (64 fan-in), SRAM (4 destinations) and tag (2048) limits. Writes ``placement``
    (chip, core, slot), ``param_group`` and ``i_scale`` to each neuron layer's meta.

    Options:
        chips: chips available (4 cores of 256 neurons each).
        i_scale: amperes per unit of threshold-scaled input (weights, threshold).
    """

    name = "place-dynapse"

    chips: int = 1
    i_scale: float = DEFAULT_I_SCALE

    def __post_init__(self) -> None:
        if self.chips < 1:
            raise ValueError(f"option chips must be >= 1, got {self.chips}")
        if not (math.isfinite(self.i_scale) and self.i_scale > 0):
            raise ValueError(
                f"option i_scale must be a positive current, got {self.i_scale}"
            )

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        return place_graph(graph, DynapseSystem(chips=self.chips), i_scale=self.i_scale)
