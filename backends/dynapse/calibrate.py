"""Choose the current scale of a Dynap-SE2 lowering from data, without labels.

The translation (``backends/dynapse/lower.py``) maps one unit of a layer's input to
``i_scale`` amperes. The chip's neuron is a nonlinear current-mode circuit, so no
single value is right for every network: ``choose_i_scale`` compiles the graph at each
candidate, runs the ideal (mismatch-free) chip on calibration spikes, and keeps the
scale whose output decisions (the output neuron with the most spikes) agree most often
with the float SNN's on the same spikes. Ties go to the smaller current (less power).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from backends.dynapse import decode
from backends.dynapse.lower import config_from_graph, place_graph, quantize_graph
from backends.dynapse.placement import DynapseSystem
from ir import Graph, interpret

__all__ = ["DEFAULT_CANDIDATES", "choose_i_scale"]

DEFAULT_CANDIDATES = (1e-9, 2e-9, 5e-9, 1e-8, 2e-8, 5e-8)
"""Amperes per unit: around Rockpool's 10 nA default, a decade either side."""


def choose_i_scale(
    graph: Graph,
    spikes: np.ndarray,
    *,
    candidates: Sequence[float] = DEFAULT_CANDIDATES,
    system: DynapseSystem | None = None,
) -> tuple[float, dict[float, float]]:
    """The candidate ``i_scale`` whose ideal chip best agrees with the float graph.

    Args:
        graph: the float SNN (a chain ``lower_to_config`` accepts).
        spikes: calibration input spikes ``(B, T, Nin)``.
        candidates: amperes per unit to try.
        system: the hardware (default one chip).

    Returns:
        The chosen scale and the agreement (fraction of samples) of every candidate.
    """
    x = np.asarray(spikes, np.float32)
    if x.ndim != 3 or x.shape[0] == 0:
        raise ValueError(f"calibration spikes must be (B, T, Nin), got {x.shape}")
    if not candidates:
        raise ValueError("no candidate i_scale given")
    reference = interpret(graph, torch.from_numpy(x)).numpy().sum(1).argmax(1)
    agreement: dict[float, float] = {}
    for i_scale in candidates:
        lowered = quantize_graph(place_graph(graph, system, i_scale=i_scale))
        config = config_from_graph(lowered, system)
        outputs = decode.output_columns(config)
        run = decode.emulator(config, seed=None).run(torch.from_numpy(x))
        chosen = run.spikes[0][..., outputs].numpy().sum(1).argmax(1)
        agreement[float(i_scale)] = float(np.mean(chosen == reference))
    best = max(agreement, key=lambda s: (agreement[s], -s))
    return best, agreement
