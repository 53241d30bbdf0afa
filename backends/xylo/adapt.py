"""Semantics adapters: a float SNN chain rewritten into what the Xylo chip computes.

``quantize-xylo`` takes neurons in the chip's own terms (``backends/xylo/lower.py``):
subtractive reset at the threshold, the chip's spike caps (31 per hidden neuron and
step, 1 per output neuron; reference ``xylo.md`` §1, §2, fixed in hardware on every
variant), membranes starting at 0. Networks trained elsewhere differ; each rule below
names one difference, rewrites the graph to the chip's nearest behaviour and records
``(pass, what, from, to)`` in the node's ``meta["adapted"]``:

* ``zero-reset``: ``reset = "zero"`` (to ``v_reset = 0``) becomes a subtraction of
  ``theta`` plus the neuron's mean surplus ``v - theta`` at its spikes, measured on
  the float graph with the ``calibration`` input (else a seeded random raster,
  ``SURPLUS_RATE`` events per channel and step): ``v_subtract = theta + surplus``,
  which ``delayed-subtract`` then maps. Subtracting only ``theta`` kept the surplus
  and doubled the spike counts of the Norse and snnTorch zero-reset fixtures. A
  ``v_reset`` other than 0 is refused.
* ``delayed-subtract``: ``v_subtract = s != v_threshold`` (snnTorch's reset, applied
  after the next decay, imports as ``s = theta / beta``). The chip subtracts
  ``theta`` at once. For a hidden ``snn.lif``/``snn.if`` the rest,
  ``a (s - theta)``, arrives one step later through a recurrent self-weight
  ``-a (s - theta) / ((1 - a) r)`` (``-(s - theta) / (dt r)`` for ``snn.if``):
  **exact** in the float graph (at one spike per step). Elsewhere it is approximate:
  a hidden ``snn.cubalif`` gets the same charge through its synapse (self-weight
  divided by ``w_in``; the charge arrives smeared over ``tau_syn``); output neurons
  cannot be recurrent on Xylo, so an output layer spikes at ``s`` and subtracts
  ``s`` (its threshold becomes ``s``), which agreed better on the fixtures than
  keeping ``theta`` and subtracting only ``theta``.
* ``spike-cap``: ``max_spikes`` becomes the chip's cap (31 hidden, 1 output): a
  hidden neuron the graph caps at 1 spike per step emits at once the spikes it
  would have spread over later steps; an output neuron allowed several emits one
  and keeps the rest in its membrane.
* ``v-init``: a membrane that starts at ``v_init != 0`` starts at 0 (a transient of
  about ``tau_mem``).
* ``bias-form``: a constant input (an ``nn.affine`` bias) into a neuron with a
  synapse (``snn.cubalif``, ``snn.li`` filters) is filtered by the synapse in the
  graph and becomes the chip's membrane bias at its steady-state value: it differs
  for the first ``tau_syn`` steps. The graph is unchanged (the lowering maps it, as
  it always did): recorded and refused by ``strict``, but it does not warn.

Every other approximate rule warns (``compiler.AdapterWarning``, naming the node and the
difference); ``strict`` refuses instead with ``AdapterError`` listing them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from backends.chain import Layer, layer_chain
from backends.xylo.variants import XyloVariant
from compiler.errors import AdapterWarning
from ir import Graph, interpret
from ir.op import Op
from ir.ops.nn import Affine, Linear
from ir.ops.snn import IF, LIF, CubaLIF

__all__ = [
    "ADAPTER_RULES",
    "SURPLUS_RATE",
    "AdapterError",
    "Adaptation",
    "adapt_graph",
    "reset_surplus",
]

ADAPTER_RULES = (
    "zero-reset",
    "delayed-subtract",
    "refire-offset",
    "v-min",
    "spike-cap",
    "v-init",
    "bias-form",
)
"""The adapters' rule names, in the order they are applied to a layer."""

SURPLUS_RATE = 0.2
"""Events per input channel and step of the seeded raster that measures the reset
surplus when no ``calibration`` input is given (8 samples of 100 steps, seed 0)."""

_PASS = "adapt-xylo"
_NEURONS = (LIF, CubaLIF, IF)


class AdapterError(ValueError):
    """``strict``: the network differs from what the chip computes (lists each
    difference with its node)."""


@dataclass(frozen=True, kw_only=True)
class Adaptation:
    """One recorded change.

    Attributes:
        node: the neuron node changed (or whose input was).
        rule: one of ``ADAPTER_RULES``.
        before: what the graph said.
        after: what the chip does instead.
        exact: whether the rewritten graph computes the same as before.
        warns: whether the approximation warns (``bias-form`` does not: only the
            first ``tau_syn`` steps differ; it is recorded, and ``strict`` refuses
            it).
    """

    node: str
    rule: str
    before: str
    after: str
    exact: bool
    warns: bool = True

    def message(self) -> str:
        """One line for warnings and errors."""
        how = "exact rewrite" if self.exact else "approximation"
        return f"node '{self.node}': {self.rule}: {self.before} -> {self.after} ({how})"


def adapt_graph(
    graph: Graph,
    variant: XyloVariant,
    *,
    strict: bool = False,
    calibration: object = None,
) -> tuple[Graph, list[Adaptation]]:
    """Rewrite ``graph``'s neurons into the chip's semantics (module docstring).

    Args:
        graph: a float SNN chain (recurrent biases already folded).
        variant: the Xylo variant (spike caps).
        strict: refuse approximations instead of making them.
        calibration: ``(batch, time, *input shape)`` input on which the zero-reset
            surplus is measured; ``None``: a seeded random raster.

    Returns:
        The new graph (``graph`` is not modified) and what changed. Each
        approximation warns with ``AdapterWarning``.

    Raises:
        AdapterError: ``strict`` and an approximation is needed, or a difference no
            adapter bridges (naming the node).

    A graph that is not a chain of neuron layers is returned unchanged (the
    lowering names what it cannot take).
    """
    if graph.dt is None:
        raise ValueError(f"graph @{graph.name} has no dt; Xylo needs the time step")
    out = graph.copy()
    try:
        inp, layers = layer_chain(out, _NEURONS, (LIF, IF))
    except ValueError:
        # NOTE: not a chain of neuron layers (e.g. conv layers, which other lowerings
        # may take): nothing to adapt here; quantize-xylo checks the neurons itself.
        return out, []
    dt = float(graph.dt)
    surplus: dict[str, np.ndarray] = {}
    source = ""
    if any(getattr(layer.neuron, "reset", None) == "zero" for layer in layers):
        x, source = _surplus_input(graph, inp, calibration)
        surplus = reset_surplus(graph, layers, x)
    done: list[Adaptation] = []
    for k, layer in enumerate(layers):
        hidden = k < len(layers) - 1
        done += _adapt_layer(out, layer, hidden, variant, dt, surplus, source)
    approximate = [a for a in done if not a.exact]
    if strict and approximate:
        lines = "\n  ".join(a.message() for a in approximate)
        raise AdapterError(
            f"strict: {variant.name} computes this network only approximately:\n  "
            f"{lines}\n(strict=false adapts and warns instead)"
        )
    for a in done:
        meta = out.meta(a.node)
        what = a.rule if a.exact else f"{a.rule} (approximate)"
        meta["adapted"] = (*meta.get("adapted", ()), (_PASS, what, a.before, a.after))
    for a in (a for a in approximate if a.warns):
        warnings.warn(
            f"{a.message()} on {variant.name}; pass strict=true (spikeforge compile "
            "--strict) to refuse instead",
            AdapterWarning,
            stacklevel=3,
        )
    return out, done


def _surplus_input(graph: Graph, inp: str, calibration: object) -> tuple[Any, str]:
    shape = graph.shape(inp)
    if calibration is None:
        rng = np.random.default_rng(0)
        raster = (rng.random((8, 100, *shape)) < SURPLUS_RATE).astype(np.float64)
        return raster, f"a seeded random raster at rate {SURPLUS_RATE}"
    x = torch.as_tensor(calibration, dtype=torch.float64)
    if x.ndim != len(shape) + 2 or tuple(x.shape[2:]) != tuple(shape):
        raise ValueError(
            f"input '{inp}': calibration must be (batch, time, "
            f"{', '.join(map(str, shape))}) to measure the reset surplus, got shape "
            f"{tuple(x.shape)}"
        )
    return x, "the calibration input"


def _vec(value: object, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, np.float64), (n,)).copy()


def _fmt(values: np.ndarray) -> str:
    lo, hi = float(np.min(values)), float(np.max(values))
    return f"{lo:.4g}" if lo == hi else f"{lo:.4g}..{hi:.4g}"


def _adapt_layer(
    graph: Graph,
    layer: Layer,
    hidden: bool,
    spec: XyloVariant,
    dt: float,
    surplus: dict[str, np.ndarray],
    source: str,
) -> list[Adaptation]:
    node, op = layer.node, layer.neuron
    n = graph.shape(node)[0]
    theta = _vec(op.v_threshold, n)  # type: ignore[attr-defined]
    done: list[Adaptation] = []
    changes: dict[str, Any] = {}

    def note(rule: str, before: str, after: str, exact: bool = False) -> None:
        done.append(
            Adaptation(
                node=node,
                rule=rule,
                before=before,
                after=after,
                exact=exact,
                warns=rule != "bias-form",
            )
        )

    if op.reset == "zero":  # type: ignore[attr-defined]
        v_reset = _vec(op.v_reset, n)  # type: ignore[attr-defined]
        if np.any(v_reset != 0):
            raise AdapterError(
                f"node '{node}' ({op.name}): reset to v_reset = {_fmt(v_reset)}; Xylo "
                "resets by subtracting the threshold and has no reset value"
            )
        extra = surplus.get(node, np.zeros(n))
        changes["reset"] = "subtract"
        # Stated as a subtraction of theta + surplus; delayed-subtract maps it below.
        op = op.replace(reset="subtract", v_subtract=theta + extra, max_spikes=1)
        note(
            "zero-reset",
            "reset to 0 after a spike",
            f"subtract the threshold plus the mean surplus {_fmt(extra)} at a spike "
            f"(measured on {source})",
        )
    v_subtract = getattr(op, "v_subtract", None)
    if v_subtract is not None and not np.array_equal(_vec(v_subtract, n), theta):
        s = _vec(v_subtract, n)
        changes["v_subtract"] = None
        alone = len(layer.synapses) == 1 and layer.synapses[0].filter is None
        weight = _self_weight(op, n, s - theta, dt) if hidden and alone else None
        before = f"subtract {_fmt(s)} at threshold {_fmt(theta)}" + (
            " (the zero-reset amount)" if "reset" in changes else ""
        )
        if weight is not None:
            _add_self_loop(graph, layer, weight)
            exact = not isinstance(op, CubaLIF)
            via = "self-weight" if exact else "self-weight through the synapse"
            note(
                "delayed-subtract",
                before,
                f"subtract the threshold, the rest one step later by a recurrent {via}",
                exact,
            )
        else:
            changes["v_threshold"] = s.astype(np.float32)
            why = "output neurons cannot be recurrent" if not hidden else "no self-loop"
            note(
                "delayed-subtract",
                before,
                f"threshold raised to {_fmt(s)}, subtracting it ({why})",
            )
    refire = getattr(op, "refire_offset", None)
    if refire is not None:
        # snnTorch's reset_delay=False keeps its delayed reset in the spike test (a
        # membrane left above theta needs theta + offset to fire again); the chip
        # spikes at theta after every reset.
        changes["refire_offset"] = None
        note(
            "refire-offset",
            f"fire again only above threshold + {_fmt(_vec(refire, n))} while the "
            "membrane stays above threshold",
            "fire at the threshold after every reset (the chip's one threshold)",
        )
    v_min = getattr(op, "v_min", None)
    if v_min is not None:
        changes["v_min"] = None
        note(
            "v-min",
            f"membrane floor v_min = {_fmt(_vec(v_min, n))}",
            "no floor (the chip's membrane only saturates at the int16 limit)",
        )
    cap = spec.max_hidden_spikes if hidden else spec.max_output_spikes
    max_spikes = int(layer.neuron.max_spikes)  # type: ignore[attr-defined]
    if max_spikes != cap:
        changes["max_spikes"] = cap
        note(
            "spike-cap",
            f"max_spikes = {max_spikes}",
            f"max_spikes = {cap} (the chip's fixed cap for "
            f"{'hidden' if hidden else 'output'} neurons)",
        )
    v_init = _vec(getattr(op, "v_init", 0.0), n)
    if np.any(v_init != 0):
        changes["v_init"] = np.zeros((), np.float32)
        note("v-init", f"v_init = {_fmt(v_init)}", "v_init = 0 (the chip starts at 0)")
    filtered = isinstance(op, CubaLIF) or any(s.filter for s in layer.synapses)
    biases = [
        np.asarray(s.weight.bias)
        for s in layer.synapses
        if isinstance(s.weight, Affine)
    ]
    if filtered and any(np.any(b != 0) for b in biases):
        note(
            "bias-form",
            "constant input (nn.affine bias) filtered by the synapse",
            "membrane bias at its steady-state value from the first step",
        )
    if changes:
        graph.replace(node, layer.neuron.replace(**changes))
    return done


def _self_weight(op: Op, n: int, extra: np.ndarray, dt: float) -> np.ndarray | None:
    """Weight on the neuron's input that adds ``-a extra`` to ``v`` one step later."""
    if isinstance(op, IF):
        gain = dt * _vec(op.r, n)
        decay = np.ones(n)
    elif isinstance(op, LIF):
        decay = np.exp(-dt / _vec(op.tau, n))
        gain = -np.expm1(-dt / _vec(op.tau, n)) * _vec(op.r, n)
    elif isinstance(op, CubaLIF):
        # Through the synapse: (1 - b) w_in per unit of input, summed over its decay,
        # is w_in of charge into the membrane's input (matched in total, not timing).
        decay = np.exp(-dt / _vec(op.tau_mem, n))
        gain = -np.expm1(-dt / _vec(op.tau_mem, n)) * _vec(op.r, n) * _vec(op.w_in, n)
    else:
        return None
    if np.any(gain == 0) or not np.all(np.isfinite(gain)):
        return None
    return -decay * extra / gain


def _add_self_loop(graph: Graph, layer: Layer, weight: np.ndarray) -> None:
    """Add ``diag(weight)`` to the layer's recurrent weight (made if missing)."""
    node = layer.node
    (synapse,) = layer.synapses[:1]
    diag = np.diag(weight)
    for name in graph.producers(node):
        op = graph.op(name)
        if isinstance(op, Linear) and op is synapse.recurrent:
            w = np.asarray(op.weight, np.float64) + diag
            graph.replace(name, Linear(weight=w))
            return
    loop = graph.fresh_name(f"{node}.reset")
    graph.add(loop, Linear(weight=diag))
    graph.connect(node, loop, recurrent=True)
    graph.connect(loop, node)


def reset_surplus(graph: Graph, layers: list[Layer], x: Any) -> dict[str, np.ndarray]:
    """Per zero-reset neuron, the mean ``v - v_threshold`` at its spikes on ``x``.

    The membrane before the reset is recomputed from the recorded state after the
    previous step and the step's input (the reset loses it). A neuron that never
    spikes takes its layer's mean (0 if the layer is silent).
    """
    _, rec = interpret(graph, torch.as_tensor(x, dtype=torch.float64), record=True)
    found: dict[str, np.ndarray] = {}
    dt = float(graph.dt or 1.0)
    for layer in layers:
        op = layer.neuron
        if getattr(op, "reset", None) != "zero":
            continue
        n_out = rec[layer.node]["output"].numpy()
        v_post = rec[layer.node]["v"].numpy()
        prev = np.concatenate([np.zeros_like(v_post[:, :1]), v_post[:, :-1]], axis=1)
        prev[:, :1] = np.asarray(getattr(op, "v_init", 0.0), np.float64)
        if isinstance(op, CubaLIF):
            drive = rec[layer.node]["i"].numpy()
            tau = np.asarray(op.tau_mem, np.float64)
        else:
            drive = 0.0
            for e in graph.in_edges(layer.node):
                y = rec[e.src]["output"].numpy()
                if e.recurrent:
                    y = np.concatenate([np.zeros_like(y[:, :1]), y[:, :-1]], axis=1)
                drive = drive + y
            tau = np.asarray(getattr(op, "tau", np.inf), np.float64)
        r = np.asarray(op.r, np.float64)  # type: ignore[attr-defined]
        if isinstance(op, IF):
            v_pre = prev + dt * r * drive
        else:
            a = np.exp(-dt / tau)
            v_pre = a * prev + (1 - a) * (_leak_of(op) + r * drive)
        theta = np.asarray(op.v_threshold, np.float64)  # type: ignore[attr-defined]
        fired = n_out > 0
        over = np.where(fired, v_pre - theta, 0.0)
        count = fired.sum(axis=(0, 1))
        total = over.sum(axis=(0, 1))
        mean_all = total.sum() / max(int(count.sum()), 1)
        found[layer.node] = np.where(count > 0, total / np.maximum(count, 1), mean_all)
    return found


def _leak_of(op: Op) -> np.ndarray:
    return np.asarray(op.v_leak, np.float64)  # type: ignore[attr-defined]
