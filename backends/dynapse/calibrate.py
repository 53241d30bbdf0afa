"""Choose the current scale of a Dynap-SE2 lowering from data, without labels.

The translation (``backends/dynapse/lower.py``) maps one unit of a layer's input to
``i_scale`` amperes. The chip's neuron is a nonlinear current-mode circuit, so no
single value is right for every network: ``choose_i_scale`` compiles the graph at each
candidate, runs the ideal (mismatch-free) chip on calibration spikes, and keeps the
scale whose outputs agree best with the float SNN's on the same spikes: the fraction
of samples whose decision (the output neuron with the most spikes) agrees, plus the
correlation of the output spike counts, minus half the absolute log ratio of their
totals (``_score``); ties go to the smaller current (less power).

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

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from backends.dynapse import decode
from backends.dynapse.lower import allocate_graph, config_from_graph, quantize_graph
from backends.dynapse.routing import DynapseSystem
from ir import Graph, interpret

__all__ = [
    "AUTO_INPUT_RATES",
    "AUTO_SAMPLES",
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


def _best(scores: dict[float, tuple[float, float, float]]) -> float:
    return max(scores, key=lambda s: (_score(*scores[s]), -s))


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
) -> tuple[float, dict[float, float]]:
    """The candidate ``i_scale`` whose ideal chip best agrees with the float graph.

    Args:
        graph: the float SNN (a chain ``lower_to_config`` accepts), placed or not.
        spikes: calibration input spikes ``(B, T, Nin)``.
        candidates: amperes per unit to try (every one is compiled and run).
        system: the hardware (default one chip).

    Returns:
        The chosen scale and the agreement (fraction of samples) of every candidate.
    """
    if not candidates:
        raise ValueError("no candidate i_scale given")
    x, reference = _reference(graph, spikes)
    scores = {
        float(s): _evaluate(graph, x, reference, float(s), system) for s in candidates
    }
    return _best(scores), {s: v[0] for s, v in scores.items()}


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
    coarse = _best(scores)
    tryout([s for s in DEFAULT_CANDIDATES if coarse / 10 < s < coarse * 10])
    return ScaleChoice(
        _best(scores),
        {s: v[0] for s, v in scores.items()},
        {s: v[1] for s, v in scores.items()},
        {s: v[2] for s, v in scores.items()},
    )
