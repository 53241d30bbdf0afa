"""The ``fit-readout-dynapse`` pass."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from backends.dynapse.calibrate import (
    READOUT_FIT_ITERATIONS,
    READOUT_FIT_MIN_SAMPLES,
    READOUT_FIT_RIDGE,
    fit_readout,
)
from compiler.pass_base import Pass
from compiler.retune import load_array, load_labels
from ir import Graph

__all__ = ["FIT_CHIP_SEED", "FitReadoutDynapsePass"]

FIT_CHIP_SEED = 1_000_000
"""First mismatch seed of the chips ``chips=N`` fits on (``N`` consecutive seeds):
far from the seeds yield reports and benches evaluate (1, 2, ...), so the chips a
network was fitted on are not the chips it is measured on."""


@dataclass(frozen=True)
class FitReadoutDynapsePass(Pass):
    """Refit the last layer's weights on emulated chips, at compile time.

    The chip's neuron counts concavely where the float IF neuron counts linearly,
    so the float network's last layer reads the chip's hidden layer worse than a
    readout fitted to it (``calibrate.fit_readout``: on the digits bench the ideal
    chip goes from 90.5 % to 95.2 % on the test digits, float SNN 94.97 %, and 20
    chips at 10 % mismatch from 74.3 % to 76.6 % mean). With
    ``calibration`` spike trains (at least ``READOUT_FIT_MIN_SAMPLES``, as long as
    the ones the chip will classify) and ``labels`` (else the float network's
    counts are the targets), the chips run the samples once, and ``iterations``
    damped least-squares steps refit the last layer's forward weights, quantized
    again per core each time; the best iterate on the samples is kept. Without
    enough calibration data the graph is returned unchanged and the last layer's
    ``readout_fit`` meta says why (the compile report shows it).

    Options:
        chips: mismatched chips to fit on, pooled (0: the ideal chip; seeds from
            ``FIT_CHIP_SEED``). NOTE: few chips fit their own deviations and
            lower other chips (``fit_readout``); 0 is the robust choice.
        relative_std: their mismatch.
        iterations: least-squares steps.
        ridge: how strongly each step stays near the present weights (relative
            to the data's scale): small fits the chips more closely, large keeps
            the float network's readout more (``READOUT_FIT_RIDGE``).

    Inputs:
        calibration: ``(N, T, *input)`` spike trains.
        labels: ``(N,)`` classes (optional).
    """

    name = "fit-readout-dynapse"
    inputs = ("calibration", "labels")

    chips: int = 0
    relative_std: float = 0.1
    iterations: int = READOUT_FIT_ITERATIONS
    ridge: float = READOUT_FIT_RIDGE

    def __post_init__(self) -> None:
        if self.chips < 0:
            raise ValueError(f"option chips must be >= 0, got {self.chips}")
        if not (math.isfinite(self.relative_std) and self.relative_std >= 0):
            raise ValueError(
                f"option relative_std must be >= 0, got {self.relative_std}"
            )
        if not (math.isfinite(self.ridge) and self.ridge > 0):
            raise ValueError(f"option ridge must be > 0, got {self.ridge}")
        if self.iterations < 0:
            raise ValueError(f"option iterations must be >= 0, got {self.iterations}")

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        calibration = inputs.get("calibration")
        labels = inputs.get("labels")
        if calibration is None:
            return _skipped(graph, "no calibration data")
        spikes = load_array(calibration).astype(np.float32, copy=False)
        if spikes.ndim == 2 or len(spikes) < READOUT_FIT_MIN_SAMPLES:
            count = 1 if spikes.ndim == 2 else len(spikes)
            return _skipped(
                graph,
                f"{count} calibration samples, fewer than {READOUT_FIT_MIN_SAMPLES}",
            )
        if labels is not None:
            labels = load_labels(labels, len(spikes), self.name)
        seeds = range(FIT_CHIP_SEED, FIT_CHIP_SEED + self.chips)
        result, _ = fit_readout(
            graph,
            spikes,
            labels,
            chips=seeds,
            relative_std=self.relative_std,
            iterations=self.iterations,
            ridge=self.ridge,
        )
        meta = result.meta(_last_layer(result))
        meta["readout_fit"] = "labels" if labels is not None else "float counts"
        return result


def _last_layer(graph: Graph) -> str:
    from backends.dynapse.calibrate import _last_weight

    flat, last, _, _ = _last_weight(graph)
    return str(flat.layers[last].node)


def _skipped(graph: Graph, why: str) -> Graph:
    result = graph.copy()
    result.meta(_last_layer(result))["readout_fit"] = f"skipped: {why}"
    return result
