"""``retune`` on the Xylo targets: quantization-aware fine-tuning of the int8 weights."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest
import torch

import compiler
import ir
from backends.xylo import XyloEmulator
from backends.xylo.lower import (
    allocate_graph,
    config_from_graph,
    hop_delay,
    quantize_graph,
)
from backends.xylo.ops import XyloCore
from backends.xylo.retune import _Chip, retune_graph
from backends.xylo.variants import VARIANTS
from compiler.errors import PassError
from compiler.retune import Progress, RetuneOptions, retune_data
from examples.xylo_digits import _train, digits_counts
from frontends import pytorch
from tests.backends.xylo.snn_graphs import cuba_graph, lif_graph, raster

STEPS = 8
"""A short window, where ``quantize-xylo`` loses accuracy (``bench/retune_xylo.py``)."""


@dataclass(frozen=True)
class Digits:
    snn: ir.Graph
    x: np.ndarray  # (N, STEPS, 16) event counts, held
    y: np.ndarray


@pytest.fixture(scope="module")
def digits() -> Digits:
    """A small digits SNN (16 -> 32 IF -> 8 IF) and 300 training samples."""
    xtr, ytr, _, _ = digits_counts(8, seed=0)
    model = _train(xtr, ytr, 32, 8, epochs=15, seed=0)
    snn = compiler.run_pipeline(
        pytorch.from_module(model, torch.zeros(1, 16)),
        f"ann-to-snn{{timesteps={STEPS} readout=spike-train max-spikes=31}},"
        "canonicalize,dce,infer-shapes",
        calibration=torch.tensor(xtr, dtype=torch.float32),
    )
    x = np.repeat(xtr[:300, None].astype(np.float32), STEPS, axis=1)
    return Digits(snn, x, ytr[:300])


def _retune(
    graph: ir.Graph,
    x: np.ndarray,
    y: np.ndarray | None,
    variant: str = "xylo-audio2",
    progress: Progress | None = None,
    **options: object,
) -> ir.Graph:
    data = retune_data(graph, x, y, pass_name="retune")
    opts = RetuneOptions(**{"epochs": 3, "quiet": True, **options})  # type: ignore[arg-type]
    bar = progress or Progress("retune", 1, quiet=True)
    return retune_graph(graph, data, opts, bar, variant)


def _core(graph: ir.Graph) -> XyloCore:
    (op,) = [op for n in graph.nodes() if isinstance(op := graph.op(n), XyloCore)]
    return op


def _chip_counts(graph: ir.Graph, x: np.ndarray) -> np.ndarray:
    """Output spike counts of the emulated configuration, over the window plus the
    hop delay."""
    allocated = graph if "hidden_ids" in graph.meta("core") else allocate_graph(graph)
    events = np.pad(
        np.rint(x).astype(np.int64), ((0, 0), (0, hop_delay(graph)), (0, 0))
    )
    spikes = XyloEmulator(config_from_graph(allocated)).run(events)
    return np.asarray(spikes[:, :, : _core(graph).weights_out.shape[1]].sum(1))


def test_registers_stay_on_the_grid_and_only_weights_change(digits: Digits) -> None:
    quantized = quantize_graph(digits.snn, "xylo-audio2")
    retuned = _retune(digits.snn, digits.x, digits.y)
    ir.verify(retuned)
    before, after = _core(quantized), _core(retuned)
    assert retuned.meta("core")["retune_changed"] > 0
    for name in ("weights_in", "weights_rec", "weights_out"):
        w = np.asarray(getattr(after, name))
        assert np.issubdtype(w.dtype, np.integer)
        assert np.abs(w).max() <= 127
    for name in (
        "dash_mem",
        "dash_syn",
        "dash_syn_2",
        "dash_mem_out",
        "dash_syn_out",
        "threshold",
        "threshold_out",
        "bias",
        "bias_out",
        "aliases",
    ):
        np.testing.assert_array_equal(getattr(after, name), getattr(before, name))
    for name in ("weight_shift_in", "weight_shift_rec", "weight_shift_out", "variant"):
        assert getattr(after, name) == getattr(before, name)
    assert retuned.meta("core")["layers"] == quantized.meta("core")["layers"]
    # The meta prints and parses back.
    assert ir.to_text(ir.parse(ir.to_text(retuned))) == ir.to_text(retuned)


def test_retuned_config_runs_the_same_in_interpreter_and_emulator(
    digits: Digits,
) -> None:
    retuned = compiler.run_pipeline(
        digits.snn,
        "retune{target=xylo-audio2 epochs=2 quiet=true},allocate-xylo",
        calibration=digits.x,
        labels=digits.y,
    )
    events = np.pad(np.rint(digits.x[:64]).astype(np.int64), ((0, 0), (0, 1), (0, 0)))
    want = ir.interpret(retuned, torch.tensor(events, dtype=torch.float32)).numpy()
    got = XyloEmulator(config_from_graph(retuned)).run(events)[:, :, :8]
    np.testing.assert_array_equal(got, want)


def test_layers_and_recurrent_sparsity_are_kept() -> None:
    # Two hidden layers (the second fed through weights_rec), a recurrent one.
    graph = cuba_graph(3)
    x = raster(3, 5, steps=60, batch=24).astype(np.float32)
    quantized = quantize_graph(graph, "xylo-audio2")
    labels = np.arange(24) % 2  # the float network agrees with itself: use labels
    retuned = _retune(graph, x, labels, epochs=2, lr=0.05)
    before, after = _core(quantized), _core(retuned)
    assert retuned.meta("core")["retune_changed"] > 0
    assert not np.any(after.weights_rec[before.weights_rec == 0])
    assert not np.any(after.weights_in[:, 10:])  # input reaches layer 1 only
    assert not np.any(after.weights_out[:10])  # readout leaves layer 2 only
    events = np.pad(raster(4, 5, steps=60, batch=4), ((0, 0), (0, 0), (0, 11)))
    lowered = allocate_graph(retuned)
    want = ir.interpret(lowered, torch.tensor(events[:, :, :5], dtype=torch.float32))
    got = XyloEmulator(config_from_graph(lowered)).run(events)[:, :, :2]
    np.testing.assert_array_equal(got, want.numpy())


@pytest.mark.parametrize(
    ("make", "variant"),
    [(lif_graph, "xylo-v1"), (cuba_graph, "xylo-audio2")],
)
def test_training_forward_is_the_chip(make: object, variant: str) -> None:
    # Recurrent weights, two hidden layers, leaks, biases, both update orders.
    graph = quantize_graph(make(3), variant)  # type: ignore[operator]
    op = _core(graph)
    events = raster(3, op.weights_in.shape[0], steps=120, batch=6)
    want = ir.interpret(graph, torch.tensor(events, dtype=torch.float32)).sum(1)
    regs = {
        k: torch.as_tensor(np.asarray(getattr(op, k), np.float64))
        for k in ("weights_in", "weights_rec", "weights_out")
    }
    counts, _ = _Chip(op, VARIANTS[variant]).run(
        torch.as_tensor(events, dtype=torch.float64), regs
    )
    assert want.sum() > 0
    np.testing.assert_array_equal(counts.numpy(), want.numpy())


def test_retune_recovers_accuracy_lost_to_quantization(digits: Digits) -> None:
    quantized = quantize_graph(digits.snn, "xylo-audio2")
    retuned = _retune(digits.snn, digits.x, digits.y, epochs=6)
    before = np.mean(_chip_counts(quantized, digits.x).argmax(1) == digits.y)
    after = np.mean(_chip_counts(retuned, digits.x).argmax(1) == digits.y)
    meta = retuned.meta("core")
    assert after > before + 0.01
    assert meta["retune_accuracy"][meta["retune_best_epoch"]] == pytest.approx(after)
    assert meta["retune_loss"][meta["retune_best_epoch"]] < meta["retune_loss"][0]
    assert len(meta["retune_accuracy"]) == meta["retune_epochs"] + 1 == 7


def test_same_seed_gives_the_same_integers(digits: Digits) -> None:
    a = _core(_retune(digits.snn, digits.x, digits.y, epochs=2, seed=5))
    b = _core(_retune(digits.snn, digits.x, digits.y, epochs=2, seed=5))
    c = _core(_retune(digits.snn, digits.x, digits.y, epochs=2, seed=6))
    for name in ("weights_in", "weights_out"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert any(
        not np.array_equal(getattr(a, k), getattr(c, k))
        for k in ("weights_in", "weights_out")
    )


def test_without_labels_the_float_network_is_the_teacher(digits: Digits) -> None:
    teacher = ir.interpret(digits.snn, digits.x).numpy().sum(1).argmax(1)
    quantized = quantize_graph(digits.snn, "xylo-audio2")
    agreement = np.mean(_chip_counts(quantized, digits.x).argmax(1) == teacher)
    retuned = _retune(digits.snn, digits.x, None, epochs=6)
    meta = retuned.meta("core")
    # Epoch 0 is the quantized network, scored against the teacher's classes.
    assert meta["retune_accuracy"][0] == pytest.approx(agreement)
    assert agreement < 1.0
    after = np.mean(_chip_counts(retuned, digits.x).argmax(1) == teacher)
    assert after > agreement + 0.01


def test_progress_counts_steps_and_prints_epochs(digits: Digits) -> None:
    stream = io.StringIO()
    progress = Progress("retune", 1, stream=stream)
    threads = torch.get_num_threads()
    _retune(digits.snn, digits.x[:100], digits.y[:100], progress=progress, batch=32)
    assert torch.get_num_threads() == threads
    assert progress.total == 3 * 4
    assert progress.done == progress.total
    assert len(progress.history) == progress.total
    assert {"loss", "acc"} <= set(progress.history[-1])
    text = stream.getvalue()
    assert "epoch 1: loss" in text
    assert "epoch 3: loss" in text
    assert "train acc" in text


def test_pipeline_replaces_quantize_xylo(digits: Digits) -> None:
    lowered = compiler.run_pipeline(
        digits.snn,
        "canonicalize,dce,infer-shapes,retune{target=xylo-audio2 epochs=2 quiet=true},"
        "allocate-xylo",
        calibration=digits.x,
        labels=digits.y,
    )
    assert "hidden_ids" in lowered.meta("core")
    assert lowered.meta("core")["retune_epochs"] == 2
    config_from_graph(lowered).check()


def test_retune_starts_from_a_quantized_core(digits: Digits) -> None:
    quantized = compiler.run_pipeline(digits.snn, "quantize-xylo{v-headroom=64}")
    retuned = _retune(quantized, digits.x, digits.y, epochs=1)
    np.testing.assert_array_equal(_core(retuned).threshold, _core(quantized).threshold)
    with pytest.raises(ValueError, match="before allocate-xylo"):
        _retune(allocate_graph(quantized), digits.x, digits.y, epochs=1)
    with pytest.raises(ValueError, match="cannot be retuned for xylo-imu"):
        _retune(quantized, digits.x, digits.y, variant="xylo-imu", epochs=1)


@pytest.mark.parametrize(
    "options",
    [
        "restarts=2",
        "relative-std=0.2",
        "chips=4",
        "beta=0.5",
        "attack-steps=2",
        "attack-strength=0.2",
        "relative-std=0.2 beta=0.5",
    ],
)
def test_mismatch_options_are_refused_on_a_digital_chip(
    digits: Digits, options: str
) -> None:
    """Each would do nothing on Xylo: an error that names them, not silence."""
    with pytest.raises(PassError, match=f"{options}: analog targets only"):
        compiler.run_pipeline(
            digits.snn,
            f"retune{{target=xylo-audio2 epochs=1 {options} quiet=true}}",
            calibration=digits.x,
            labels=digits.y,
        )


def test_misshapen_calibration_is_refused(digits: Digits) -> None:
    with pytest.raises(PassError, match=r"must be \(N, T, 16\)"):
        compiler.run_pipeline(
            digits.snn,
            "retune{target=xylo-audio2 epochs=1 quiet=true}",
            calibration=digits.x[:, :, :8],
        )
