"""The ``quantize-dynapse`` pass."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from backends.dynapse.adapt import DynapseAdapterWarning
from backends.dynapse.lower import quantize_graph
from compiler.pass_base import Pass
from ir import Graph

__all__ = ["LOW_AGREEMENT", "QuantizeDynapsePass"]

LOW_AGREEMENT = 0.5
"""``i-scale=auto`` warns when both the decision agreement and the count correlation
of the ideal chip with the float graph are below this."""


@dataclass(frozen=True)
class QuantizeDynapsePass(Pass):
    """Per core, fit 4 base weight currents and a 4-bit mask per connection.

    Every weight into a core's neurons is reconstructed as ``sign * sum_k bit_k(mask)
    Iw_k`` (positive to AMPA, negative to GABA), the bases on the bias grid
    (alternating optimisation with an exhaustive 16-mask search per weight,
    ``backends/dynapse/weights.py``). The weight ops take the realised values; masks,
    dendrites, base-weight codes and per-layer errors go to ``meta``. Needs a
    placement first (``allocate-cores``).

    Options:
        i_scale: amperes per unit of threshold-scaled input: ``auto`` (default)
            chooses it without labels by compiling a few candidates and keeping the
            one whose ideal chip agrees best with the float graph
            (``calibrate.auto_i_scale``, on the ``calibration`` spikes when given,
            else on seeded random input; the candidates' scores go to the input
            node's ``i_scale_choice`` meta); ``none`` is the one the graph records
            (``i_scale`` meta), else 10 nA; a number is that current.
    """

    name = "quantize-dynapse"
    inputs = ("calibration",)

    i_scale: str | None = "auto"

    def __post_init__(self) -> None:
        self._value()

    def _value(self) -> float | str | None:
        if self.i_scale is None or self.i_scale == "auto":
            return self.i_scale
        try:
            value = float(self.i_scale)
        except (TypeError, ValueError):
            raise ValueError(
                f"option i_scale must be auto, none or a current in amperes, got "
                f"{self.i_scale!r}"
            ) from None
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"option i_scale must be a positive current, got {value}")
        return value

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        value = self._value()
        if value != "auto":
            return quantize_graph(graph, i_scale=value)  # type: ignore[arg-type]
        from backends.dynapse.calibrate import auto_i_scale

        calibration = inputs.get("calibration")
        spikes = None
        if calibration is not None:
            spikes = np.asarray(
                calibration.detach().cpu().numpy()
                if hasattr(calibration, "detach")
                else calibration,
                np.float32,
            )
            if spikes.ndim == 2:
                spikes = spikes[None]
        choice = auto_i_scale(_one_copy(graph), spikes)
        result = quantize_graph(graph, i_scale=choice.best)
        (inp,) = result.inputs()
        scales = sorted(choice.agreement)
        result.meta(inp)["i_scale_choice"] = np.array(
            [[s, choice.agreement[s], choice.correlation[s]] for s in scales]
        )
        result.meta(inp)["i_scale_data"] = (
            "calibration" if spikes is not None else "random"
        )
        agree, corr = choice.agreement[choice.best], choice.correlation[choice.best]
        if agree < LOW_AGREEMENT and corr < LOW_AGREEMENT:
            warnings.warn(
                f"quantize-dynapse: at the best current scale ({choice.best:g} A per "
                f"unit) the ideal chip agrees with the float graph on only "
                f"{agree:.0%} of decisions (count correlation {corr:.2f}); the chip "
                "will not behave like this network: check the adapt-dynapse changes, "
                "pass calibration spikes, or retune",
                DynapseAdapterWarning,
                stacklevel=2,
            )
        return result


def _one_copy(graph: Graph) -> Graph:
    """The graph the current scale is chosen on: a replicated graph's first copy,
    placed on its own (the copies are alike on the ideal chip, so they share the best
    scale; the chooser compares the chip's outputs with the graph's, channel by
    channel), else ``graph`` itself."""
    from backends.chain import readout_copies

    if readout_copies(graph) == 1:
        return graph
    from backends.dynapse.lower import allocate_graph
    from compiler.passes.replicate import single_copy

    return allocate_graph(single_copy(graph))
