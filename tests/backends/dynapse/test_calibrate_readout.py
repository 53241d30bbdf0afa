"""``calibrate-chip{method=readout}``: the last layer refitted in the loop from the
chip's recorded activity (``backends/dynapse/calibrate.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import compiler
import ir
from backends.dynapse import decode
from backends.dynapse.calibrate import readout_step
from backends.dynapse.target import DYNAPSE2, EmulatedChip
from compiler.errors import PassError, PipelineError
from tests.backends.dynapse.test_retune import classifier, samples

pytestmark = pytest.mark.filterwarnings(
    "ignore::backends.dynapse.adapt.DynapseAdapterWarning"
)


@pytest.fixture(scope="module")
def quantized() -> ir.Graph:
    """``test_retune``'s classifier, placed and quantized as there."""
    return compiler.run_pipeline(
        classifier(), "allocate-cores{target=dynapse2},quantize-dynapse{i-scale=1e-08}"
    )


def test_readout_step_converges_on_a_threshold_linear_neuron() -> None:
    # An independent stand-in for a chip: count = 0.5 * max(0, drive - 2).
    rng = np.random.default_rng(0)
    hidden = rng.poisson(5.0, (400, 12)).astype(np.float64)
    truth = rng.normal(0.0, 0.4, (3, 12))
    truth[:, :3] += 1.0

    def counts(w: np.ndarray) -> np.ndarray:
        return 0.5 * np.maximum(0.0, hidden @ w.T - 2.0)

    target = counts(truth)
    w = truth * rng.uniform(0.3, 1.7, truth.shape)
    start = np.abs(counts(w) - target).mean()
    for _ in range(8):
        w = readout_step(w, hidden, counts(w), target)
    assert np.abs(counts(w) - target).mean() < 0.1 * start


def agreement(
    graph: ir.Graph, x: np.ndarray, want: np.ndarray, **chip: object
) -> float:
    config = DYNAPSE2.lower(graph)
    emu = decode.emulator(config, **chip)  # type: ignore[arg-type]
    out = emu.run(torch.from_numpy(x)).spikes[0][..., decode.output_columns(config)]
    return float(np.mean(out.numpy().sum(1).argmax(1) == want))


def test_readout_calibrates_a_badly_mismatched_chip(quantized: ir.Graph) -> None:
    x, y = samples(256, seed=6)
    test, y_test = samples(256, seed=9)
    chip = {"seed": 5, "relative_std": 0.4}
    before = agreement(quantized, test, y_test, **chip)
    tuned = compiler.run_pipeline(
        quantized,
        "calibrate-chip{iterations=6 batch=192 quiet=true chip-seed=5 "
        "relative-std=0.4 method=readout}",
        calibration=x,
        labels=y,
    )
    history = tuned.meta("o")["calibration_accuracy"]
    assert history.shape == (7,)
    assert history[tuned.meta("o")["calibration_chosen"]] == history.max()
    after = agreement(tuned, test, y_test, **chip)
    assert after > before + 0.05, (before, after)


def test_ideal_chip_refit_recovers_the_float_decisions() -> None:
    # Too small a current scale: the ideal chip disagrees with the float network.
    weak = compiler.run_pipeline(
        classifier(), "allocate-cores{target=dynapse2},quantize-dynapse{i-scale=4e-09}"
    )
    x, _ = samples(256, seed=6)
    test, _ = samples(256, seed=9)
    want = ir.interpret(weak, torch.from_numpy(test)).numpy().sum(1).argmax(1)
    before = agreement(weak, test, want, seed=None)
    tuned = compiler.run_pipeline(
        weak,
        "calibrate-chip{iterations=6 batch=192 quiet=true relative-std=0}",
        calibration=x,
    )
    after = agreement(tuned, test, want, seed=None)
    assert before < 0.8
    assert after > before + 0.15, (before, after)


class Blind:
    """A board that reports only the output layer's spikes."""

    def __init__(self) -> None:
        self.chip = EmulatedChip(seed=1)

    def program(self, config: object) -> None:
        self.chip.program(config)  # type: ignore[arg-type]

    def run(self, spikes: np.ndarray) -> np.ndarray:
        return self.chip.run(spikes)


def test_readout_needs_a_recording_chip(quantized: ir.Graph) -> None:
    x, y = samples(16, seed=8)
    with pytest.raises(PassError, match=r"no record\(\) method.*layer 'h'"):
        compiler.run_pipeline(
            quantized,
            "calibrate-chip{iterations=1 method=readout}",
            calibration=x,
            labels=y,
            chip=Blind(),
        )
    with pytest.raises(PipelineError, match="option method must be one of"):
        compiler.run_pipeline(
            quantized, "calibrate-chip{method=newton}", calibration=x, labels=y
        )
