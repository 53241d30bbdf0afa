"""The ``allocate-cores`` pass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from compiler.allocation import (
    NEURON_OPS,
    Allocation,
    CoreModel,
    allocate,
    from_graph,
)
from compiler.pass_base import Pass, check_minimum
from ir import Graph, interpret

__all__ = ["AllocateCoresPass", "core_model_of", "measured_rates"]


def core_model_of(target: str) -> CoreModel:
    """The ``core_model`` a target declares.

    Raises:
        ValueError: an unknown target, or one without cores to allocate.
    """
    from backends import available_targets, get_target

    if target not in available_targets():
        raise ValueError(
            f"unknown target '{target}'; known: {', '.join(available_targets())}"
        )
    model = getattr(get_target(target), "core_model", None)
    if not isinstance(model, CoreModel):
        with_cores = [
            name
            for name in available_targets()
            if isinstance(getattr(get_target(name), "core_model", None), CoreModel)
        ]
        raise ValueError(
            f"target '{target}' declares no core model; targets with cores: "
            f"{', '.join(with_cores) or 'none'}"
        )
    return model


def measured_rates(graph: Graph, calibration: Any) -> dict[str, np.ndarray]:
    """Spikes per sample of every neuron, from the interpreter on calibration data.

    ``calibration`` is ``(N, T, *input_shape)`` (a tensor, array or ``.npy`` path).
    """
    if isinstance(calibration, (str, Path)):
        calibration = np.load(calibration, allow_pickle=False)
    data = np.asarray(calibration, np.float32)
    (inp,) = graph.inputs()
    want = graph.shape(inp)
    if data.ndim != len(want) + 2 or tuple(data.shape[2:]) != tuple(want):
        raise ValueError(
            f"input 'calibration' for allocate-cores must be (N, T, {', '.join(map(str, want))}) "
            f"samples over time, got shape {tuple(data.shape)}"
        )
    _, record = interpret(
        graph, torch.as_tensor(data, dtype=torch.float32), record=True
    )
    rates = {}
    for node in graph.nodes():
        if graph.op(node).name in NEURON_OPS and node in record:
            spikes = record[node]["output"].detach().numpy()
            rates[node] = spikes.sum(axis=1).mean(axis=0).reshape(-1)
    return rates


@dataclass(frozen=True)
class AllocateCoresPass(Pass):
    """Place every neuron on a (chip, core, slot) of a target's cores, minimising traffic.

    Spikes between cores are counted by the connectivity metric (one event per
    distinct destination core), weighted by firing rates measured on ``calibration``
    data when given (uniform otherwise); then traffic between chips. Core capacity,
    parameter groups, fan-in, fan-out and tags are hard constraints
    (``compiler/allocation``). Writes ``placement`` ``(n, 3)`` (chip, core, slot; ``n``
    the layer's neurons, flattened) to each neuron layer's meta and the summary
    ``allocation`` to the graph input's meta.

    Options:
        target: the target whose ``core_model`` gives the hardware.
        seed: seed of the partitioner (same seed, same placement).
        refine: refinement passes on the exact metric (0: none).
        chips: chips available (0: the target's number).

    Inputs:
        calibration: ``(N, T, *input_shape)`` samples for firing rates (optional).
    """

    name = "allocate-cores"
    inputs = ("calibration",)

    target: str = "dynapse2"
    seed: int = 0
    refine: int = 2
    chips: int = 0

    def __post_init__(self) -> None:
        check_minimum(self, 0, "refine", "chips")

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        model = core_model_of(self.target)
        if self.chips:
            side = int(np.ceil(np.sqrt(self.chips)))
            fits = model.mesh[0] * model.mesh[1] >= self.chips
            model = dataclasses.replace(
                model, chips=self.chips, mesh=model.mesh if fits else (side, side)
            )
        calibration = inputs.get("calibration")
        rates = measured_rates(graph, calibration) if calibration is not None else None
        net = from_graph(graph, model.shared_parameters, rates)
        placed = allocate(net, model, seed=self.seed, refine=self.refine)
        return annotate(graph, placed, [name for name, _ in net.layers])


def annotate(graph: Graph, placed: Allocation, layers: list[str]) -> Graph:
    """A copy of ``graph`` with ``placement`` per layer and the summary on its input."""
    result = graph.copy()
    rows = placed.as_array()
    start = 0
    for node in layers:
        size = int(np.prod(graph.shape(node)))
        result.meta(node)["placement"] = rows[start : start + size]
        start += size
    r = placed.report
    summary = (
        ("cores_used", r.cores_used),
        ("cores_lower_bound", r.cores_lower_bound),
        ("chips_used", r.chips_used),
        ("inter_core_spikes", round(r.traffic.inter_core, 3)),
        ("inter_chip_spikes", round(r.traffic.inter_chip, 3)),
        ("spike_hops", round(r.traffic.spike_hops, 3)),
        ("busiest_link", round(r.traffic.busiest_link, 3)),
    )
    for node in graph.inputs():
        result.meta(node)["allocation"] = summary
    return result
