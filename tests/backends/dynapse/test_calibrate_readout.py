"""``calibrate-chip{method=readout}``: the last layer refitted in the loop from the
chip's recorded activity (``backends/dynapse/calibrate.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import compiler
import ir
from backends.dynapse import decode
from backends.dynapse.calibrate import (
    fit_transfer,
    model_accuracy,
    model_step,
    readout_step,
)
from backends.dynapse.target import DYNAPSE2, EmulatedChip
from compiler.errors import PassError, PipelineError
from tests.backends.dynapse.test_retune import compiled, samples

pytestmark = pytest.mark.filterwarnings(
    "ignore::backends.dynapse.adapt.DynapseAdapterWarning"
)


@pytest.fixture(scope="module")
def quantized() -> ir.Graph:
    """``test_retune``'s classifier, placed and quantized as there."""
    return compiled()


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


def _neurons(
    excite: np.ndarray,
    inhibit: np.ndarray,
    slope: np.ndarray,
    theta: np.ndarray,
    ratio: np.ndarray,
    top: np.ndarray,
) -> np.ndarray:
    """An independent stand-in for mismatched output neurons: threshold-linear in
    ``excite - ratio * inhibit`` with their own threshold and slope, clipped at
    ``top``."""
    return np.minimum(slope * np.maximum(0.0, excite - ratio * inhibit - theta), top)


def test_fit_transfer_learns_each_neurons_threshold_slope_and_inhibition() -> None:
    rng = np.random.default_rng(1)
    excite = rng.uniform(0.0, 10.0, (600, 3))
    inhibit = rng.uniform(0.0, 4.0, (600, 3))
    truth = dict(
        slope=np.array([1.0, 3.0, 0.5]),
        theta=np.array([1.0, 4.0, 2.0]),
        ratio=np.array([0.5, 1.0, 2.0]),
        top=np.full(3, 1e9),
    )
    counts = _neurons(excite, inhibit, **truth)
    model = fit_transfer(excite, inhibit, counts)
    error = np.abs(model.counts(excite, inhibit) - counts).mean(axis=0)
    assert np.all(error < 0.05 * counts.mean(axis=0)), error
    np.testing.assert_allclose(model.inhibition, truth["ratio"], rtol=0.15)
    np.testing.assert_allclose(model.theta, truth["theta"], rtol=0.15, atol=0.2)


def test_model_step_reads_out_through_mismatched_output_neurons() -> None:
    # The teacher's readout is right, but each output neuron has its own threshold,
    # slope and inhibitory gain: the same weights decide badly on this "chip".
    rng = np.random.default_rng(2)
    hidden = rng.poisson(4.0, (400, 16)).astype(np.float64)
    teacher = rng.normal(0.0, 1.0, (4, 16))
    teacher += 1.0 - teacher.mean(axis=1, keepdims=True)  # balanced classes
    classes = (hidden @ teacher.T).argmax(1)
    chip = dict(
        slope=np.array([1.0, 0.3, 2.0, 0.6]),
        theta=np.array([0.0, 20.0, 10.0, 30.0]),
        ratio=np.array([1.0, 0.4, 2.0, 0.7]),
        top=np.full(4, np.inf),
    )

    def run(w: np.ndarray) -> np.ndarray:
        return _neurons(
            hidden @ np.maximum(w, 0).T, hidden @ np.maximum(-w, 0).T, **chip
        )

    w = teacher.copy()
    start = float(np.mean(run(w).argmax(1) == classes))
    pooled: list[tuple[np.ndarray, ...]] = []
    for _ in range(4):
        counts = run(w)
        pooled.append(
            (hidden @ np.maximum(w, 0).T, hidden @ np.maximum(-w, 0).T, counts)
        )
        model = fit_transfer(*(np.concatenate(v) for v in zip(*pooled, strict=True)))
        offset = counts - model.counts(
            hidden @ np.maximum(w, 0).T, hidden @ np.maximum(-w, 0).T
        )
        w = model_step(w, hidden, classes, model, ridge=0.1, trust=2.0, offset=offset)
    after = float(np.mean(run(w).argmax(1) == classes))
    assert start < 0.5, start
    assert after > 0.95, after
    assert abs(model_accuracy(w, hidden, classes, model) - after) < 0.05


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
    # Chosen on every sample each iterate ran (training and held-out), the latest
    # among equals.
    every = tuned.meta("o")["calibration_every"]
    chosen = tuned.meta("o")["calibration_chosen"]
    assert every.shape == (7,)
    assert chosen == np.flatnonzero(every == every.max())[-1]
    after = agreement(tuned, test, y_test, **chip)
    assert after > before + 0.05, (before, after)
    # Only the last layer moved: the recorded hidden counts stay the chip's.
    np.testing.assert_array_equal(tuned.op("fc1").weight, quantized.op("fc1").weight)
    np.testing.assert_array_equal(
        tuned.meta("fc1")["masks"], quantized.meta("fc1")["masks"]
    )


def test_ideal_chip_refit_recovers_the_float_decisions() -> None:
    # Too small a current scale: the ideal chip disagrees with the float network.
    weak = compiled(4e-09)
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
