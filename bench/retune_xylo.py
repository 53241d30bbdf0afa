"""Benchmark: quantization-aware retuning on Xylo, on held-out digits.

The network of ``examples/xylo_digits.py`` (8x8 digits pooled to 16 channels of
event counts, a ``16 -> 64 -> 8`` ReLU MLP converted by ``ann-to-snn`` to IF neurons
with spike-train readout, seeded) is deployed on ``xylo-audio2`` twice: by the default
``quantize-xylo`` and by ``retune`` in its place (distilling the float SNN on the
unlabeled training split: no labels, the float network is the teacher). Accuracies
are on the held-out 25 %: the float SNN through ``ir.interpret``, the two deployments
through the bit-exact ``XyloEmulator`` of the final configuration (after
``allocate-xylo``), the class being the output with the most spikes over the window
plus ``hop_delay`` silent steps.

Three windows:

* 32 steps (the example's): the integer lowering costs nothing here (the int8
  weights, scaled per neuron, are ~1 % off), so retuning has nothing to recover and
  should not lose.
* 8 and 6 steps (``HARD_TIMESTEPS``), low-latency settings (a digit every 6-8 ms):
  the lowering now costs 2-4 points. Not through the int8 weights but through the
  chip's time discretization, which ``quantize-xylo`` cannot express: every event
  reaches the membrane through the shortest synapse the chip has (dash 1: half in
  its own step, a quarter in the next, ...) and each hidden layer adds a step of hop
  delay, so part of every layer's charge arrives after the window. Over 32 steps
  that tail is negligible, over 6 it is not (counting four more silent steps
  recovers most of the loss). ``quantize-xylo`` maps each weight on its own;
  retuning trains against the chip's integer dynamics and re-balances the weights.

    python bench/retune_xylo.py [--quick] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script: the repository root holds examples/
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import compiler
import ir
from backends.xylo.emulator import XyloEmulator
from backends.xylo.lower import hop_delay, lower_to_config
from examples.xylo_digits import _train, digits_counts
from frontends import pytorch

__all__ = ["HARD_TIMESTEPS", "TARGET", "WINDOWS", "xylo_rows"]

TARGET = "xylo-audio2"
HARD_TIMESTEPS = 6
"""The low-latency window in which ``quantize-xylo`` loses accuracy on every seed."""

WINDOWS = (32, 8, HARD_TIMESTEPS)
"""The windows ``main`` reports."""

_CLASSES = 8
_HIDDEN = 64


def _chip_accuracy(
    graph: ir.Graph, counts: np.ndarray, labels: np.ndarray, steps: int
) -> float:
    """Emulated accuracy of a lowered graph on event counts held for ``steps``."""
    config = lower_to_config(graph, TARGET)
    raster = np.zeros((len(counts), steps + hop_delay(graph), 16), np.int64)
    raster[:, :steps] = counts[:, None]
    spikes = XyloEmulator(config).run(raster)[:, :, :_CLASSES].sum(1)
    return float(np.mean(spikes.argmax(1) == labels))


def xylo_rows(
    quick: bool = False, *, timesteps: int = 32, seed: int = 0
) -> list[tuple[str, float]]:
    """Held-out accuracy of the float SNN, ``quantize-xylo`` and ``retune`` on digits.

    Args:
        quick: shorter MLP training and retuning (for smoke tests).
        timesteps: the window; ``HARD_TIMESTEPS`` for the low-latency case.
        seed: data split, MLP and retune seed.
    """
    xtr, ytr, xte, yte = digits_counts(_CLASSES, seed)
    model = _train(xtr, ytr, _HIDDEN, _CLASSES, 15 if quick else 40, seed)
    snn = compiler.run_pipeline(
        pytorch.from_module(model, torch.zeros(1, 16)),
        f"ann-to-snn{{timesteps={timesteps} readout=spike-train max-spikes=31}},"
        "canonicalize,dce,infer-shapes",
        calibration=torch.tensor(xtr, dtype=torch.float32),
    )
    held = np.repeat(xte[:, None].astype(np.float32), timesteps, axis=1)
    float_counts = ir.interpret(snn, held).numpy().sum(1)
    quantized = compiler.run_pipeline(
        snn, f"quantize-xylo{{variant={TARGET}}},allocate-xylo"
    )
    epochs = 3 if quick else 10
    retuned = compiler.run_pipeline(
        snn,
        f"retune{{target={TARGET} epochs={epochs} seed={seed} quiet=true}},"
        "allocate-xylo",
        calibration=np.repeat(xtr[:, None].astype(np.float32), timesteps, axis=1),
    )
    return [
        ("float SNN", float(np.mean(float_counts.argmax(1) == yte))),
        ("quantized (quantize-xylo)", _chip_accuracy(quantized, xte, yte, timesteps)),
        ("quantization-aware retune", _chip_accuracy(retuned, xte, yte, timesteps)),
    ]


def main() -> None:
    """Command line: per window, a markdown table of accuracies by seed and their mean."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    # NOTE: per-step tensors are tiny; BLAS threads only contend with each other.
    torch.set_num_threads(1)
    for steps in WINDOWS:
        start = time.perf_counter()
        runs = [xylo_rows(args.quick, timesteps=steps, seed=s) for s in seeds]
        elapsed = time.perf_counter() - start
        print(f"\n{TARGET}, held-out digits, {steps}-step window ({elapsed:.1f} s)\n")
        print("| deployment | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |")
        print("|---" * (len(seeds) + 2) + "|")
        for k, (label, _) in enumerate(runs[0]):
            accs = [rows[k][1] for rows in runs]
            cells = " | ".join(f"{a:.2%}" for a in [*accs, float(np.mean(accs))])
            print(f"| {label} | {cells} |")


if __name__ == "__main__":
    main()
