"""The ``retune`` pass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from compiler.pass_base import Pass
from compiler.retune import Progress, RetuneOptions, retune_data
from ir import Graph

__all__ = ["RetunePass", "target_with"]


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


@dataclass(frozen=True)
class RetunePass(Pass):
    """Fine-tune the deployable parameters so the network survives the hardware.

    Analog targets (``dynapse2``): trains through the differentiable emulator on
    freshly mismatched chips every step (``chips`` of them, ``relative-std``), with
    the optional adversarial parameter attack (``beta``, ``attack-steps``,
    ``attack-strength``), then re-quantizes to a valid configuration. Digital targets
    (``xylo-*``): quantization-aware fine-tuning of float shadows of the integer
    weights with straight-through rounding against the chip's integer semantics. The
    result is quantized: on ``dynapse2`` it follows ``quantize-dynapse`` (or just a
    placement), on Xylo it takes the place of ``quantize-xylo``.

    Options: ``target`` plus ``RetuneOptions`` (``compiler/retune.py``).

    Inputs:
        calibration: ``(N, T, *input)`` spike trains (required).
        labels: ``(N,)`` classes; without them the pre-retuning float network's
            outputs are the targets (distillation).
    """

    name = "retune"
    inputs = ("calibration", "labels")

    target: str = "dynapse2"
    epochs: int = 10
    lr: float = 0.02
    batch: int = 32
    seed: int = 0
    chips: int = 8
    relative_std: float = 0.1
    beta: float = 0.0
    attack_steps: int = 3
    attack_strength: float = 0.1
    temperature: float = 1.0
    quiet: bool = False

    def __post_init__(self) -> None:
        self.hyperparameters()

    def hyperparameters(self) -> RetuneOptions:
        """The hyperparameters as ``RetuneOptions`` (validated)."""
        fields = {f.name for f in dataclasses.fields(RetuneOptions)}
        return RetuneOptions(
            **{k: v for k, v in dataclasses.asdict(self).items() if k in fields}
        )

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        target = target_with(self.target, "retune", self.name)
        options = self.hyperparameters()
        data = retune_data(
            graph,
            inputs.get("calibration"),
            inputs.get("labels"),
            pass_name=self.name,
            temperature=options.temperature,
        )
        progress = Progress(f"retune {self.target}", 1, quiet=options.quiet)
        try:
            result: Graph = target.retune(graph, data, options, progress)
        finally:
            progress.close()
        return result
