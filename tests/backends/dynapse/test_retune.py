"""Dynap-SE2 retuning: ``retune`` (offline, mismatch-robust) and ``calibrate-chip``."""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import numpy as np
import pytest
import torch

import compiler
import ir
from backends.dynapse import decode
from backends.dynapse.config import DynapseConfig
from backends.dynapse.lower import TRIMMED_BIASES, config_from_graph
from backends.dynapse.target import DYNAPSE2, EmulatedChip
from compiler.chip_yield import chip_yield
from compiler.errors import PassError, PipelineError
from compiler.retune import Progress, retune_data
from ir.ops.io import Input, Output
from ir.ops.nn import Linear
from ir.ops.snn import IF

# The dynapse2 pipeline adapts subtract resets and LIF synapses (adapt-dynapse) and
# warns; these tests are about other things (tests/backends/dynapse/test_adapt.py).
pytestmark = pytest.mark.filterwarnings(
    "ignore::backends.dynapse.adapt.DynapseAdapterWarning"
)

MISMATCH = 0.2


def classifier(
    seed: int = 0, n_in: int = 16, hidden: int = 24, out: int = 4
) -> ir.Graph:
    """A random IF classifier: class ``c`` is driven by input block ``c``."""
    rng = np.random.default_rng(seed)
    g = ir.Graph("clf", dt=1e-3)
    g.add("x", Input(shape=(n_in,)))
    block = n_in // out
    w1 = np.abs(rng.normal(0, 0.15, (hidden, n_in)))
    for h in range(hidden):
        c = h % out
        w1[h, c * block : (c + 1) * block] += 0.5
    g.add("fc1", Linear(weight=w1.astype(np.float32)), ["x"])
    g.add("h", _if(hidden), ["fc1"])
    w2 = np.full((out, hidden), -0.15)
    for h in range(hidden):
        w2[h % out, h] = 0.6
    g.add("fc2", Linear(weight=w2.astype(np.float32)), ["h"])
    g.add("o", _if(out), ["fc2"])
    g.add("y", Output(), ["o"])
    return compiler.run_pipeline(g, "infer-shapes")


def _if(n: int) -> IF:
    return IF(
        r=np.full(n, 800.0, np.float32),
        v_threshold=np.ones(n, np.float32),
        reset="subtract",
    )


def samples(n: int, seed: int, steps: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Poisson spikes: class ``c`` makes input block ``c`` busier."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    rate = np.full((n, 16), 0.05)
    for i, c in enumerate(labels):
        rate[i, c * 4 : (c + 1) * 4] = 0.3
    x = (rng.random((n, steps, 16)) < rate[:, None, :]).astype(np.float32)
    return x, labels


def compiled(i_scale: float = 1e-08) -> ir.Graph:
    """The classifier placed and quantized for dynapse2 at current scale ``i_scale``
    (amperes per unit weight)."""
    return compiler.run_pipeline(
        classifier(),
        f"allocate-cores{{target=dynapse2}},quantize-dynapse{{i-scale={i_scale!r}}}",
    )


@pytest.fixture(scope="module")
def quantized() -> ir.Graph:
    return compiled()


def _target() -> Any:
    return dataclasses.replace(DYNAPSE2, relative_std=MISMATCH)


def _yield(graph: ir.Graph, x: np.ndarray, y: np.ndarray) -> float:
    config = DYNAPSE2.lower(graph)
    return chip_yield(_target(), config, x, y, chips=12, seed=1).mean


def test_retune_makes_mismatched_chips_more_accurate(quantized: ir.Graph) -> None:
    x, y = samples(96, seed=1)
    test_x, test_y = samples(96, seed=2)
    before = _yield(quantized, test_x, test_y)
    retuned = compiler.run_pipeline(
        quantized,
        f"retune{{relative-std={MISMATCH} epochs=4 batch=16 lr=0.05 quiet=true}}",
        calibration=x,
        labels=y,
    )
    after = _yield(retuned, test_x, test_y)
    assert after > before + 0.03, (before, after)
    history = retuned.meta("o")["retune_accuracy"]
    assert history.shape == (4,)


def test_retuned_graph_is_a_valid_config(quantized: ir.Graph) -> None:
    x, y = samples(32, seed=3)
    retuned = compiler.run_pipeline(
        quantized,
        "retune{epochs=2 batch=16 lr=0.2 quiet=true}",
        calibration=x,
        labels=y,
    )
    config = DYNAPSE2.lower(retuned)
    config.check()
    masks = retuned.meta("fc1")["masks"]
    assert masks.min() >= 0
    assert masks.max() <= 15
    meta = retuned.meta("o")
    # Candidates: the start (epoch 0) and the quantization-aware epoch 2.
    validation = meta["retune_validation"]
    assert validation.shape == (2,)
    assert meta["retune_chosen"] in (0, 2)
    assert validation[(0, 2).index(meta["retune_chosen"])] == validation.max()
    for layer in ("h", "o"):
        for field in TRIMMED_BIASES:
            trim = retuned.meta(layer)[f"trim_{field}"]
            assert trim.shape == (retuned.shape(layer)[0],)
            assert np.all((trim >= 0.25) & (trim <= 4.0))


def test_the_chip_holds_the_trims(quantized: ir.Graph) -> None:
    # Trims per core: the decoded current of each neuron is its untrimmed group's
    # current times its trim, to the grid's resolution.
    graph = quantized.copy()
    cores = sorted(
        {
            (int(c), int(k))
            for layer in "ho"
            for c, k, _ in graph.meta(layer)["placement"]
        }
    )
    factor = {core: 0.5 + 0.7 * i for i, core in enumerate(cores)}
    for layer in "ho":
        where = graph.meta(layer)["placement"]
        for field, scale in (("ispkthr", 1.0), ("igain_ampa", 1.3)):
            trim = np.array([factor[(int(c), int(k))] * scale for c, k, _ in where])
            graph.meta(layer)[f"trim_{field}"] = trim
    untrimmed = decode.decode(DYNAPSE2.lower(quantized))
    net = decode.decode(DYNAPSE2.lower(graph))
    for layer in "ho":
        n = len(graph.meta(layer)["placement"])
        cols = [net.names.index(f"{layer}:{i}") for i in range(n)]
        for field in TRIMMED_BIASES:
            trim = graph.meta(layer).get(f"trim_{field}", np.ones(n))
            want = np.asarray(getattr(untrimmed.params, field))[cols] * trim
            got = np.asarray(getattr(net.params, field))[cols]
            assert np.allclose(got, want, rtol=0.05, atol=0), (layer, field)
    assert not np.allclose(net.params.ispkthr, untrimmed.params.ispkthr, atol=0)


def test_trims_must_agree_on_a_core(quantized: ir.Graph) -> None:
    graph = quantized.copy()
    trim = np.ones(24)
    trim[0] = 2.0  # neuron 0 shares its core with others
    graph.meta("h")["trim_ispkthr"] = trim
    with pytest.raises(ValueError, match=r"node 'h' neuron \d+: bias trims .* core"):
        config_from_graph(graph)


def test_retune_is_deterministic_and_distils_without_labels(
    quantized: ir.Graph,
) -> None:
    x, _ = samples(32, seed=4)
    spec = "retune{epochs=1 batch=16 quiet=true seed=3}"
    first = compiler.run_pipeline(quantized, spec, calibration=x)
    second = compiler.run_pipeline(quantized, spec, calibration=x)
    assert ir.to_text(first) == ir.to_text(second)
    a = DYNAPSE2.lower(first)
    b = DYNAPSE2.lower(second)
    assert a == b
    # The weights moved unless the start scored best on the validation chips.
    moved = not np.array_equal(
        first.op("fc1").weight,  # type: ignore[attr-defined]
        quantized.op("fc1").weight,  # type: ignore[attr-defined]
    )
    assert moved == (first.meta("o")["retune_chosen"] != 0)


def test_restarts_keep_the_run_best_on_the_validation_chips(
    quantized: ir.Graph,
) -> None:
    x, y = samples(32, seed=6)
    spec = "retune{{epochs=2 batch=16 lr=0.2 quiet=true seed={seed} restarts={k}}}"
    runs = [
        compiler.run_pipeline(
            quantized, spec.format(seed=seed, k=1), calibration=x, labels=y
        )
        for seed in (4, 5, 6)
    ]
    best = compiler.run_pipeline(
        quantized, spec.format(seed=4, k=3), calibration=x, labels=y
    )
    # Each run scores its kept candidate, the best of its own validation list.
    scores = [run.meta("o")["retune_validation"].max() for run in runs]
    for run, score in zip(runs, scores, strict=True):
        np.testing.assert_array_equal(run.meta("o")["retune_restarts"], [score])
    np.testing.assert_array_equal(best.meta("o")["retune_restarts"], scores)
    # The kept run: the best score, the lower seed among equals.
    kept = int(np.argmax(scores))
    assert best.meta("o")["retune_seed"] == (4, 5, 6)[kept]
    assert DYNAPSE2.lower(best) == DYNAPSE2.lower(runs[kept])
    # The runs differ (their seeds draw other batches and chips).
    assert len({ir.to_text(run) for run in runs}) > 1


def test_restarts_below_one_are_refused(quantized: ir.Graph) -> None:
    x, y = samples(16, seed=6)
    with pytest.raises(PipelineError, match="restarts"):
        compiler.run_pipeline(
            quantized, "retune{restarts=0 quiet=true}", calibration=x, labels=y
        )


def test_without_labels_the_float_network_is_the_teacher(quantized: ir.Graph) -> None:
    x, _ = samples(32, seed=4)
    data = retune_data(quantized, x, None, pass_name="retune")
    counts = ir.interpret(quantized, torch.tensor(x)).numpy().sum(1)
    assert data.labels is None
    assert data.teacher is not None
    np.testing.assert_allclose(data.teacher.sum(1), 1.0, rtol=1e-9)
    np.testing.assert_array_equal(data.teacher.argmax(1), counts.argmax(1))
    # Its loss is the cross-entropy against those probabilities.
    logits = torch.zeros(1, 4, 4)
    index = np.arange(4)
    assert float(data.loss(logits, index)) == pytest.approx(np.log(4))


def test_adversarial_term_runs_and_changes_the_result(quantized: ir.Graph) -> None:
    x, y = samples(32, seed=5)
    plain = compiler.run_pipeline(
        quantized, "retune{epochs=1 batch=16 quiet=true}", calibration=x, labels=y
    )
    attacked = compiler.run_pipeline(
        quantized,
        "retune{epochs=1 batch=16 quiet=true beta=0.5 attack-steps=2}",
        calibration=x,
        labels=y,
    )
    # The loss carries beta * KL(clean || attacked) >= 0 on top of the cross-entropy.
    assert attacked.meta("o")["retune_loss"][0] > plain.meta("o")["retune_loss"][0]


def test_progress_bar_shows_loss_and_robust_accuracy() -> None:
    stream = io.StringIO()
    bar = Progress("retune", 2, stream=stream, force=True)  # not a terminal
    bar.update(loss=0.5, robust_acc=0.75)
    bar.line("epoch 1/1")
    bar.close()
    text = stream.getvalue()
    assert "loss 0.5" in text
    assert "robust acc 75.0%" in text
    assert "1/2" in text
    quiet = io.StringIO()
    silent = Progress("retune", 2, quiet=True, stream=quiet)
    silent.update(loss=0.5)
    silent.close()
    assert quiet.getvalue() == ""


class Board:
    """A stand-in board: an emulated chip that logs what it was asked to do."""

    def __init__(self, seed: int) -> None:
        self.chip = EmulatedChip(seed=seed, relative_std=MISMATCH)
        self.configs: list[DynapseConfig] = []

    def program(self, config: DynapseConfig) -> None:
        config.check()
        self.configs.append(config)
        self.chip.program(config)

    def run(self, spikes: np.ndarray) -> np.ndarray:
        return self.chip.run(spikes)


def test_calibrate_chip_in_the_loop_improves_that_chip(quantized: ir.Graph) -> None:
    x, y = samples(128, seed=6)
    board = Board(seed=7)

    def accuracy(graph: ir.Graph) -> float:
        chip = EmulatedChip(seed=7, relative_std=MISMATCH)
        chip.program(DYNAPSE2.lower(graph))
        return float(np.mean(chip.run(x).sum(1).argmax(1) == y))

    before = accuracy(quantized)
    tuned = compiler.run_pipeline(
        quantized,
        "calibrate-chip{iterations=12 batch=64 lr=0.05 quiet=true}",
        calibration=x,
        labels=y,
        chip=board,
    )
    assert len(board.configs) == 13  # once per iteration, and the last iterate
    history = tuned.meta("o")["calibration_accuracy"]
    assert history.shape == (13,)
    chosen = tuned.meta("o")["calibration_chosen"]
    assert history[chosen] == history.max()  # the chip's held-out best
    assert accuracy(tuned) > before + 0.03, (before, accuracy(tuned))


def test_calibrate_chip_default_chip_and_errors(quantized: ir.Graph) -> None:
    x, y = samples(16, seed=8)
    tuned = compiler.run_pipeline(
        quantized,
        "calibrate-chip{iterations=1 batch=16 quiet=true chip-seed=3}",
        calibration=x,
        labels=y,
    )
    DYNAPSE2.lower(tuned).check()
    with pytest.raises(PassError, match="does not support it; targets that do"):
        compiler.run_pipeline(
            quantized,
            "calibrate-chip{target=xylo-audio2 iterations=1}",
            calibration=x,
        )
    with pytest.raises(PassError, match=r"no program\(\) method"):
        compiler.run_pipeline(
            quantized, "calibrate-chip{iterations=1}", calibration=x, chip=object()
        )
    with pytest.raises(PassError, match=r"calibration.*must be \(N, T, 16\)"):
        compiler.run_pipeline(
            quantized, "retune{epochs=1}", calibration=np.zeros((4, 10, 3))
        )
    with pytest.raises(PassError, match="needs calibration data"):
        compiler.run_pipeline(quantized, "retune{epochs=1}")
    with pytest.raises(PassError, match="4 calibration samples but 3 labels"):
        compiler.run_pipeline(
            quantized,
            "retune{epochs=1}",
            calibration=np.zeros((4, 10, 16)),
            labels=np.zeros(3, np.int64),
        )
    with pytest.raises(Exception, match="option epochs must be >= 1"):
        compiler.run_pipeline(quantized, "retune{epochs=0}", calibration=x)


def test_emulated_chip_is_the_same_chip_across_programs(quantized: ir.Graph) -> None:
    config = DYNAPSE2.lower(quantized)
    x, _ = samples(8, seed=9)
    chip = EmulatedChip(seed=11, relative_std=MISMATCH)
    with pytest.raises(RuntimeError, match="program"):
        chip.run(x)
    chip.program(config)
    first = chip.run(x)
    chip.program(config)
    assert np.array_equal(first, chip.run(x))
    want = _target().emulator(config, seed=11).run(torch.tensor(x))
    assert np.array_equal(first, want)


def test_weights_stay_within_what_a_core_can_realise(quantized: ir.Graph) -> None:
    # A learning rate of 3 moves log-magnitudes by up to 3 per step: without the
    # projection some weights leave the base-weight range and quantization fails.
    x, y = samples(32, seed=10)
    retuned = compiler.run_pipeline(
        quantized,
        "retune{epochs=4 batch=16 lr=3.0 quiet=true}",
        calibration=x,
        labels=y,
    )
    DYNAPSE2.lower(retuned).check()
