"""Lower a float SNN graph to a ``XyloConfig``.

Accepted graphs (the shape rockpool's mapper accepts, reference ``xylo.md`` §3)::

    io.input (n <= 16) -> nn.linear|nn.affine -> snn.lif|snn.cubalif     (hidden)
        [-> nn.linear|nn.affine -> snn.lif|snn.cubalif ...]              (hidden)
        -> nn.linear|nn.affine -> snn.lif|snn.cubalif -> io.output       (output)

Each hidden layer may have one recurrent ``nn.linear`` from itself back to itself
(a ``recurrent`` edge). Neurons use ``reset = "subtract"`` at ``v_threshold``,
``v_init = 0``; hidden layers ``max_spikes = 31`` and the output layer
``max_spikes = 1`` (the chip's spike-loop caps, §2). Anything else raises
``ValueError`` (or ``ResourceError`` for a limit) naming the node.

**Mapping.** With ``a = exp(-dt/tau_mem)`` the float membrane is
``v[t] = a v[t-1] + (1 - a)(v_leak + r I[t])``; the chip's is
``V[t] = D_mem(V[t-1]) + I_syn[t] + b``. So ``dash_mem = fit_dash(tau_mem)``,
``b = (1 - a) v_leak`` (plus the affine bias, below), ``threshold = v_threshold``,
and the synaptic current is the membrane's input ``(1 - a) r I``.

* ``snn.cubalif``: ``dash_syn = fit_dash(tau_syn)``.
* ``snn.lif`` has no synapse. NOTE: dash 0 would clear the current before it reaches
  the membrane (§2 "Edge cases"), so the smallest dash that passes current is 1: the
  shortest synapse the chip has (tau ~1.44 dt). It is used, and the weights keep the
  total charge an event delivers (below), so only its timing is smeared: half in the
  event's step, a quarter in the next, and so on.

Weights preserve the charge one event delivers to the membrane: the chip's synapse
(decay ``b = 1 - 2^-dash_syn``, decay applied after the addition) turns an event of
weight ``w`` into ``b w, b^2 w, ...``, a total of ``w b / (1 - b)``; the float model
delivers ``(1 - a) r w_in W`` (``w_in = 1`` for ``snn.lif``). Hence
``w_hw = (1 - a) r w_in W (1 - b) / b`` (``= (1 - a) r W`` at dash 1). An
``nn.affine`` bias ``c`` is a constant input: it adds its steady-state contribution
``(1 - a) r w_in c`` to the neuron's bias.

Then ``quantize`` scales each neuron into the registers, ``allocate`` places the
neurons on hardware ids (over the whole core, ``n_ids = variant.n_hidden``, the
layout ``XyloConfig`` stores), and ``neuron_map`` records ``"layer:index" ->
[kind, id]`` (kind ``input``, ``hidden`` or ``output``; ``layer`` is the node name).
The configuration covers the whole core: the graph's inputs are channels
``0..n-1`` of the chip's 16, its outputs readout channels ``0..Nout-1``.

**Delay.** NOTE: the chip delivers hidden spikes to other hidden neurons and to the
readout one step later (§2 "Recurrent and inter-layer delay"); the float graph has no
delay between layers. With ``L`` hidden layers, the chip's output at step ``t + L``
corresponds to the float graph's at step ``t`` (``hop_delay`` returns ``L``).
Recurrent edges already read the previous step in both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from backends.xylo.allocate import allocate
from backends.xylo.config import XyloConfig
from backends.xylo.dash import dash_to_decay, fit_dash
from backends.xylo.quantize import quantize
from backends.xylo.variants import VARIANTS, XyloVariant
from ir import Graph, verify
from ir.op import Op
from ir.ops.io import Input, Output
from ir.ops.nn import Affine, Linear
from ir.ops.snn import LIF, CubaLIF

__all__ = ["hop_delay", "lower_to_config"]


@dataclass(frozen=True)
class _Layer:
    """One neuron layer of the chain: its node, its input weights, its recurrence."""

    node: str
    neuron: Op
    weight: Linear | Affine
    recurrent: Linear | Affine | None


@dataclass(frozen=True)
class _Dynamics:
    """Chip parameters of one layer, per neuron, in float (before quantization)."""

    dash_syn: np.ndarray
    dash_mem: np.ndarray
    w_scale: np.ndarray  # multiplies incoming float weights (per target neuron)
    bias: np.ndarray
    threshold: np.ndarray


def _lif(
    layer: _Layer, n: int, dt: float, bits: int
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """``snn.lif``: no synapse (dash 1 chosen), membrane tau, gain ``r``."""
    op = layer.neuron
    assert isinstance(op, LIF)  # the table dispatches on the type
    return None, _per_neuron(op.tau, n), _per_neuron(op.r, n)


def _cubalif(
    layer: _Layer, n: int, dt: float, bits: int
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """``snn.cubalif``: synapse tau, membrane tau, gain ``r w_in``."""
    op = layer.neuron
    assert isinstance(op, CubaLIF)  # the table dispatches on the type
    gain = _per_neuron(op.r, n) * _per_neuron(op.w_in, n)
    return _per_neuron(op.tau_syn, n), _per_neuron(op.tau_mem, n), gain


_NEURONS: dict[
    type[Op],
    Callable[
        [_Layer, int, float, int],
        tuple[np.ndarray | None, np.ndarray, np.ndarray],
    ],
] = {LIF: _lif, CubaLIF: _cubalif}
"""Per-op lowering: neuron op -> (tau_syn or None, tau_mem, input gain)."""

_WEIGHTS = (Linear, Affine)


def _per_neuron(value: np.ndarray, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, np.float64), (n,)).copy()


def _chain(graph: Graph) -> tuple[str, list[_Layer]]:
    """The input node and the neuron layers in order; raise on any other shape."""
    inputs = graph.inputs()
    if len(inputs) != 1 or not isinstance(graph.op(inputs[0]), Input):
        raise ValueError(f"expected one io.input, found {inputs}")
    node = inputs[0]
    layers: list[_Layer] = []
    while True:
        recurrent = [
            u
            for u in graph.users(node)
            if layers and isinstance(graph.op(u), _WEIGHTS) and graph.users(u) == [node]
        ]
        forward = [u for u in graph.users(node) if u not in recurrent]
        if len(forward) != 1:
            raise ValueError(
                f"node '{node}' feeds {forward or 'nothing'}; Xylo takes a chain of "
                "layers (one forward user per layer)"
            )
        nxt = forward[0]
        if isinstance(graph.op(nxt), Output):
            if not layers:
                raise ValueError(f"node '{nxt}': io.output reads the input directly")
            return inputs[0], layers
        weight = graph.op(nxt)
        if not isinstance(weight, _WEIGHTS):
            raise ValueError(
                f"node '{nxt}': {weight.name} is not supported on Xylo here; expected "
                "nn.linear or nn.affine"
            )
        users = graph.users(nxt)
        if len(users) != 1 or type(graph.op(users[0])) not in _NEURONS:
            raise ValueError(
                f"node '{nxt}' must feed exactly one snn.lif or snn.cubalif, "
                f"feeds {users}"
            )
        neuron = users[0]
        rec = _recurrence(graph, neuron, nxt)
        layers.append(_Layer(neuron, graph.op(neuron), weight, rec))
        node = neuron


def _recurrence(graph: Graph, neuron: str, forward: str) -> Linear | Affine | None:
    others = [e for e in graph.in_edges(neuron) if e.src != forward]
    if not others:
        return None
    edge = others[0]
    op = graph.op(edge.src)
    if (
        len(others) != 1
        or not edge.recurrent
        or not isinstance(op, _WEIGHTS)
        or graph.producers(edge.src) != [neuron]
    ):
        raise ValueError(
            f"node '{neuron}': inputs {graph.producers(neuron)}; Xylo takes one "
            "feed-forward weight and at most one recurrent nn.linear from the same "
            "layer"
        )
    return op


def _check_neuron(layer: _Layer, cap: int) -> None:
    op = layer.neuron
    where = f"node '{layer.node}' ({op.name})"
    if getattr(op, "reset", None) != "subtract":
        raise ValueError(f"{where}: Xylo resets by subtraction; set reset = subtract")
    if getattr(op, "max_spikes", None) != cap:
        raise ValueError(
            f"{where}: max_spikes = {getattr(op, 'max_spikes', None)}, the chip "
            f"spikes up to {cap} times per step in this layer"
        )
    v_subtract = getattr(op, "v_subtract", None)
    if v_subtract is not None and not np.array_equal(
        np.broadcast_to(v_subtract, np.shape(op.v_threshold)),  # type: ignore[attr-defined]
        op.v_threshold,  # type: ignore[attr-defined]
    ):
        raise ValueError(f"{where}: the chip subtracts v_threshold, not v_subtract")
    if np.any(np.asarray(getattr(op, "v_init", 0.0)) != 0):
        raise ValueError(f"{where}: the chip starts from V = 0; v_init must be 0")


def _dynamics(layer: _Layer, n: int, dt: float, spec: XyloVariant) -> _Dynamics:
    tau_syn, tau_mem, gain = _NEURONS[type(layer.neuron)](layer, n, dt, spec.dash_bits)
    op = layer.neuron
    fit = fit_dash(
        tau_mem, dt, dash_bits=spec.dash_bits, what=f"tau_mem of layer '{layer.node}'"
    )
    if tau_syn is None:
        dash_syn = np.ones(n, np.int64)
    else:
        dash_syn = fit_dash(
            tau_syn,
            dt,
            dash_bits=spec.dash_bits,
            what=f"tau_syn of layer '{layer.node}'",
        ).dash
    leak = -np.expm1(-dt / tau_mem)  # 1 - a, the float model's input gain
    b = dash_to_decay(dash_syn)
    w_scale = leak * gain * (1.0 - b) / b
    bias = leak * _per_neuron(op.v_leak, n)  # type: ignore[attr-defined]
    if isinstance(layer.weight, Affine):
        bias = bias + leak * gain * np.asarray(layer.weight.bias, np.float64)
    return _Dynamics(
        dash_syn=dash_syn,
        dash_mem=fit.dash,
        w_scale=w_scale,
        bias=bias,
        threshold=_per_neuron(op.v_threshold, n),  # type: ignore[attr-defined]
    )


def hop_delay(graph: Graph) -> int:
    """Steps the chip's output lags the float graph's: the number of hidden layers."""
    _, layers = _chain(graph)
    return len(layers) - 1


def lower_to_config(graph: Graph, variant: str | XyloVariant) -> XyloConfig:
    """Lower a float SNN graph (module docstring) to a ``XyloConfig`` for ``variant``.

    Raises:
        ValueError: an unsupported graph structure or neuron setting (naming the
            node); ``ResourceError`` (a ``ValueError``) for a hardware limit.
    """
    spec = VARIANTS[variant] if isinstance(variant, str) else variant
    verify(graph)
    if graph.dt is None:
        raise ValueError(f"graph @{graph.name} has no dt; Xylo needs the time step")
    dt = float(graph.dt)
    inp, layers = _chain(graph)
    if len(layers) < 2:
        raise ValueError(
            f"node '{layers[0].node}': Xylo needs at least one hidden layer before "
            "the output layer"
        )
    *hidden, output = layers
    if output.recurrent is not None:
        raise ValueError(
            f"node '{output.node}': output neurons cannot be recurrent on Xylo"
        )
    for layer in hidden:
        _check_neuron(layer, spec.max_hidden_spikes)
    _check_neuron(output, spec.max_output_spikes)

    n_in = graph.shape(inp)[0]
    sizes = [graph.shape(layer.node)[0] for layer in hidden]
    n_out = graph.shape(output.node)[0]
    offsets = np.cumsum([0, *sizes])
    n = int(offsets[-1])
    dyn = [
        _dynamics(layer, size, dt, spec)
        for layer, size in zip(hidden, sizes, strict=True)
    ]
    out_dyn = _dynamics(output, n_out, dt, spec)

    w_in = np.zeros((n_in, n, 1))
    w_rec = np.zeros((n, n, 1))
    for k, (layer, d) in enumerate(zip(hidden, dyn, strict=True)):
        cols = slice(offsets[k], offsets[k + 1])
        incoming = np.asarray(layer.weight.weight, np.float64).T * d.w_scale
        if k == 0:
            w_in[:, cols, 0] = incoming
        else:
            w_rec[offsets[k - 1] : offsets[k], cols, 0] = incoming
        if layer.recurrent is not None:
            if isinstance(layer.recurrent, Affine):
                raise ValueError(
                    f"node '{layer.node}': the recurrent weight must be nn.linear"
                )
            rec = np.asarray(layer.recurrent.weight, np.float64).T * d.w_scale
            w_rec[cols, cols, 0] += rec
    w_out = np.zeros((n, n_out))
    w_out[offsets[-2] :, :] = (
        np.asarray(output.weight.weight, np.float64).T * out_dyn.w_scale
    )

    names = [(layer.node, size) for layer, size in zip(hidden, sizes, strict=True)]

    def cat(field: str) -> np.ndarray:
        return np.concatenate([getattr(d, field) for d in dyn])

    q = quantize(
        spec,
        w_in,
        w_rec,
        w_out,
        cat("threshold"),
        out_dyn.threshold,
        cat("bias"),
        out_dyn.bias,
        layers=names,
        output_layer=output.node,
    )
    alloc = allocate(
        spec,
        q.weights_in,
        q.weights_rec,
        q.weights_out,
        n_ids=spec.n_hidden,
        layers=names,
        output_layer=output.node,
    )
    hw_in, hw_rec, hw_out = alloc.permute(q.weights_in, q.weights_rec, q.weights_out)
    # The configuration covers the whole core: unused input channels have no
    # weights and unused readout neurons never fire (zero weights, bias 0).
    hw_in = np.pad(hw_in, ((0, spec.n_inputs - n_in), (0, 0), (0, 0)))
    hw_out = np.pad(hw_out, ((0, 0), (0, spec.n_outputs - n_out)))
    pad_out = (0, spec.n_outputs - n_out)
    neuron_map: dict[str, list[object]] = {
        f"{inp}:{c}": ["input", c] for c in range(n_in)
    }
    for (name, size), start in zip(names, offsets[:-1], strict=True):
        for i in range(size):
            neuron_map[f"{name}:{i}"] = ["hidden", int(alloc.hidden_ids[start + i])]
    for k in range(n_out):
        neuron_map[f"{output.node}:{k}"] = ["output", int(alloc.output_ids[k])]
    regs = q.registers()
    return XyloConfig.from_registers(
        spec.name,
        weights_in=hw_in,
        weights_rec=hw_rec,
        weights_out=hw_out,
        dash_mem=alloc.permute_hidden(cat("dash_mem"), fill=1),
        dash_syn=alloc.permute_hidden(cat("dash_syn"), fill=1),
        dash_mem_out=np.pad(out_dyn.dash_mem, pad_out, constant_values=1),
        dash_syn_out=np.pad(out_dyn.dash_syn, pad_out, constant_values=1),
        threshold=alloc.permute_hidden(q.threshold, fill=32767),
        threshold_out=np.pad(q.threshold_out, pad_out, constant_values=32767),
        bias=alloc.permute_hidden(q.bias, fill=0),
        bias_out=np.pad(q.bias_out, pad_out),
        weight_shift_in=regs["weight_shift_in"],
        weight_shift_rec=regs["weight_shift_rec"],
        weight_shift_out=regs["weight_shift_out"],
        dt=dt,
        neuron_map=neuron_map,
    )
