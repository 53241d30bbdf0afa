"""The ``calibrate-chip`` pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compiler.pass_base import Pass
from compiler.passes.retune import pass_data, target_with
from compiler.retune import Progress, RetuneOptions
from ir import Graph

__all__ = ["METHODS", "CalibrateChipPass"]

METHODS = ("auto", "readout", "gradient")
"""``calibrate-chip`` update rules (the pass docstring)."""


@dataclass(frozen=True)
class CalibrateChipPass(Pass):
    """Tune a compiled network for one specific chip, with that chip in the loop.

    Each iteration programs the chip with the current (quantized) parameters, runs it
    on a batch, records its activity and updates the parameters. ``method=readout``
    (dynapse2): the last layer's weights refitted from the recorded spikes of the
    layer feeding it on every calibration sample (``batch`` unused): a model of each
    output neuron's count (its own threshold, slope, saturation, inhibitory gain)
    fitted to every iterate the chip ran, the cross-entropy of its counts minimised
    in a trust region, stopping once 5 iterates in a row did not improve; needs a
    chip that records every neuron (``record``) unless the network has one layer.
    ``method=gradient``: the software model's gradient evaluated where the chip
    actually is (Schmitt et al. 2017), the learning rate decaying to 0. ``auto``:
    ``readout`` where the chip allows it. The result is the iterate the chip
    measured best on held-out samples. The accuracy per iteration goes to stderr and
    to the last layer's meta (``calibration_accuracy``, ``calibration_chosen``).

    Options:
        target: the target (an analog one: digital chips are all alike).
        iterations: chip runs.
        lr, batch, seed, temperature, quiet: as for ``retune``.
        chip_seed: the emulated chip's mismatch seed, when no ``chip`` is given.
        relative_std: the emulated chip's mismatch (0: the ideal chip).
        method: ``auto``, ``readout`` or ``gradient`` (above).

    Inputs:
        calibration: ``(N, T, *input)`` spike trains (required).
        labels: ``(N,)`` classes (else: distillation from the float network).
        chip: an object with ``program(config)`` and ``run(spikes) -> (B, T, Nout)``
            spikes (a board, or the target's emulated chip; default: the emulated
            chip ``chip-seed``).
    """

    name = "calibrate-chip"
    inputs = ("calibration", "labels", "chip")

    target: str = "dynapse2"
    iterations: int = 30
    lr: float = 0.02
    batch: int = 128
    seed: int = 0
    temperature: float = 1.0
    chip_seed: int = 0
    relative_std: float = 0.1
    quiet: bool = False
    method: str = "auto"

    def __post_init__(self) -> None:
        self.hyperparameters()
        if self.method not in METHODS:
            raise ValueError(
                f"option method must be one of {', '.join(METHODS)}, got "
                f"{self.method!r}"
            )
        if self.chip_seed < 0:
            raise ValueError(f"option chip_seed must be >= 0, got {self.chip_seed}")

    def hyperparameters(self) -> RetuneOptions:
        """The hyperparameters as ``RetuneOptions`` (validated)."""
        return RetuneOptions(
            epochs=self.iterations,
            lr=self.lr,
            batch=self.batch,
            seed=self.seed,
            chips=1,
            relative_std=self.relative_std,
            temperature=self.temperature,
            quiet=self.quiet,
        )

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        target = target_with(self.target, "calibrate_chip", self.name)
        options = self.hyperparameters()
        data = pass_data(graph, inputs, self.name, options.temperature)
        chip = inputs.get("chip")
        if chip is None:
            chip = target.chip(seed=self.chip_seed, relative_std=self.relative_std)
        label = f"calibrate-chip {self.target}"
        with Progress(label, self.iterations, quiet=options.quiet) as progress:
            result: Graph = target.calibrate_chip(
                graph, data, chip, options, progress, method=self.method
            )
        return result
