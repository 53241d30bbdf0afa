"""The ``quantize-xylo`` pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backends.xylo.lower import quantize_graph
from backends.xylo.ops import XyloCore
from backends.xylo.quantize import DEFAULT_V_HEADROOM
from backends.xylo.variants import check_variant
from compiler.pass_base import Pass
from ir import Graph

__all__ = ["QuantizeXyloPass"]


@dataclass(frozen=True)
class QuantizeXyloPass(Pass):
    """Quantize a float LIF/CubaLIF/IF chain into one integer ``xylo.core``.

    Time constants become dashes (nearest decay factor, ``backends/xylo/dash.py``);
    each neuron's incoming weights, threshold and bias are scaled together (spiking is
    invariant to that scale) into int8 weights with one shift per matrix, int16
    thresholds and int8 biases, clipping and never wrapping
    (``backends/xylo/quantize.py``). Registers stay in logical neuron order;
    ``allocate-xylo`` places them. The core's ``meta`` holds the layers and the
    per-layer quantization errors (``quant_rel_rms``, ``quant_clipped``,
    ``quant_flushed``, ``quant_threshold_error``) and ``adapted``: the float nodes'
    ``meta["adapted"]`` records (``adapt-xylo``, ``fold-recurrent-bias``) as
    ``(node, pass, what, from, to)``.

    Options:
        variant: the Xylo variant (``xylo-audio2``, ``xylo-audio3``, ``xylo-imu``,
            ``xylo-v1``).
        v_headroom: thresholds stay at most ``32767 / v_headroom`` where the weights
            allow it, so the membrane can exceed them without saturating.
    """

    name = "quantize-xylo"

    variant: str = "xylo-audio2"
    v_headroom: float = DEFAULT_V_HEADROOM

    def __post_init__(self) -> None:
        check_variant(self.variant)
        if not self.v_headroom >= 1:
            raise ValueError(f"option v_headroom must be >= 1, got {self.v_headroom}")

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        result = quantize_graph(graph, self.variant, v_headroom=self.v_headroom)
        # The float nodes go into one core: it keeps what adapters changed in them.
        adapted = tuple(
            (name, *record)
            for name in graph.topo_order()
            for record in graph.meta(name).get("adapted", ())
        )
        if adapted:
            for name in result.nodes():
                if isinstance(result.op(name), XyloCore):
                    result.meta(name)["adapted"] = adapted
        return result
