"""Choose the current scale of a Dynap-SE2 lowering from data, without labels.

The translation (``backends/dynapse/lower.py``) maps one unit of a layer's input to
``i_scale`` amperes. The chip's neuron is a nonlinear current-mode circuit, so no
single value is right for every network: ``choose_i_scale`` compiles the graph at each
candidate, runs the ideal (mismatch-free) chip on calibration spikes, and keeps the
scale whose outputs agree best with the float SNN's on the same spikes: the fraction
of samples whose decision (the output neuron with the most spikes) agrees first; among
the candidates within one standard error of the best agreement (sampling noise), the
correlation of the output spike counts minus half the absolute log ratio of their
totals (``_score``); then the smaller current (less power).

NOTE: measured on the digits bench network (``bench/retune.py``, 64-64-10 IF SNN,
float 94.97 %): the combined score (agreement plus correlation minus half the log
ratio) chose 5 nA (agreement 0.87) over 2 nA (0.92), and the ideal chip scored
85.3 % against 87.7 % on the test digits: its accuracy follows the agreement, not the
score. The count pattern and level only break near-ties now.

NOTE: why the scale matters so much (measured with this emulator, reference
``dynapse2.md`` §2.2). The membrane's positive feedback ``I_fb`` overtakes the leak
once ``I_mem`` exceeds about ``I_leak^((kappa+1)/kappa) / I_0^(1/kappa)`` (150 pA for a
20 ms membrane), and from there the neuron runs away to a spike whatever
``I_spkthr`` is. Rockpool's heuristic puts a threshold of 1 at ``I_spkthr = 10 nA``,
far above that point, so at its 10 nA per unit every neuron that gets a few pA of
input fires: the network has no threshold left (a LIF that fires 4 spikes fires over
100). Near 10 pA per unit ``I_spkthr`` sits below the runaway point and is the
threshold again. ``DEFAULT_CANDIDATES`` therefore spans 10 pA to 50 nA, searched a
decade at a time and then refined (``auto_i_scale``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from backends.dynapse import decode
from backends.dynapse.config import DynapseConfig
from backends.dynapse.iterates import Iterates
from backends.dynapse.lower import allocate_graph, config_from_graph, quantize_graph
from backends.dynapse.routing import DynapseSystem
from ir import Graph, interpret

__all__ = [
    "AUTO_INPUT_RATES",
    "AUTO_SAMPLES",
    "READOUT_HELD",
    "READOUT_FIT_RIDGES",
    "READOUT_MODEL_RIDGE",
    "READOUT_MODEL_TEMPERATURE",
    "READOUT_PATIENCE",
    "READOUT_SAMPLES",
    "TransferModel",
    "fit_transfer",
    "model_accuracy",
    "model_step",
    "READOUT_RIDGE",
    "READOUT_STEP",
    "READOUT_TRUST",
    "READOUT_TRUST_MAX",
    "READOUT_FIT_ITERATIONS",
    "READOUT_FIT_LEVEL",
    "READOUT_FIT_MIN_SAMPLES",
    "READOUT_FIT_RIDGE",
    "READOUT_FIT_SAMPLES",
    "ReadoutFit",
    "fit_readout",
    "ReadoutTargets",
    "calibrate_readout",
    "can_record",
    "readout_step",
    "readout_targets",
    "DEFAULT_CANDIDATES",
    "DECADES",
    "ScaleChoice",
    "auto_i_scale",
    "choose_i_scale",
    "random_spikes",
]

DECADES = (1e-11, 1e-10, 1e-9, 1e-8)
"""Amperes per unit tried first by ``auto_i_scale``, one per decade."""

DEFAULT_CANDIDATES = (
    1e-11,
    2e-11,
    5e-11,
    1e-10,
    2e-10,
    5e-10,
    1e-9,
    2e-9,
    5e-9,
    1e-8,
    2e-8,
    5e-8,
)
"""Amperes per unit: from near the membrane's runaway point (10 pA, see the module
docstring) to 5x Rockpool's 10 nA."""

AUTO_SAMPLES = 64
"""Calibration samples ``auto_i_scale`` runs at most (the first ones)."""

AUTO_INPUT_RATES = (0.03, 0.3)
"""Range of the top per-step spike probability of the seeded random input
``auto_i_scale`` uses without calibration data (``random_spikes``)."""


class ScaleChoice(NamedTuple):
    """What ``auto_i_scale`` chose and saw."""

    best: float
    """Amperes per unit chosen."""
    agreement: dict[float, float]
    """Per candidate tried: fraction of samples whose decision agrees."""
    correlation: dict[float, float]
    """Per candidate tried: correlation of the output spike counts."""
    ratio: dict[float, float]
    """Per candidate tried: log of the chip's total output count over the float
    graph's (each plus one)."""


def random_spikes(graph: Graph, *, samples: int = 32, steps: int = 100) -> np.ndarray:
    """Seeded random input spikes ``(samples, steps, Nin)`` of ``graph``'s shape.

    Sample ``b`` draws a top rate ``R_b`` log-uniformly in ``AUTO_INPUT_RATES`` and
    every channel a rate uniformly below it (per step), so the samples span weak
    and strong drive; the same graph shape gives the same spikes.
    """
    (inp,) = graph.inputs()
    n_in = int(np.prod(graph.shape(inp)))
    rng = np.random.default_rng(0)
    lo, hi = np.log(AUTO_INPUT_RATES[0]), np.log(AUTO_INPUT_RATES[1])
    top = np.exp(rng.uniform(lo, hi, (samples, 1, 1)))
    rate = rng.random((samples, 1, n_in)) * top
    return (rng.random((samples, steps, n_in)) < rate).astype(np.float32)


def _scores(want: np.ndarray, got: np.ndarray) -> tuple[float, float, float]:
    """Decision agreement, count correlation and log ratio of the total counts
    (chip over float, each plus one) of output counts ``(B, Nout)``.

    A sample where the float graph is silent agrees when the chip is silent too.
    """
    silent = want.sum(1) == 0
    same = np.where(silent, got.sum(1) == 0, want.argmax(1) == got.argmax(1))
    a, b = want.ravel(), got.ravel()
    if a.std() == 0 or b.std() == 0:
        corr = 1.0 if np.array_equal(a, b) else 0.0
    else:
        corr = float(np.corrcoef(a, b)[0, 1])
    ratio = float(np.log((b.sum() + 1) / (a.sum() + 1)))
    return float(np.mean(same)), corr, ratio


def _evaluate(
    graph: Graph,
    x: np.ndarray,
    reference: np.ndarray,
    i_scale: float,
    system: DynapseSystem | None,
    *,
    place: bool = True,
) -> tuple[float, float, float]:
    if "placement" in graph.meta(_first_layer(graph)) or not place:
        lowered = quantize_graph(graph, i_scale=i_scale)
    else:
        lowered = quantize_graph(allocate_graph(graph, system), i_scale=i_scale)
    config = config_from_graph(lowered, system)
    outputs = decode.output_columns(config)
    run = decode.emulator(config, seed=None).run(torch.from_numpy(x))
    return _scores(reference, run.spikes[0][..., outputs].numpy().sum(1))


def _first_layer(graph: Graph) -> str:
    from backends.chain import layer_chain
    from ir.ops.snn import IF, LIF, CubaLIF

    return layer_chain(graph, (LIF, CubaLIF, IF))[1][0].node


def _reference(graph: Graph, spikes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(spikes, np.float32)
    if x.ndim != 3 or x.shape[0] == 0:
        raise ValueError(f"calibration spikes must be (B, T, Nin), got {x.shape}")
    return x, interpret(graph, torch.from_numpy(x)).numpy().sum(1)


def _best(
    scores: dict[float, tuple[float, float, float]], reference: np.ndarray
) -> float:
    """Among the candidates whose agreement is within one standard error of the
    best (``sqrt(p (1 - p) / samples)``: closer is sampling noise), the best
    ``_score``, then the smallest current.

    With one output neuron there is no decision to agree on (only silent or not),
    so every candidate is ranked by ``_score``, the count pattern and level.
    """
    samples, outputs = reference.shape
    top = max(v[0] for v in scores.values())
    margin = np.sqrt(top * (1 - top) / samples) + 1e-12
    if outputs < 2:
        margin = np.inf
    near = [s for s, v in scores.items() if v[0] >= top - margin]
    return max(near, key=lambda s: (_score(*scores[s]), -s))


def _score(agreement: float, correlation: float, ratio: float) -> float:
    """Decisions, count pattern and count level, one number: agreement plus
    correlation (0 when negative) minus half the absolute log count ratio."""
    return agreement + max(correlation, 0.0) - 0.5 * abs(ratio)


def choose_i_scale(
    graph: Graph,
    spikes: np.ndarray,
    *,
    candidates: Sequence[float] = DEFAULT_CANDIDATES,
    system: DynapseSystem | None = None,
    refine: bool = True,
) -> tuple[float, dict[float, float]]:
    """The candidate ``i_scale`` whose ideal chip best agrees with the float graph.

    Args:
        graph: the float SNN (a chain ``lower_to_config`` accepts), placed or not.
        spikes: calibration input spikes ``(B, T, Nin)``.
        candidates: amperes per unit to try (every one is compiled and run).
        system: the hardware (default one chip).
        refine: then also try the geometric midpoints (3 significant digits)
            between the best candidate and its neighbours in ``candidates`` (two
            more compiles), and keep the best of all.

    Returns:
        The chosen scale and the agreement (fraction of samples) of every scale
        tried.
    """
    # NOTE: measured on the digits bench network (bench/retune.py, 200 calibration
    # samples): 1-2-5 candidates chose 2 nA (ideal chip 87.7 % on the test digits);
    # refining tried 1.4 and 3.2 nA and chose 3.2 nA (agreement 0.925 against 0.91).
    if not candidates:
        raise ValueError("no candidate i_scale given")
    x, reference = _reference(graph, spikes)
    scores = {
        float(s): _evaluate(graph, x, reference, float(s), system) for s in candidates
    }
    best = _best(scores, reference)
    if refine:
        ladder = sorted(scores)
        at = ladder.index(best)
        for near in ladder[max(at - 1, 0) : at] + ladder[at + 1 : at + 2]:
            mid = float(f"{np.sqrt(best * near):.3g}")
            scores.setdefault(mid, _evaluate(graph, x, reference, mid, system))
        best = _best(scores, reference)
    return best, {s: v[0] for s, v in scores.items()}


def auto_i_scale(
    graph: Graph,
    spikes: np.ndarray | None = None,
    *,
    system: DynapseSystem | None = None,
) -> ScaleChoice:
    """``choose_i_scale`` over ``DEFAULT_CANDIDATES``, searched coarse to fine.

    ``graph`` must be placed (``allocate-cores``). One
    candidate per decade (``DECADES``) first, then the candidates within a decade
    of the best of those (about 7 compiles instead of 12), on the first
    ``AUTO_SAMPLES`` samples of ``spikes``. Without ``spikes``, the
    seeded ``random_spikes`` of the graph's input shape; deterministic either way.

    Returns:
        ``ScaleChoice(best, agreement, correlation)`` over the candidates tried.
    """
    if spikes is not None:
        spikes = np.asarray(spikes)[:AUTO_SAMPLES]
    x, reference = _reference(graph, random_spikes(graph) if spikes is None else spikes)
    scores: dict[float, tuple[float, float, float]] = {}

    def tryout(scales: Sequence[float]) -> None:
        for s in scales:
            if s not in scores:
                scores[s] = _evaluate(graph, x, reference, s, system, place=False)

    tryout(DECADES)
    coarse = _best(scores, reference)
    tryout([s for s in DEFAULT_CANDIDATES if coarse / 10 < s < coarse * 10])
    return ScaleChoice(
        _best(scores, reference),
        {s: v[0] for s, v in scores.items()},
        {s: v[1] for s, v in scores.items()},
        {s: v[2] for s, v in scores.items()},
    )


# --- In the loop: least-squares refit of the last layer ------------------------------

READOUT_RIDGE = 1e-2
"""Ridge of the readout refit, relative to the mean diagonal of ``H^T H``."""

READOUT_STEP = 0.7
"""Fraction of the least-squares step taken per iteration (damping)."""

READOUT_TRUST = 1.0
"""Most a neuron's weight vector moves in the first iteration, relative to its norm
(then adapted, ``READOUT_TRUST_MAX``).

NOTE: measured on the digits benchmark (``bench/retune.py --loop``): without the
bound, a 20 % mismatched chip's refit diverged to chance within 4 iterations (an
output neuron active on few samples gives a poor slope estimate and a huge step);
with it at 0.3 the chip climbed 65 % -> 77 % in 5 iterations."""


READOUT_HELD = 512
"""Calibration samples (the first ones, at most a third) held out to choose the
iterate. NOTE: with 256 on the digits benchmark the chosen iterate's test accuracy
was 1 point below the best iterate's (the choice is noisy)."""

READOUT_TRUST_MAX = 4.0
"""The trust region grows by 1.5 after each step that does not lower the held-out
accuracy on the chip, up to this; it halves after one that does."""


class ReadoutTargets(NamedTuple):
    """What the output layer should count on each calibration sample."""

    counts: np.ndarray
    """``(N, classes)`` target spike counts: one-hot labels times the float
    network's median top count, or the float network's own counts."""
    classes: np.ndarray
    """``(N,)`` the class each sample should get (labels, or the float decision)."""


def readout_targets(
    graph: Graph, inputs: np.ndarray, labels: np.ndarray | None
) -> ReadoutTargets:
    """The output layer's target counts on ``inputs`` (``ReadoutTargets``)."""
    counts = interpret(graph, torch.from_numpy(np.asarray(inputs, np.float32)))
    counts = counts.numpy().sum(1).astype(np.float64)
    if labels is None:
        return ReadoutTargets(counts, counts.argmax(1))
    level = max(float(np.median(counts.max(1))), 1.0)
    classes = np.asarray(labels, np.int64).reshape(-1)
    return ReadoutTargets(np.eye(counts.shape[1])[classes] * level, classes)


def readout_step(
    weight: np.ndarray,
    hidden: np.ndarray,
    counts: np.ndarray,
    target: np.ndarray,
    *,
    ridge: float = READOUT_RIDGE,
    step: float = READOUT_STEP,
    trust: float = READOUT_TRUST,
) -> np.ndarray:
    """One Gauss-Newton step of an output layer's weights from recorded activity.

    Per output neuron ``j``, the chip's count is modelled as ``a_j * u + c`` of its
    drive ``u = hidden @ weight[j]`` on the samples where it fires (``a_j`` the
    least-squares slope there, the layer's median where fewer than 10 samples fire);
    the drive that would give the target is ``u + (target - counts) / a_j``, and the
    new weights are the ridge least-squares fit of that drive from ``hidden`` on the
    samples where the neuron fires or should, pulled towards the current weights.
    The step is damped (``step``) and bounded (``trust`` times the row's norm).

    Args:
        weight: ``(n_out, n_hidden)`` signed weights (any unit).
        hidden: ``(B, n_hidden)`` the chip's recorded input counts of the layer.
        counts: ``(B, n_out)`` the chip's recorded output counts.
        target: ``(B, n_out)`` the counts wanted.

    Returns:
        The new weights, same shape.
    """
    w = np.asarray(weight, np.float64)
    h = np.asarray(hidden, np.float64)
    o = np.asarray(counts, np.float64)
    t = np.asarray(target, np.float64)
    drive = h @ w.T
    slopes = np.full(w.shape[0], np.nan)
    for j in range(w.shape[0]):
        fires = o[:, j] > 0
        if fires.sum() >= 10 and np.std(drive[fires, j]) > 0:
            slopes[j] = np.polyfit(drive[fires, j], o[fires, j], 1)[0]
    good = np.isfinite(slopes) & (slopes > 0)
    slopes = np.where(good, slopes, np.median(slopes[good]) if good.any() else 1.0)
    new = w.copy()
    eye = np.eye(h.shape[1])
    for j in range(w.shape[0]):
        use = (o[:, j] > 0) | (t[:, j] > 0)
        if use.sum() < 2:
            continue
        hs = h[use]
        want = drive[use, j] + (t[use, j] - o[use, j]) / slopes[j]
        gram = hs.T @ hs
        lam = ridge * float(np.trace(gram)) / h.shape[1] + 1e-12
        new[j] = np.linalg.solve(gram + lam * eye, hs.T @ want + lam * w[j])
    delta = step * (new - w)
    norm = np.linalg.norm(delta, axis=1, keepdims=True)
    bound = trust * np.linalg.norm(w, axis=1, keepdims=True)
    delta *= np.minimum(1.0, bound / np.maximum(norm, 1e-300))
    return w + delta


def can_record(chip: object) -> bool:
    """Whether ``chip`` reports every neuron's spikes: a ``record(spikes)`` method
    returning ``(B, T, N)`` in the configuration's neuron order."""
    return callable(getattr(chip, "record", None))


def _last_weight(graph: Graph) -> tuple[Any, int, str, str | None]:
    """The flattened chain, the last layer's index, its forward weight node and the
    layer feeding it (``None``: the input)."""
    from backends.dynapse.lower import _flatten, _layer_of

    flat = _flatten(graph)
    last = len(flat.layers) - 1
    for node in flat.weight_nodes:
        (producer,) = graph.producers(node)
        if _layer_of(flat, graph, node) != last or producer == flat.layers[last].node:
            continue
        source = None if producer == flat.input_node else producer
        return flat, last, node, source
    raise ValueError(f"node '{flat.layers[last].node}' has no forward weight")


def calibrate_readout(
    graph: Graph,
    data: Any,
    chip: Any,
    options: Any,
    progress: Any,
    *,
    evaluate: Callable[[int, DynapseConfig], Any] | None = None,
) -> Graph:
    """In-the-loop calibration of one chip by refitting its last layer.

    Each iteration programs the chip with the current weights, runs it on a batch of
    ``options.batch`` calibration samples and the held-out ones (the first
    ``READOUT_HELD``, at most a third), and records the last layer's input counts
    (the previous layer's spikes, ``chip.record``; the input's for one layer) and
    its output counts. The input counts do not depend on the last layer's weights,
    so every sample's are kept once seen, and every iterate's output counts are
    pooled into a model of the chip's output neurons (``fit_transfer``: each
    neuron's count against its excitatory and inhibitory drive, its own threshold,
    slope, saturation and inhibitory gain: the mismatch the float network cannot
    know). The next weights minimise the cross-entropy of the modelled counts on
    every training sample seen (``model_step``, labels or the float network's
    decisions), at the ridge in ``READOUT_MODEL_RIDGE`` whose modelled held-out
    accuracy is best, and are quantized again per core (``_requantize``: no other
    layer's realised weights move, so the recorded input counts stay valid).

    The result is the iterate with the best accuracy on the chip over every
    calibration sample it ran, training and held-out (the latest among equals;
    ``Iterates.best``): every iterate runs the same samples, and 3 times as many
    samples tell iterates apart better than the held-out ones alone. Each step
    starts from the best iterate inside a trust region: a step that lowered the
    held-out accuracy halves it, one that did not lengthens it
    (``READOUT_TRUST_MAX``).

    Last layer meta: ``calibration_accuracy`` (held-out accuracy of each iterate),
    ``calibration_every`` (on every sample it ran) and ``calibration_chosen``.
    ``evaluate(iteration, config)`` as for ``retune.calibrate_graph``.
    """
    from backends.chain import readout_copies
    from backends.dynapse.lower import _dt, _gain, check_unpaired
    from ir.ops.nn import Affine, Linear

    check_unpaired(graph, "calibrate-chip")

    flat, last, node, source = _last_weight(graph)
    layer = flat.layers[last].node
    if source is not None and not can_record(chip):
        raise ValueError(
            f"calibrate-chip: the chip ({type(chip).__name__}) has no record() "
            f"method; refitting layer '{layer}' needs the spikes of "
            f"layer '{source}' (or use method=gradient)"
        )
    op = graph.op(node)
    assert isinstance(op, (Linear, Affine))
    copies = readout_copies(graph)
    gain = _gain(flat.layers[last].neuron, op.weight.shape[0], _dt(graph))
    i_scale = float(graph.meta(layer)["i_scale"])
    weight = np.asarray(op.weight, np.float64) * gain[:, None]
    support, cap = _readout_bounds(weight, i_scale)
    classes = readout_targets(graph, data.inputs, data.labels).classes
    loop = Iterates.holding_out(
        chip, data, most=READOUT_HELD, fraction=3, seed=options.seed, evaluate=evaluate
    )
    progress.total = options.epochs + 1
    history = loop.history
    current = graph
    hidden = np.zeros((data.size, weight.shape[1]))
    observed = np.zeros((data.size, weight.shape[0]))
    seen = np.zeros(data.size, bool)
    pooled: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def on_chip(index: np.ndarray) -> None:
        config, both = loop.program(current, index)
        x = data.inputs[both]
        if source is None:
            counts = np.asarray(chip.run(x)).sum(axis=1)
            inputs = x.reshape(x.shape[0], x.shape[1], -1).sum(axis=1)
        else:
            spikes = np.asarray(chip.record(x)).sum(axis=1)
            counts = spikes[:, decode.output_order(config, layer)]
            inputs = spikes[:, decode.output_order(config, source)]
        counts = np.asarray(counts, np.float64)
        loop.score(counts.reshape(counts.shape[0], copies, -1).sum(1), index)
        hidden[both], observed[both], seen[both] = inputs, counts, True
        pooled.append((*_drives(hidden[both], weight), counts))

    trust = READOUT_TRUST
    best_acc, kept, anchor = -1.0, weight, observed
    train = loop.pool[:READOUT_SAMPLES]
    held = loop.held
    stale = 0
    for _ in range(options.epochs):
        on_chip(train)
        stale = 0 if history[-1] > best_acc else stale + 1
        if stale >= READOUT_PATIENCE:
            break
        # Trust region: a step that lowered the held-out accuracy is taken back and
        # retried from the best iterate, half as long; one that did not lengthens.
        if history[-1] >= best_acc:
            best_acc, kept, anchor = history[-1], weight, observed.copy()
            trust = min(trust * 1.5, READOUT_TRUST_MAX)
        else:
            trust *= 0.5
        model = fit_transfer(*(np.concatenate(v) for v in zip(*pooled, strict=True)))
        # The model's counts are anchored to what the chip counted at the best
        # iterate: the model supplies only how they change with the weights.
        offset = anchor - model.counts(*_drives(hidden, kept))
        step = functools.partial(
            model_step,
            kept,
            hidden[train],
            classes[train],
            model,
            offset=offset[train],
            trust=trust,
            copies=copies,
            support=support,
            cap=cap,
        )
        steps = [step(ridge=ridge) for ridge in READOUT_MODEL_RIDGE]
        # And least-squares steps towards one-hot counts (as ``fit_readout``).
        level = READOUT_FIT_LEVEL * max(float(np.median(anchor[train].max(1))), 1.0)
        goal = np.tile(np.eye(anchor.shape[1] // copies)[classes], (1, copies))
        steps += [
            _within(
                readout_step(
                    kept,
                    hidden[train],
                    anchor[train],
                    goal[train] * level,
                    ridge=ridge,
                    trust=trust,
                ),
                support,
                cap,
            )
            for ridge in READOUT_FIT_RIDGES
        ]
        # Each candidate is scored as the chip will realise it (quantized per core).
        candidates = [_realise(graph, node, layer, w, gain) for w in steps]
        scores = [
            model_accuracy(w, hidden[held], classes[held], model, copies, offset[held])
            for _, w in candidates
        ]
        current, weight = candidates[int(np.argmax(scores))]
        progress.update(chip_acc=history[-1])
    else:
        on_chip(train)  # the last iterate, on the same samples as the others
    progress.update(chip_acc=history[-1])
    return loop.best(layer, progress, every=True)


# --- In the loop: a model of the chip's output neurons, fitted to what they did ------

READOUT_PATIENCE = 5
"""``calibrate_readout`` stops once this many iterates in a row have not raised
the best held-out accuracy on the chip (the chip's time is the cost)."""

READOUT_SAMPLES = 4096
"""Training samples (after the held-out ones) ``calibrate_readout`` runs on the
chip in every iteration, at most."""

READOUT_MODEL_RIDGE = (0.1, 1.0, 10.0, 100.0)
"""Ridges (towards the present weights, relative to the mean squared weight) that
``model_step`` tries; the one whose modelled accuracy on the held-out samples is
best is kept."""

READOUT_FIT_RIDGES = (0.01, 0.1)
"""Ridges of the least-squares candidates (``readout_step``) ``calibrate_readout``
tries besides ``model_step``'s."""

READOUT_MODEL_TEMPERATURE = 0.1
"""Spikes per unit of logit of the cross-entropy ``model_step`` minimises: a
decision wants a margin of a few spikes over the next class."""


class TransferModel(NamedTuple):
    """Each output neuron's count as a function of its excitatory and inhibitory
    drive (``E``, ``I``: hidden counts times the weights' positive and negative
    parts): ``s D (1 - exp(-v / D))`` with ``v = tau softplus((E - r I - theta) /
    tau)``: a soft threshold ``theta``, slope ``s`` at onset, saturation ``D``
    (refractory, membrane feedback) and the inhibition's relative gain ``r``."""

    slope: Any
    theta: Any
    saturation: Any
    inhibition: Any
    tau: Any
    """``(n,)`` each (numpy; torch tensors while ``fit_transfer`` fits them)."""

    def counts(self, excite: Any, inhibit: Any) -> Any:
        """Modelled counts ``(B, n)`` (numpy or torch, as given)."""
        lib: Any = torch if isinstance(excite, torch.Tensor) else np
        p = [
            torch.as_tensor(v, dtype=excite.dtype) if lib is torch else v for v in self
        ]
        slope, theta, saturation, inhibition, tau = p
        z = (excite - inhibition * inhibit - theta) / tau
        if lib is torch:
            v = tau * torch.nn.functional.softplus(z)
        else:
            v = tau * np.logaddexp(0.0, z)
        return -slope * saturation * lib.expm1(-v / saturation)


def _drives(hidden: Any, weight: Any) -> tuple[Any, Any]:
    """Excitatory and inhibitory drive ``(B, n)`` of ``weight`` ``(n, h)``."""
    if isinstance(weight, torch.Tensor):
        return hidden @ weight.clamp(min=0).T, hidden @ (-weight).clamp(min=0).T
    return hidden @ np.maximum(weight, 0).T, hidden @ np.maximum(-weight, 0).T


def fit_transfer(
    excite: np.ndarray, inhibit: np.ndarray, counts: np.ndarray
) -> TransferModel:
    """Least-squares ``TransferModel`` of ``counts`` ``(B, n)`` from the drives,
    every neuron on its own (samples pooled over the iterates run so far)."""
    e = np.asarray(excite, np.float64)
    i = np.asarray(inhibit, np.float64)
    o = np.asarray(counts, np.float64)
    n = o.shape[1]
    u = e - i
    scale = np.maximum(u.std(axis=0), 1e-9)
    slope, theta = np.ones(n), np.zeros(n)
    for j in range(n):
        fires = o[:, j] > 0
        if fires.sum() >= 5 and np.std(u[fires, j]) > 0:
            a, b = np.polyfit(u[fires, j], o[fires, j], 1)
            if a > 0:
                slope[j], theta[j] = a, -b / a
                continue
        slope[j] = np.nan
        theta[j] = u[:, j].max() if not fires.any() else u[fires, j].min()
    good = np.isfinite(slope)
    slope[~good] = np.median(slope[good]) if good.any() else 1.0 / scale[~good]
    top = np.maximum(o.max(axis=0), 1.0)
    t = torch.tensor
    log_s = t(np.log(slope), requires_grad=True)
    th = t(theta / scale, requires_grad=True)
    log_d = t(np.log(3.0 * top / slope), requires_grad=True)
    log_r = t(np.zeros(n), requires_grad=True)
    most_d = t(np.log(1e6 * top / slope))  # a saturation beyond: none (finite)
    et, it, ot, sc = t(e), t(i), t(o), t(scale)
    tau = t(0.05 * scale)

    def model() -> TransferModel:
        return TransferModel(
            torch.exp(log_s),
            th * sc,
            torch.exp(torch.minimum(log_d, most_d)),
            torch.exp(log_r),
            tau,
        )

    opt = torch.optim.LBFGS(
        [log_s, th, log_d, log_r], max_iter=200, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = ((model().counts(et, it) - ot) ** 2).mean() + 1e-3 * (log_r**2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return TransferModel(
            *(np.asarray(v.detach().numpy(), np.float64) for v in model())
        )


def model_step(
    weight: np.ndarray,
    hidden: np.ndarray,
    classes: np.ndarray,
    model: TransferModel,
    *,
    ridge: float,
    trust: float,
    copies: int = 1,
    support: np.ndarray | None = None,
    cap: float = np.inf,
    offset: np.ndarray | None = None,
) -> np.ndarray:
    """New output weights that minimise the cross-entropy of the modelled counts
    (``model``, summed over ``copies``, ``READOUT_MODEL_TEMPERATURE`` spikes per
    logit) against ``classes`` on the samples' ``hidden`` counts, plus ``ridge``
    times the mean squared change relative to the mean squared weight; each row
    moves at most ``trust`` times its norm, inside ``support`` and ``cap``.
    ``offset`` ``(B, n)`` is added to the modelled counts (the chip's counts minus
    the model's at the present weights)."""
    shift = torch.tensor(0.0 if offset is None else np.asarray(offset, np.float64))
    w0 = torch.tensor(np.asarray(weight, np.float64))
    h = torch.tensor(np.asarray(hidden, np.float64))
    y = torch.as_tensor(np.asarray(classes, np.int64))
    mask = torch.ones_like(w0) if support is None else torch.tensor(support * 1.0)
    norm = float((w0**2).mean()) + 1e-12
    delta = torch.zeros_like(w0, requires_grad=True)
    with torch.no_grad():
        start = model.counts(*_drives(h, w0)) + shift
        level = float(
            start.reshape(start.shape[0], copies, -1).sum(1).max(1)[0].median()
        )
    temperature = READOUT_MODEL_TEMPERATURE * max(level, 1.0)

    def weights() -> torch.Tensor:
        return ((w0 + delta) * mask).clamp(-cap, cap)

    opt = torch.optim.LBFGS([delta], max_iter=150, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        out = model.counts(*_drives(h, weights())) + shift
        out = out.reshape(out.shape[0], copies, -1).sum(1)
        loss = torch.nn.functional.cross_entropy(out / temperature, y)
        loss = loss + ridge * (delta**2).mean() / norm
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        d = weights() - w0
        size = torch.linalg.norm(d, dim=1, keepdim=True)
        bound = trust * torch.linalg.norm(w0, dim=1, keepdim=True)
        d = d * torch.clamp(bound / size.clamp(min=1e-300), max=1.0)
    return (w0 + d).numpy()


def model_accuracy(
    weight: np.ndarray,
    hidden: np.ndarray,
    classes: np.ndarray,
    model: TransferModel,
    copies: int = 1,
    offset: np.ndarray | float = 0.0,
) -> float:
    """Accuracy of the modelled counts of ``weight`` on ``hidden`` (plus
    ``offset``)."""
    out = model.counts(*_drives(np.asarray(hidden, np.float64), weight)) + offset
    out = out.reshape(out.shape[0], copies, -1).sum(1)
    return float(np.mean(out.argmax(1) == classes))


# --- At compile time: least-squares refit of the last layer on emulated chips -------

READOUT_FIT_ITERATIONS = 4
"""Gauss-Newton steps ``fit_readout`` takes (the best iterate is kept).

NOTE: measured on the digits bench network (``bench/retune.py``, ideal chip, 512
training samples): the first step takes the ideal chip from 90.5 % to about 95 % on
the test digits; later steps move it by less than the test set resolves."""

READOUT_FIT_SAMPLES = 4096
"""Calibration samples ``fit_readout`` uses at most (the first ones); with ``C``
mismatched chips each runs its own ``READOUT_FIT_SAMPLES / C`` of them (at least
``READOUT_FIT_MIN_SAMPLES``)."""

READOUT_FIT_LEVEL = 1.25
"""``fit_readout``'s target count of the right class (the float counts scaled the
same way without labels), relative to the chips' median top count as compiled.

NOTE: measured on the digits bench network through the default pipeline
(``adapt-dynapse``: zero reset, so the float network counts about half what it
did): targets at the adapted float network's level made every step worse (89.5 %
on the calibration samples, kept as compiled); at 1.25 and 1.5 times the chip's
top count the ideal chip reached 95.2 % on the test digits (without
``adapt-dynapse``: 94.4 % and 94.0 %; the float level, 1.23 times, gave 95.2 %)."""

READOUT_FIT_RIDGE = 0.1
"""Ridge of ``fit_readout``'s steps (``readout_step``: towards the present weights).

NOTE: measured on the digits bench network (1297 training samples; 497 test
digits; 20 chips at 10 % mismatch, seeds 1..20), ideal chip / mismatched mean /
5th percentile: compiled 90.5 / 74.3 / 62.1 %; ridge 0.01 95.6 / 70.7 / 53.3 %
(the readout leans on the ideal chip's exact hidden counts); 0.1 95.2 / 76.6 /
62.4 %; 0.3 93.8 / 78.9 / 63.7 %; 1 93.2 / 77.7 / 63.7 %. 0.1 is the smallest that
does not cost the mismatched chips."""

READOUT_FIT_MIN_SAMPLES = 256
"""Fewer calibration samples than this: ``fit_readout`` leaves the graph as it is
(a least-squares fit of a 64-input neuron from fewer samples overfits)."""


class ReadoutFit(NamedTuple):
    """What ``fit_readout`` measured: the accuracy of each iterate (0: as compiled)
    on the calibration samples, averaged over the chips, and the iterate kept."""

    accuracy: tuple[float, ...]
    chosen: int
    chips: int
    samples: int


def _readout_bounds(weight: np.ndarray, i_scale: float) -> tuple[np.ndarray, float]:
    """Where a refitted last layer's weights ``(n, fan_in)`` may be non-zero, and
    their largest magnitude (in units of ``i_scale``).

    A fan-in of at most 64 may be dense (64 CAM entries per neuron, dynapse2.md
    §1); a wider one keeps its connections. The cap is a core's 4 base weights at
    their maximum current.
    """
    from backends.dynapse.biasgen import BASE_WEIGHT

    support = np.ones(weight.shape, bool) if weight.shape[1] <= 64 else weight != 0
    return support, 0.99 * 4 * BASE_WEIGHT.max_current / i_scale


def _columns(params: Any, cols: np.ndarray) -> Any:
    """``params`` restricted to neurons ``cols`` (per-neuron fields' last axis)."""
    from backends.dynapse.params import DynapseParams

    changes = {}
    for name in DynapseParams.names():
        value = getattr(params, name)
        if np.ndim(value) >= 1:
            changes[name] = np.asarray(value)[..., cols]
    return params.replace(**changes)


def _delayed(spikes: np.ndarray) -> np.ndarray:
    """Spikes one step later: an input raster standing for recurrent delivery
    (a neuron's spike reaches another neuron the next step)."""
    out = np.zeros_like(spikes)
    out[..., 1:, :] = spikes[..., :-1, :]
    return out


def _within(weight: np.ndarray, support: np.ndarray, cap: float) -> np.ndarray:
    """``weight`` zero outside ``support`` and clipped to ``[-cap, cap]`` (the
    bounds of ``_readout_bounds``)."""
    return np.clip(np.where(support, weight, 0.0), -cap, cap)


def _realise(
    graph: Graph, node: str, layer: str, weight: np.ndarray, gain: np.ndarray
) -> tuple[Graph, np.ndarray]:
    """``graph`` with the last layer's ``weight`` (threshold units times the
    neurons' ``gain``) quantized per core (``_requantize``), and the weight the chip
    realises, in the same units."""
    current = _keep_pairing(
        graph, _requantize(graph, node, layer, weight / gain[:, None]), node, layer
    )
    realised = np.asarray(current.op(node).weight, np.float64)  # type: ignore[attr-defined]
    return current, realised * gain[:, None]


def _keep_pairing(old: Graph, new: Graph, node: str, layer: str) -> Graph:
    """``new`` (``old`` with the last layer requantized: ``quantize_graph`` assigns
    dendrites by sign) with ``old``'s ``split-dendrites`` assignment kept: the other
    layers' as they were, the last layer's by magnitude (``lower.paired_dendrites``)."""
    from backends.dynapse.lower import PAIRED_META, paired_dendrites

    if not old.meta(layer).get(PAIRED_META):
        return new
    result = new.copy()
    for n in old.nodes():
        if n != node and "dendrites" in old.meta(n):
            result.meta(n)["dendrites"] = old.meta(n)["dendrites"]
    weight = np.asarray(new.op(node).weight, np.float64)  # type: ignore[attr-defined]
    result.meta(node)["dendrites"] = paired_dendrites(
        np.abs(weight), np.asarray(new.meta(node)["dendrites"])
    )
    return result


def _requantize(graph: Graph, node: str, layer: str, weight: np.ndarray) -> Graph:
    """``graph`` with the last layer's forward weight ``node`` set to ``weight`` and
    quantized, every other weight as it was.

    ``quantize_graph`` fits every core's base weights again; where that would move
    another layer's realised weights (it shares a core with the last layer, or its
    fit is not reproduced exactly), the last layer's weights take the best masks
    of their cores' present base weights instead (``weights.best_masks``).
    """
    from backends.dynapse.biasgen import BASE_WEIGHT
    from backends.dynapse.lower import _dt, _flatten, _gain
    from backends.dynapse.weights import best_masks

    op = graph.op(node)
    changed = graph.copy()
    changed.replace(node, op.replace(weight=weight.astype(op.weight.dtype)))  # type: ignore[attr-defined]
    quantized = quantize_graph(changed)
    others = [n for n in graph.nodes() if n != node and "masks" in graph.meta(n)]
    if all(
        np.array_equal(quantized.op(n).weight, graph.op(n).weight)  # type: ignore[attr-defined]
        for n in others
    ):
        return quantized
    meta = graph.meta(layer)
    i_scale = float(meta["i_scale"])
    codes = np.asarray(meta["base_weights"], np.int64)  # (n, 4, 2) of each core
    bases = BASE_WEIGHT.current_of(codes[..., 0], codes[..., 1]) / i_scale
    masks = np.zeros(weight.shape, np.int64)
    realised = np.zeros(weight.shape)
    # NOTE: the bases are in the units of the weight times the layer's gain
    # (lower._connections), the graph's weight is without it.
    flat = _flatten(graph)
    k = [lay.node for lay in flat.layers].index(layer)
    g = _gain(flat.layers[k].neuron, weight.shape[0], _dt(graph))
    for j in range(weight.shape[0]):
        m, r = best_masks(np.abs(weight[j] * g[j]), bases[j])
        masks[j], realised[j] = m, np.sign(weight[j]) * r / g[j]
    result = graph.copy()
    result.replace(node, op.replace(weight=realised.astype(op.weight.dtype)))  # type: ignore[attr-defined]
    result.meta(node)["masks"] = masks
    result.meta(node)["dendrites"] = np.where(
        masks == 0, -1, np.where(weight > 0, 0, 2)
    ).astype(np.int64)
    return result


def fit_readout(
    graph: Graph,
    inputs: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    chips: Sequence[int] = (),
    relative_std: float = 0.1,
    iterations: int = READOUT_FIT_ITERATIONS,
    ridge: float = READOUT_FIT_RIDGE,
    level_factor: float = READOUT_FIT_LEVEL,
) -> tuple[Graph, ReadoutFit]:
    """Refit the last layer's weights so that emulated chips classify well.

    The translation is not an equivalence: a Dynap-SE2 neuron's spike count grows
    concavely with its input where the float IF neuron's grows linearly (its
    membrane's positive feedback, the reset to rest and the refractory step), so the
    hidden layer's counts on the chip are a distorted copy of the float network's,
    and the float network's last layer reads them worse (digits bench: the ideal
    chip 90.5 % against the float SNN's 94.97 %, while a logistic readout fitted to
    the chip's hidden counts reads 95.8 %: the hidden layer keeps the information).
    The distortion is common to every chip, so it is fitted here, at compile time,
    on emulated chips: the ideal one (``chips`` empty) or the mismatched chips named
    by ``chips`` (seeds, at ``relative_std``) pooled.

    NOTE: measured on the digits bench, a readout fitted to 4 or 16 mismatched chips
    (ridge 0.01) lifted those chips by 6-10 points and lowered other chips (mean
    74 % -> 54-58 %): it follows each chip's own output-neuron deviations. With
    ``replicate{copies=4}``, 8 chips at ridge 0.3 / 1 gave a 5th percentile of
    84.5 / 85.5 % over 20 other chips at 10 %, the ideal chip 87.2 %. The ideal chip
    with ``READOUT_FIT_RIDGE`` is the robust default.

    Of the first ``READOUT_FIT_SAMPLES`` of ``inputs``, each chip runs its share
    once (all of them on the ideal chip); the spikes of the layer feeding the last
    one (or the input) are recorded, and from then on only the last layer is
    emulated, fed with them (its weights do not change what feeds it).
    ``iterations`` times, ``readout_step`` (with ``ridge``, ``READOUT_FIT_RIDGE``)
    moves the weights towards the target counts (``readout_targets``: one-hot
    ``labels`` at the float network's level, else the float network's counts), and
    the weights are quantized again per core (``_requantize``: no other layer's
    realised weights move). The result is the iterate with the best accuracy on
    the samples over the chips (the earliest among equals), so fitting never lowers
    it there. A replicated graph's copies (``readout_copies``) share the targets.

    Returns:
        The graph (last layer meta: ``readout_fit_accuracy`` per iterate,
        ``readout_fit_chosen``, ``readout_fit_chips``) and the ``ReadoutFit``.

    Raises:
        ValueError: misshapen inputs or labels, or a graph that is not placed and
            quantized.
    """
    from backends.chain import readout_copies
    from backends.dynapse.emulator import DynapseEmulator
    from backends.dynapse.lower import _dt, _gain
    from backends.dynapse.mismatch import draw_chip
    from ir.ops.nn import Affine, Linear

    if iterations < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    x, _ = _reference(graph, np.asarray(inputs)[:READOUT_FIT_SAMPLES])
    y = None if labels is None else np.asarray(labels).reshape(-1)[: len(x)]
    if y is not None and y.shape[0] != x.shape[0]:
        raise ValueError(
            f"fit_readout: {x.shape[0]} calibration samples but {y.shape[0]} labels"
        )
    flat, last, node, source = _last_weight(graph)
    layer = flat.layers[last].node
    op = graph.op(node)
    assert isinstance(op, (Linear, Affine))
    copies = readout_copies(graph)
    targets = readout_targets(graph, x, y)
    goal = np.tile(targets.counts, (1, copies))
    gain = _gain(flat.layers[last].neuron, op.weight.shape[0], _dt(graph))
    i_scale = float(graph.meta(layer)["i_scale"])
    support, cap = _readout_bounds(op.weight, i_scale)
    config = config_from_graph(graph)
    net = decode.decode(config)
    out = decode.output_order(config, layer)
    own = net.weights_rec[np.ix_(out, out)]
    # Chip c runs its own share of the samples (all of them on the ideal chip).
    seeds: list[int | None] = [*chips] or [None]
    share = min(len(x), max(READOUT_FIT_MIN_SAMPLES, READOUT_FIT_SAMPLES // len(seeds)))
    picks = [(np.arange(share) + c * share) % len(x) for c in range(len(seeds))]
    feeds: list[np.ndarray] = []
    layer_params = []
    for seed, pick in zip(seeds, picks, strict=True):
        params = net.params
        if seed is not None:
            params = draw_chip(params, net.n_neurons, seed, relative_std=relative_std)
        layer_params.append(_columns(params, out))
        if source is None:
            feeds.append(x[pick])
            continue
        emu = DynapseEmulator(
            params,
            net.weights_in,
            net.weights_rec if net.weights_rec.any() else None,
            dt=net.dt,
        )
        spikes = emu.run(torch.from_numpy(x[pick])).spikes[0].numpy()
        src = decode.output_order(config, source)
        feeds.append(_delayed(spikes[..., src]).astype(np.uint8))
    hidden = np.concatenate([f.sum(axis=1) for f in feeds]).astype(np.float64)
    goal = np.concatenate([goal[pick] for pick in picks])
    classes = np.concatenate([targets.classes[pick] for pick in picks])

    def counts(weight: np.ndarray, fitted: Graph) -> np.ndarray:
        """The last layer's counts ``(samples, n)`` on every chip's share, with
        ``weight`` (threshold units times the gain: amperes over ``i_scale``) on
        the dendrites ``fitted`` assigns it."""
        current = np.zeros((*weight.T.shape, 4))
        dend = np.asarray(fitted.meta(node)["dendrites"]).T
        for d in range(4):
            current[..., d] = np.where(dend == d, np.abs(weight.T), 0) * i_scale
        rows = []
        for params, feed in zip(layer_params, feeds, strict=True):
            emu = DynapseEmulator(
                params, current, own if own.any() else None, dt=net.dt
            )
            run = emu.run(torch.from_numpy(feed.astype(np.float32)))
            rows.append(run.spikes[0].numpy().sum(axis=1))
        return np.concatenate(rows).astype(np.float64)

    def accuracy(c: np.ndarray) -> float:
        summed = c.reshape(c.shape[0], copies, -1).sum(axis=1)
        return float(np.mean(summed.argmax(axis=-1) == classes))

    weight = np.asarray(op.weight, np.float64) * gain[:, None]
    current, got = graph, counts(weight, graph)
    history = [accuracy(got)]
    # The targets' level follows what the chip counts, not the float network.
    top = np.median(got.reshape(got.shape[0], copies, -1).max(axis=2))
    level = max(float(np.median(goal.max(axis=1))), 1e-9)
    goal = goal * max(level_factor * float(top), 1.0) / level
    best, kept = 0, (graph, weight, got)
    trust = READOUT_TRUST_MAX / 2
    for _ in range(iterations):
        _, weight, got = kept
        step = readout_step(
            weight,
            hidden,
            got,
            goal,
            ridge=ridge,
            trust=trust,
        )
        weight = _within(step, support, cap)
        current, realised = _realise(graph, node, layer, weight, gain)
        got = counts(realised, current)
        history.append(accuracy(got))
        if history[-1] > history[best]:
            best, kept = len(history) - 1, (current, weight, got)
            trust = min(trust * 1.5, READOUT_TRUST_MAX)
        else:
            trust *= 0.5
    result = kept[0].copy()
    meta = result.meta(layer)
    meta["readout_fit_accuracy"] = np.round(np.asarray(history), 6)
    meta["readout_fit_chosen"] = best
    meta["readout_fit_chips"] = len(chips)
    return result, ReadoutFit(tuple(history), best, len(chips), len(hidden))
