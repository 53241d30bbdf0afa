"""The ``retune`` pass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from compiler.pass_base import Pass
from compiler.retune import Progress, RetuneData, RetuneOptions, retune_data
from ir import Graph

__all__ = ["RetunePass", "pass_data", "target_with"]


def target_with(target: str, method: str, pass_name: str) -> Any:
    """The target named ``target``, which must implement ``method``.

    Raises:
        ValueError: an unknown target or one without ``method`` (listing those with it).
    """
    from backends import available_targets, get_target

    names = available_targets()
    if target not in names:
        raise ValueError(f"unknown target '{target}'; known: {', '.join(names)}")
    chosen = get_target(target)
    if getattr(chosen, method, None) is None:
        able = [n for n in names if getattr(get_target(n), method, None) is not None]
        raise ValueError(
            f"pass '{pass_name}': target '{target}' does not support it; targets "
            f"that do: {', '.join(able) or 'none'}"
        )
    return chosen


def pass_data(
    graph: Graph, inputs: Mapping[str, Any], pass_name: str, temperature: float
) -> RetuneData:
    """A retuning pass's ``calibration`` and ``labels`` inputs, checked and loaded
    (:func:`compiler.retune.retune_data`)."""
    return retune_data(
        graph,
        inputs.get("calibration"),
        inputs.get("labels"),
        pass_name=pass_name,
        temperature=temperature,
    )


@dataclass(frozen=True)
class RetunePass(Pass, RetuneOptions):
    """Fine-tune the deployable parameters so the network survives the hardware.

    Analog targets (``dynapse2``): trains through the differentiable emulator on
    freshly mismatched chips every step (``chips`` of them, ``relative-std``), with
    the optional adversarial parameter attack (``beta``, ``attack-steps``,
    ``attack-strength``), then re-quantizes to a valid configuration. Digital targets
    (``xylo-*``): quantization-aware fine-tuning of float shadows of the integer
    weights with straight-through rounding against the chip's integer semantics. The
    result is quantized: on ``dynapse2`` it follows ``quantize-dynapse`` (or just a
    placement), on Xylo it takes the place of ``quantize-xylo``.

    Options: ``target`` and the hyperparameters of ``RetuneOptions``
    (``compiler/retune.py``), which the pass is.

    Inputs:
        calibration: ``(N, T, *input)`` spike trains (required).
        labels: ``(N,)`` classes; without them the pre-retuning float network's
            outputs are the targets (distillation).
    """

    name = "retune"
    inputs = ("calibration", "labels")

    target: str = "dynapse2"

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        target = target_with(self.target, "retune", self.name)
        data = pass_data(graph, inputs, self.name, self.temperature)
        with Progress(f"retune {self.target}", 1, quiet=self.quiet) as progress:
            result: Graph = target.retune(graph, data, self, progress)
        return result
