"""Digits on Dynap-SE2, end to end: a spiking classifier on ideal and mismatched chips.

scikit-learn's 8x8 digits, 64 input channels of Poisson spikes (a pixel of intensity
``x`` spikes with probability ``0.1 x`` per 1 ms step), 200 steps. An MLP 64-32-10
(ReLU, no biases: the chip's DC input is positive only) is trained in the demo
(seeded, a few seconds), converted by ``ann-to-snn`` (IF neurons, spikes read out
directly), and compiled for ``dynapse2``: parameters translated to bias currents on
the coarse/fine grid, neurons placed on cores, weights fitted by each core's 4 base
weights and 4-bit masks. The current scale is chosen on 200 training samples by
agreement with the float SNN (``choose_i_scale``, no labels); the compile gets the
1,300 training digits and their labels, so the default pipeline's last pass
(``fit-readout-dynapse``) refits the readout layer to the chip. The class is the output
neuron with the most spikes. Reported: float SNN accuracy, the ideal chip's, and the
mean and minimum over 20 mismatched chips (10% per-neuron parameter deviation), then
the same chips after ``retune`` (4 epochs of mismatch-robust fine-tuning).

    python examples/dynapse_digits.py
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import load_digits

import compiler
import ir
from backends.dynapse.calibrate import choose_i_scale
from backends.dynapse.target import DYNAPSE2
from compiler.api import CompileReport
from compiler.chip_yield import YieldReport, chip_yield
from frontends import pytorch

try:  # run as a script (examples/ on the path) or imported as examples.*
    from training import fit
except ImportError:  # pragma: no cover - the test imports the package path
    from examples.training import fit

__all__ = ["DigitsSnn", "DynapseDigits", "run", "spiking_classifier", "spikes"]

SPIKE_PROBABILITY = 0.1
"""Per-step spike probability of a full-intensity pixel (100 Hz at dt = 1 ms)."""


@dataclass(frozen=True)
class DynapseDigits:
    """Accuracies of each stage and the compile report."""

    n_test: int
    i_scale: float
    ann: float
    snn: float
    chip: float
    chips_mean: float
    chips_min: float
    report: CompileReport
    chip_yield: YieldReport
    retuned_yield: YieldReport | None = None
    retune_seconds: float = 0.0
    replicated_yield: YieldReport | None = None
    copies: int = 1


def _data(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    data = load_digits()
    x, y = data.data / 16.0, data.target
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    return x[:1300], y[:1300], x[1300:], y[1300:]


def spikes(x: np.ndarray, steps: int, seed: int) -> np.ndarray:
    """Poisson spikes ``(N, steps, 64)`` of pixel intensities ``x`` (seeded)."""
    rng = np.random.default_rng(seed)
    p = x[:, None, :] * SPIKE_PROBABILITY
    return (rng.random((len(x), steps, x.shape[1])) < p).astype(np.float32)


@dataclass(frozen=True)
class DigitsSnn:
    """The float SNN and its data: train and test pixels, labels, the test spikes,
    and the ANN's and the SNN's test accuracy."""

    snn: ir.Graph
    xtr: np.ndarray
    ytr: np.ndarray
    xte: np.ndarray
    yte: np.ndarray
    test: np.ndarray
    ann: float
    accuracy: float


def spiking_classifier(
    *, hidden: int = 32, steps: int = 200, epochs: int = 40, seed: int = 0
) -> DigitsSnn:
    """Train the MLP and convert it to the float SNN (module docstring)."""
    xtr, ytr, xte, yte = _data(seed)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        OrderedDict(
            fc1=torch.nn.Linear(64, hidden, bias=False),
            hidden=torch.nn.ReLU(),
            fc2=torch.nn.Linear(hidden, 10, bias=False),
        )
    )
    fit(model, xtr, ytr, epochs=epochs, seed=seed)
    with torch.no_grad():
        ann = model(torch.tensor(xte, dtype=torch.float32)).argmax(1).numpy()

    # The SNN reads spikes: its calibration data is the mean spike count per step.
    snn = compiler.run_pipeline(
        pytorch.from_module(model, torch.zeros(1, 64)),
        f"ann-to-snn{{timesteps={steps} readout=spike-train}},canonicalize,dce,"
        "infer-shapes",
        calibration=torch.tensor(xtr * SPIKE_PROBABILITY, dtype=torch.float32),
    )
    test = spikes(xte, steps, seed + 1)
    float_counts = ir.interpret(snn, torch.from_numpy(test)).numpy().sum(1)
    return DigitsSnn(
        snn=snn,
        xtr=xtr,
        ytr=ytr,
        xte=xte,
        yte=yte,
        test=test,
        ann=float(np.mean(ann == yte)),
        accuracy=float(np.mean(float_counts.argmax(1) == yte)),
    )


def run(
    *,
    hidden: int = 32,
    steps: int = 200,
    epochs: int = 40,
    chips: int = 20,
    seed: int = 0,
    retune_epochs: int = 4,
    copies: int = 4,
) -> DynapseDigits:
    """Train, convert, compile and emulate; return the accuracies. With
    ``retune_epochs``, also retune the compiled network for mismatch (``retune``, on
    the training digits, 100 steps each) and measure the same chips again; with
    ``copies > 1``, also compile it with ``replicate{copies=...}`` (every neuron
    copied onto idle neurons, population readout) and measure the same chips."""
    digits = spiking_classifier(hidden=hidden, steps=steps, epochs=epochs, seed=seed)
    snn, test, yte = digits.snn, digits.test, digits.yte
    calibration = spikes(digits.xtr, steps, seed + 2)
    i_scale, _ = choose_i_scale(snn, calibration[:200])
    pipeline = DYNAPSE2.default_pipeline.replace(
        "quantize-dynapse", f"quantize-dynapse{{i-scale={i_scale!r}}}"
    )
    # With the training digits (>= 256 samples) and their labels, the default
    # pipeline's last pass (fit-readout-dynapse) refits the readout to the chip.
    result = compiler.compile(
        snn,
        target="dynapse2",
        pipeline=pipeline,
        calibration=calibration,
        labels=digits.ytr,
    )
    ideal = DYNAPSE2.emulator(result.config, seed=None).run(test).sum(1)
    snn_accuracy = digits.accuracy
    population = chip_yield(
        DYNAPSE2, result.config, test, yte, chips=chips, seed=1, reference=snn_accuracy
    )
    retuned, seconds = None, 0.0
    if retune_epochs:
        start = time.perf_counter()
        graph = compiler.run_pipeline(
            result.graph,
            f"retune{{epochs={retune_epochs} quiet=true}}",
            calibration=spikes(digits.xtr, 100, seed + 3),
            labels=digits.ytr,
        )
        seconds = time.perf_counter() - start
        retuned = chip_yield(
            DYNAPSE2,
            DYNAPSE2.lower(graph),
            test,
            yte,
            chips=chips,
            seed=1,
            reference=snn_accuracy,
        )
    replicated = None
    if copies > 1:
        wide = compiler.compile(
            snn,
            target="dynapse2",
            pipeline=pipeline.replace(
                "allocate-cores", f"replicate{{copies={copies}}},allocate-cores"
            ),
            calibration=calibration,
            labels=digits.ytr,
        )
        replicated = chip_yield(
            DYNAPSE2,
            wide.config,
            test,
            yte,
            chips=chips,
            seed=1,
            reference=snn_accuracy,
        )
    return DynapseDigits(
        retuned_yield=retuned,
        retune_seconds=seconds,
        replicated_yield=replicated,
        copies=copies,
        n_test=len(yte),
        i_scale=i_scale,
        ann=digits.ann,
        snn=snn_accuracy,
        chip=float(np.mean(ideal.argmax(1) == yte)),
        chips_mean=population.mean,
        chips_min=population.minimum,
        report=result.report,
        chip_yield=population,
    )


def main() -> None:
    """Print the compile report and the accuracies."""
    r = run()
    print(r.report)
    print(
        f"accuracy on {r.n_test} test digits: ANN {r.ann:.2%}, float SNN {r.snn:.2%}, "
        f"ideal chip {r.chip:.2%} (i_scale {r.i_scale:g} A), 20 mismatched chips mean "
        f"{r.chips_mean:.2%}, min {r.chips_min:.2%}"
    )


if __name__ == "__main__":
    main()
