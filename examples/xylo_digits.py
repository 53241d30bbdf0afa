"""Digits on Xylo, end to end: train an MLP, convert it, compile it, run the chip.

scikit-learn's 8x8 digits are pooled to 4x4 = 16 input channels (Xylo's input
count); every time step carries ``round(15 x)`` events per channel (at most 15, the
chip's input cap). The MLP ``16 -> hidden -> classes`` (ReLU) is trained on those
counts (seeded, a few seconds), converted by ``ann-to-snn`` (IF neurons, hidden
ones emitting up to 31 spikes per step as Xylo's do, spikes read out directly),
compiled by the target's default pipeline (``quantize-xylo``, ``allocate-xylo``) and
run on the bit-exact emulator. A sample's class is the output neuron with the most
spikes (ties go to the lower class). The build runs on the graph's own input
(``result.emulator()``), which aligns the chip's delay of one step per hidden layer.

    python examples/xylo_digits.py [--target xylo-audio3 --classes 10]
"""

from __future__ import annotations

import argparse
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import load_digits

import compiler
import ir
from compiler.api import CompileReport
from frontends import pytorch

try:  # run as a script (examples/ on the path) or imported as examples.*
    from training import fit
except ImportError:  # pragma: no cover - the test imports the package path
    from examples.training import fit

__all__ = ["DigitsResult", "digits_counts", "run"]


@dataclass(frozen=True)
class DigitsResult:
    """Test accuracies of the three stages, and the compile report."""

    target: str
    classes: int
    timesteps: int
    n_test: int
    ann: float
    snn: float
    chip: float
    report: CompileReport


def digits_counts(
    classes: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Event counts ``(N, 16)`` in ``0..15`` and labels, split 75/25 (seeded)."""
    data = load_digits()
    pooled = data.images.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)
    counts = np.rint(15 * pooled / 16.0).astype(np.int64)
    keep = data.target < classes
    counts, labels = counts[keep], data.target[keep]
    order = np.random.default_rng(seed).permutation(len(labels))
    counts, labels = counts[order], labels[order]
    n_train = int(0.75 * len(labels))
    return counts[:n_train], labels[:n_train], counts[n_train:], labels[n_train:]


def _train(
    x: np.ndarray, y: np.ndarray, hidden: int, classes: int, epochs: int, seed: int
) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        OrderedDict(
            fc1=torch.nn.Linear(16, hidden),
            hidden=torch.nn.ReLU(),
            fc2=torch.nn.Linear(hidden, classes),
        )
    )
    fit(model, x / 15, y, epochs=epochs, seed=seed)  # train on [0, 1] ...
    with torch.no_grad():
        model.fc1.weight /= 15  # ... and read event counts, the chip's input
    return model


def run(
    target: str = "xylo-audio2",
    classes: int = 8,
    *,
    hidden: int = 64,
    timesteps: int = 32,
    epochs: int = 40,
    seed: int = 0,
) -> DigitsResult:
    """Train, convert, compile and emulate; return the three accuracies."""
    xtr, ytr, xte, yte = digits_counts(classes, seed)
    model = _train(xtr, ytr, hidden, classes, epochs, seed)
    with torch.no_grad():
        ann = model(torch.tensor(xte, dtype=torch.float32)).argmax(1).numpy()
    graph = pytorch.from_module(model, torch.zeros(1, 16))
    snn = compiler.run_pipeline(
        graph,
        f"ann-to-snn{{timesteps={timesteps} readout=spike-train max-spikes=31}},"
        "canonicalize,dce,infer-shapes",
        calibration=torch.tensor(xtr, dtype=torch.float32),
    )
    held = torch.tensor(xte, dtype=torch.float32)[:, None].expand(-1, timesteps, -1)
    float_counts = ir.interpret(snn, held).numpy().sum(1)

    # The test digits double as the fidelity check's inputs (the compile report's
    # agreement of the chip with the float SNN on them).
    result = compiler.compile(snn, target=target, calibration=held[:16])
    # The build runs on the graph's input (16 count channels, held for the
    # timesteps) and returns its outputs aligned with the float graph.
    chip_counts = result.emulator().run(xte[:, None], steps=timesteps).numpy().sum(1)
    return DigitsResult(
        target=target,
        classes=classes,
        timesteps=timesteps,
        n_test=len(yte),
        ann=float(np.mean(ann == yte)),
        snn=float(np.mean(float_counts.argmax(1) == yte)),
        chip=float(np.mean(chip_counts.argmax(1) == yte)),
        report=result.report,
    )


def main() -> None:
    """Command line: print the accuracies and the compile report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="xylo-audio2")
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--timesteps", type=int, default=32)
    args = parser.parse_args()
    result = run(args.target, args.classes, timesteps=args.timesteps)
    print(result.report)
    print(
        f"accuracy on {result.n_test} test digits (classes 0-{result.classes - 1}): "
        f"ANN {result.ann:.2%}, float SNN {result.snn:.2%}, "
        f"{result.target} emulator {result.chip:.2%}"
    )


if __name__ == "__main__":
    main()
