"""Lower a float SNN graph to a ``XyloConfig``: ``quantize_graph`` (the
``quantize-xylo`` pass), ``allocate_graph`` (``allocate-xylo``), ``config_from_graph``.

Accepted graphs (the shape rockpool's mapper accepts, reference ``xylo.md`` §3)::

    io.input (n <= 16) -> W -> N                                 (hidden)
        [-> W -> N ...]                                          (hidden)
        -> W -> snn.lif|snn.cubalif|snn.if -> io.output          (output)

where ``W`` is ``nn.linear`` or ``nn.affine`` and ``N`` is ``snn.lif``, ``snn.cubalif``
or ``snn.if`` (one synapse), or, for two synaptic time constants (hidden layers on
variants with two synapses), two weights each through an ``snn.li`` filter (the
synapse: ``tau`` its time constant, ``v_leak = 0``) into one ``snn.lif`` or ``snn.if``.
Each hidden synapse may have one recurrent ``nn.linear`` from its own layer (a
``recurrent`` edge on either side of the weight, as written or as imported from
NIR). Neurons use ``reset = "subtract"`` at ``v_threshold``, ``v_init = 0``; hidden
layers ``max_spikes = 31`` and the output layer ``max_spikes = 1`` (the chip's
spike-loop caps, §2). Anything else raises ``ValueError`` (or ``ResourceError`` for
a limit) naming the node.

**Mapping.** With ``a = exp(-dt/tau_mem)`` the float membrane is
``v[t] = a v[t-1] + (1 - a)(v_leak + r I[t])``; the chip's is
``V[t] = D_mem(V[t-1]) + I_syn[t] + b``. So ``dash_mem = fit_dash(tau_mem)``,
``b = (1 - a) v_leak`` (plus the affine bias, below), ``threshold = v_threshold``,
and the synaptic current is the membrane's input ``(1 - a) r I``.

* ``snn.cubalif``: ``dash_syn = fit_dash(tau_syn)``; an ``snn.li`` filter: its ``tau``
  (and its gain ``r`` joins the weights).
* ``snn.if`` does not leak: the chip's slowest leak (largest dash) stands in for it, and
  its per-step gain is ``dt r`` instead of ``(1 - a) r``.
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

Then ``quantize`` scales each neuron into the registers (``quantize_graph`` returns
``io.input -> xylo.core -> io.output`` in logical neuron order, with the layers and
per-layer errors in the core's ``meta``), ``allocate`` places the neurons on hardware
ids (compact: ``N`` ids, windows counted from both ends), and ``config_from_graph``
records ``neuron_map``: ``"layer:index" -> [kind, id]`` (kind ``input``, ``hidden``
or ``output``; ``layer`` is the node name). The graph's inputs are channels ``0..n-1``
of the chip's 16, its outputs readout channels ``0..Nout-1``.

**Delay.** NOTE: the chip delivers hidden spikes to other hidden neurons and to the
readout one step later (§2 "Recurrent and inter-layer delay"); the float graph has no
delay between layers. With ``L`` hidden layers, the chip's output at step ``t + L``
corresponds to the float graph's at step ``t`` (``hop_delay`` returns ``L``).
Recurrent edges already read the previous step in both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from backends.chain import Layer, layer_chain
from backends.xylo.allocate import ResourceError, allocate
from backends.xylo.config import ARRAY_NAMES, XyloConfig
from backends.xylo.dash import dash_to_decay, fit_dash
from backends.xylo.ops import XyloCore
from backends.xylo.quantize import DEFAULT_V_HEADROOM, QuantizedNetwork, quantize
from backends.xylo.variants import VARIANTS, XyloVariant
from ir import Graph, verify
from ir.op import Op
from ir.ops.nn import Affine
from ir.ops.snn import IF, LIF, CubaLIF

__all__ = [
    "allocate_graph",
    "config_from_graph",
    "hop_delay",
    "lower_to_config",
    "quantization_rows",
    "quantize_graph",
]


@dataclass(frozen=True)
class _Neuron:
    """A neuron op in the chip's terms, per neuron, in float.

    ``tau_syn`` is None without a synapse, ``tau_mem`` None without a leak; ``gain``
    is what one unit of input adds to the membrane in a step (``(1 - a) r`` for a LIF,
    ``dt r`` for an IF) and ``bias`` what the leak target adds per step.
    """

    tau_syn: np.ndarray | None
    tau_mem: np.ndarray | None
    gain: np.ndarray
    bias: np.ndarray


@dataclass(frozen=True)
class _Dynamics:
    """Chip parameters of one layer, per neuron, in float (before quantization).

    ``dash_syn`` and ``w_scale`` are ``(n, synapses)``: ``w_scale[:, k]`` multiplies
    the float weights into synapse ``k`` (per target neuron).
    """

    dash_syn: np.ndarray
    dash_mem: np.ndarray
    w_scale: np.ndarray
    bias: np.ndarray
    threshold: np.ndarray


def _lif(op: Op, n: int, dt: float) -> _Neuron:
    """``snn.lif``: no synapse (dash 1 chosen), membrane tau, gain ``(1 - a) r``."""
    assert isinstance(op, LIF)  # the table dispatches on the type
    tau = _per_neuron(op.tau, n)
    leak = -np.expm1(-dt / tau)
    return _Neuron(None, tau, leak * _per_neuron(op.r, n), leak * _leak(op, n))


def _cubalif(op: Op, n: int, dt: float) -> _Neuron:
    """``snn.cubalif``: synapse tau, membrane tau, gain ``(1 - a) r w_in``."""
    assert isinstance(op, CubaLIF)  # the table dispatches on the type
    tau = _per_neuron(op.tau_mem, n)
    leak = -np.expm1(-dt / tau)
    gain = leak * _per_neuron(op.r, n) * _per_neuron(op.w_in, n)
    return _Neuron(_per_neuron(op.tau_syn, n), tau, gain, leak * _leak(op, n))


def _if(op: Op, n: int, dt: float) -> _Neuron:
    """``snn.if``: no leak in float; the chip's slowest leak (largest dash)."""
    assert isinstance(op, IF)  # the table dispatches on the type
    return _Neuron(None, None, dt * _per_neuron(op.r, n), np.zeros(n))


def _leak(op: Op, n: int) -> np.ndarray:
    return _per_neuron(op.v_leak, n)  # type: ignore[attr-defined]


_NEURONS: dict[type[Op], Callable[[Op, int, float], _Neuron]] = {
    LIF: _lif,
    CubaLIF: _cubalif,
    IF: _if,
}
"""Per-op lowering: neuron op -> time constants, per-step input gain, leak bias."""

_FILTERED = (LIF, IF)
"""Neurons that may read two ``snn.li`` synapse filters (CubaLIF has its own)."""


def _per_neuron(value: np.ndarray, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, np.float64), (n,)).copy()


def _chain(graph: Graph) -> tuple[str, list[Layer]]:
    return layer_chain(graph, tuple(_NEURONS), _FILTERED)


def _check_neuron(layer: Layer, cap: int) -> None:
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
    if getattr(op, "v_min", None) is not None:
        raise ValueError(f"{where}: the chip has no membrane floor; v_min must be none")
    if getattr(op, "refire_offset", None) is not None:
        raise ValueError(
            f"{where}: the chip spikes at v >= v_threshold in every step; "
            "refire_offset must be none"
        )
    if np.any(np.asarray(getattr(op, "v_init", 0.0)) != 0):
        raise ValueError(f"{where}: the chip starts from V = 0; v_init must be 0")
    for syn in layer.synapses:
        if syn.filter is None:
            continue
        if np.any(np.asarray(syn.filter.v_leak) != 0) or np.any(
            np.asarray(syn.filter.v_init) != 0
        ):
            raise ValueError(
                f"node '{syn.where}' (snn.li synapse of '{layer.node}'): a chip "
                "synapse decays to 0 from 0; v_leak and v_init must be 0"
            )


def _dynamics(layer: Layer, n: int, dt: float, spec: XyloVariant) -> _Dynamics:
    neuron = _NEURONS[type(layer.neuron)](layer.neuron, n, dt)
    op = layer.neuron
    if neuron.tau_mem is None:
        # NOTE: an IF neuron does not leak; the chip always does, so it gets the
        # slowest leak there is (2^-15 of V per step with 4-bit dashes, and the
        # decay rule's 1-LSB minimum step, xylo.md §2), negligible over the hundreds
        # of steps of a rate-coded inference once thresholds are scaled up.
        dash_mem = np.full(n, 2**spec.dash_bits - 1, np.int64)
    else:
        dash_mem = fit_dash(
            neuron.tau_mem,
            dt,
            dash_bits=spec.dash_bits,
            what=f"tau_mem of layer '{layer.node}'",
        ).dash
    dashes, scales = [], []
    bias = neuron.bias
    for syn in layer.synapses:
        # Synapse tau and extra gain: the neuron's own (cubalif) or its filter's.
        tau_syn, gain = neuron.tau_syn, neuron.gain
        if syn.filter is not None:
            tau_syn = _per_neuron(syn.filter.tau, n)
            gain = gain * _per_neuron(syn.filter.r, n)
        if tau_syn is None:
            dash_syn = np.ones(n, np.int64)
        else:
            dash_syn = fit_dash(
                tau_syn,
                dt,
                dash_bits=spec.dash_bits,
                what=f"tau_syn of '{syn.where}'",
            ).dash
        b = dash_to_decay(dash_syn)
        dashes.append(dash_syn)
        scales.append(gain * (1.0 - b) / b)
        if isinstance(syn.weight, Affine):
            bias = bias + gain * np.asarray(syn.weight.bias, np.float64)
    return _Dynamics(
        dash_syn=np.stack(dashes, axis=1),
        dash_mem=dash_mem,
        w_scale=np.stack(scales, axis=1),
        bias=bias,
        threshold=_per_neuron(op.v_threshold, n),  # type: ignore[attr-defined]
    )


def hop_delay(graph: Graph) -> int:
    """Steps the chip's output lags the float graph's: the number of hidden layers.

    ``graph`` is the float graph, or a lowered one (its ``xylo.core`` meta ``layers``).
    """
    core = _core_node(graph, required=False)
    if core is not None:
        return sum(1 for _, kind, _ in _layers_meta(graph, core) if kind == "hidden")
    _, layers = _chain(graph)
    return len(layers) - 1


def quantize_graph(
    graph: Graph,
    variant: str | XyloVariant,
    *,
    v_headroom: float = DEFAULT_V_HEADROOM,
) -> Graph:
    """Replace a float SNN chain by one ``xylo.core`` holding integer registers.

    The result is ``io.input -> xylo.core -> io.output`` (the input and output keep
    their names). Registers are in logical neuron order (hidden layers one after the
    other); ``allocate_graph`` then moves them to hardware ids. The core's ``meta``:

    * ``layers``: ``((name, kind, size), ...)``, kind ``input``, ``hidden`` or
      ``output``, in order; the neuron map of the configuration comes from it;
    * ``quant_rel_rms``, ``quant_clipped``, ``quant_flushed``: per hidden and output
      layer, the relative RMS error of its incoming weights (``||w_eff - w|| / ||w||``,
      ``w_eff`` the registers mapped back to float), weights saturated at the int8
      limit, nonzero weights that became 0;
    * ``quant_threshold_error``: per layer, the largest relative threshold error.

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
    if any(syn.recurrent is not None for syn in output.synapses):
        raise ValueError(
            f"node '{output.node}': output neurons cannot be recurrent on Xylo"
        )
    for layer in hidden:
        _check_neuron(layer, spec.max_hidden_spikes)
    _check_neuron(output, spec.max_output_spikes)

    n_in = graph.shape(inp)[0]
    if n_in > spec.n_inputs:
        raise ResourceError(
            f"input '{inp}': {n_in} input channels on {spec.name}: the limit is "
            f"{spec.n_inputs}"
        )
    sizes = [graph.shape(layer.node)[0] for layer in hidden]
    n_out = graph.shape(output.node)[0]
    offsets = np.cumsum([0, *sizes])
    n = int(offsets[-1])
    dyn = [
        _dynamics(layer, size, dt, spec)
        for layer, size in zip(hidden, sizes, strict=True)
    ]
    out_dyn = _dynamics(output, n_out, dt, spec)

    nsyn = max(len(layer.synapses) for layer in hidden)
    if nsyn > spec.n_syn:
        two = next(layer for layer in hidden if len(layer.synapses) > spec.n_syn)
        raise ResourceError(
            f"layer '{two.node}' has {len(two.synapses)} synaptic time constants on "
            f"{spec.name}, which has {spec.n_syn} synapse per hidden neuron"
        )
    w_in = np.zeros((n_in, n, nsyn))
    w_rec = np.zeros((n, n, nsyn))
    for k, (layer, d) in enumerate(zip(hidden, dyn, strict=True)):
        cols = slice(offsets[k], offsets[k + 1])
        for s, syn in enumerate(layer.synapses):
            incoming = np.asarray(syn.weight.weight, np.float64).T * d.w_scale[:, s]
            if k == 0:
                w_in[:, cols, s] = incoming
            else:
                w_rec[offsets[k - 1] : offsets[k], cols, s] = incoming
            if syn.recurrent is not None:
                rec = np.asarray(syn.recurrent.weight, np.float64).T * d.w_scale[:, s]
                w_rec[cols, cols, s] += rec
    if len(output.synapses) != 1:
        raise ResourceError(
            f"output layer '{output.node}' has {len(output.synapses)} synaptic time "
            "constants; Xylo's output neurons have one synapse"
        )
    w_out = np.zeros((n, n_out))
    w_out[offsets[-2] :, :] = (
        np.asarray(output.synapses[0].weight.weight, np.float64).T
        * out_dyn.w_scale[:, 0]
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
        v_headroom=v_headroom,
        layers=names,
        output_layer=output.node,
    )
    core = XyloCore(
        variant=spec.name,
        weights_in=q.weights_in.astype(np.int64),
        weights_rec=q.weights_rec.astype(np.int64),
        weights_out=q.weights_out.astype(np.int64),
        dash_mem=cat("dash_mem"),
        dash_syn=np.concatenate([d.dash_syn[:, 0] for d in dyn]),
        # A one-synapse layer leaves synapse 2 unused, at the default dash 1.
        dash_syn_2=np.concatenate(
            [
                d.dash_syn[:, 1]
                if d.dash_syn.shape[1] > 1
                else np.ones(len(d.dash_syn), np.int64)
                for d in dyn
            ]
        ),
        dash_mem_out=out_dyn.dash_mem,
        dash_syn_out=out_dyn.dash_syn[:, 0],
        threshold=q.threshold.astype(np.int64),
        threshold_out=q.threshold_out.astype(np.int64),
        bias=q.bias.astype(np.int64),
        bias_out=q.bias_out.astype(np.int64),
        aliases=np.full(n, -1, np.int64),
        weight_shift_in=q.weight_shift_in,
        weight_shift_rec=q.weight_shift_rec,
        weight_shift_out=q.weight_shift_out,
    )
    layer_meta = (
        (inp, "input", n_in),
        *((name, "hidden", size) for name, size in names),
        (output.node, "output", n_out),
    )
    errors = _layer_errors(q, w_in, w_rec, w_out, offsets, dyn, out_dyn)
    out_name = graph.outputs()[0]
    result = Graph(graph.name, dt=graph.dt)
    result.add(inp, graph.op(inp), meta=_public(graph.meta(inp)))
    core_name = result.fresh_name("core")
    result.add(core_name, core, [inp], meta={"layers": layer_meta, **errors})
    result.add(out_name, graph.op(out_name), [core_name])
    verify(result)
    return result


def _public(meta: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in meta.items() if k != "shape"}


def _layer_errors(
    q: QuantizedNetwork,
    w_in: np.ndarray,
    w_rec: np.ndarray,
    w_out: np.ndarray,
    offsets: np.ndarray,
    dyn: list[_Dynamics],
    out_dyn: _Dynamics,
) -> dict[str, np.ndarray]:
    """Per-layer quantization errors (``quantize_graph``'s meta keys)."""
    limit = np.iinfo(q.weights_in.dtype).max

    def scaled(w: np.ndarray, shift: int, scale: np.ndarray) -> np.ndarray:
        """Weights in register units before rounding and clipping."""
        return w * scale.reshape((1, -1) + (1,) * (w.ndim - 2)) / 2.0**shift

    def both(k: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        cols = slice(offsets[k], offsets[k + 1])
        return np.concatenate([a[:, cols].ravel(), b[:, cols].ravel()])

    raw_in = scaled(w_in, q.weight_shift_in, q.scale)
    raw_rec = scaled(w_rec, q.weight_shift_rec, q.scale)
    unit_in = 2.0**q.weight_shift_in / q.scale[None, :, None]
    unit_rec = 2.0**q.weight_shift_rec / q.scale[None, :, None]
    layers = [
        (
            both(k, w_in, w_rec),
            both(k, raw_in, raw_rec),
            both(k, q.weights_in * unit_in, q.weights_rec * unit_rec),
            q.threshold[offsets[k] : offsets[k + 1]]
            / q.scale[offsets[k] : offsets[k + 1]],
            d.threshold,
        )
        for k, d in enumerate(dyn)
    ]
    layers.append(
        (
            w_out.ravel(),
            scaled(w_out, q.weight_shift_out, q.scale_out).ravel(),
            (q.weights_out * 2.0**q.weight_shift_out / q.scale_out[None, :]).ravel(),
            q.threshold_out / q.scale_out,
            out_dyn.threshold,
        )
    )
    rms, clipped, flushed, theta_err = [], [], [], []
    for w, raw, eff, theta_eff, theta in layers:
        norm = float(np.sqrt(np.sum(w**2)))
        rms.append(float(np.sqrt(np.sum((eff - w) ** 2))) / norm if norm else 0.0)
        clipped.append(int(np.count_nonzero(np.abs(np.rint(raw)) > limit)))
        flushed.append(int(np.count_nonzero((eff == 0) & (w != 0))))
        theta_err.append(float(np.max(np.abs(theta_eff / theta - 1.0), initial=0.0)))
    return {
        "quant_rel_rms": np.array(rms),
        "quant_clipped": np.array(clipped, np.int64),
        "quant_flushed": np.array(flushed, np.int64),
        "quant_threshold_error": np.array(theta_err),
    }


def _core_node(graph: Graph, *, required: bool = True) -> str | None:
    cores = [name for name in graph.nodes() if isinstance(graph.op(name), XyloCore)]
    if len(cores) > 1:
        raise ValueError(
            f"graph @{graph.name} has {len(cores)} xylo.core nodes: {cores}"
        )
    if not cores:
        if required:
            raise ValueError(
                f"graph @{graph.name} has no xylo.core node; run quantize-xylo first"
            )
        return None
    return cores[0]


def _layers_meta(graph: Graph, core: str) -> list[tuple[str, str, int]]:
    """The core's ``layers`` meta, or one layer per kind when it has none."""
    op = graph.op(core)
    assert isinstance(op, XyloCore)
    layers = graph.meta(core).get("layers")
    if layers is None:
        inputs = graph.producers(core)
        return [
            (inputs[0] if inputs else "input", "input", op.weights_in.shape[0]),
            ("hidden", "hidden", op.weights_in.shape[1]),
            (
                graph.users(core)[0] if graph.users(core) else "output",
                "output",
                op.weights_out.shape[1],
            ),
        ]
    return [(str(name), str(kind), int(size)) for name, kind, size in layers]


def quantization_rows(graph: Graph) -> dict[str, str]:
    """Report rows ``"quantization <layer>"`` from a lowered graph's core meta."""
    core = _core_node(graph, required=False)
    if core is None:
        return {}
    meta = graph.meta(core)
    if "quant_rel_rms" not in meta:
        return {}
    names = [name for name, kind, _ in _layers_meta(graph, core) if kind != "input"]
    rows = {}
    for k, name in enumerate(names):
        rows[f"quantization {name}"] = (
            f"weights rel RMS {100 * float(meta['quant_rel_rms'][k]):.2f}%, "
            f"{int(meta['quant_clipped'][k])} clipped, "
            f"{int(meta['quant_flushed'][k])} flushed to 0; threshold "
            f"{100 * float(meta['quant_threshold_error'][k]):.3f}%"
        )
    return rows


def allocate_graph(graph: Graph) -> Graph:
    """Move the ``xylo.core`` registers from logical order to hardware ids.

    Hidden ids respect the variant's input/output windows and the fan-out and size
    limits (``backends.xylo.allocate``); the configuration is compact (``N`` ids, the
    windows count from both ends, as XyloSim's ``from_specification``). The core's
    meta gains ``hidden_ids`` (hardware id of each logical hidden neuron, in the
    ``layers`` order) and ``output_ids`` (readout channel of each output neuron).
    The registers' row order is the delivery and spike-loop order, so after this pass
    the graph interprets exactly as the chip runs.

    Raises:
        ResourceError: naming the layer and neuron, the limit and the value.
    """
    core = _core_node(graph)
    assert core is not None
    op = graph.op(core)
    assert isinstance(op, XyloCore)
    if "hidden_ids" in graph.meta(core):
        raise ValueError(f"node '{core}': already allocated (meta hidden_ids)")
    spec = VARIANTS[op.variant]
    layers = _layers_meta(graph, core)
    hidden = [(name, size) for name, kind, size in layers if kind == "hidden"]
    output = next((name for name, kind, _ in layers if kind == "output"), "output")
    alloc = allocate(
        spec,
        op.weights_in,
        op.weights_rec,
        op.weights_out,
        layers=hidden,
        output_layer=output,
    )
    order = alloc.hidden_order
    hw_in, hw_rec, hw_out = alloc.permute(op.weights_in, op.weights_rec, op.weights_out)
    # Aliases name logical neurons; they follow their neurons to hardware ids.
    aliases = np.where(op.aliases >= 0, alloc.hidden_ids[op.aliases], -1)
    moved = dataclasses.replace(
        op,
        weights_in=hw_in,
        weights_rec=hw_rec,
        weights_out=hw_out,
        dash_mem=op.dash_mem[order],
        dash_syn=op.dash_syn[order],
        dash_syn_2=op.dash_syn_2[order],
        threshold=op.threshold[order],
        bias=op.bias[order],
        aliases=aliases[order],
    )
    result = graph.copy()
    result.replace(core, moved)
    result.meta(core)["hidden_ids"] = alloc.hidden_ids.astype(np.int64)
    result.meta(core)["output_ids"] = alloc.output_ids.astype(np.int64)
    return result


def config_from_graph(graph: Graph) -> XyloConfig:
    """The ``XyloConfig`` of a lowered graph's ``xylo.core`` (after ``allocate_graph``).

    ``neuron_map`` records ``"layer:index" -> [kind, id]`` from the core's meta
    (identity ids when it was not allocated). The graph's inputs are channels
    ``0..n-1`` of the chip's 16, its outputs readout channels ``0..Nout-1``.
    """
    core = _core_node(graph)
    assert core is not None
    op = graph.op(core)
    assert isinstance(op, XyloCore)
    meta = graph.meta(core)
    layers = _layers_meta(graph, core)
    n = op.weights_rec.shape[0]
    hidden_ids = np.asarray(meta.get("hidden_ids", np.arange(n)))
    output_ids = np.asarray(meta.get("output_ids", np.arange(op.weights_out.shape[1])))
    neuron_map: dict[str, list[object]] = {}
    start = 0
    for name, kind, size in layers:
        for i in range(size):
            if kind == "input":
                hw = i
            elif kind == "hidden":
                hw = int(hidden_ids[start + i])
            else:
                hw = int(output_ids[i])
            neuron_map[f"{name}:{i}"] = [kind, hw]
        if kind == "hidden":
            start += size
    regs = {name: np.asarray(getattr(op, name)) for name in ARRAY_NAMES}
    # The configuration covers the chip's channels: unused input channels have no
    # weights, unused readout neurons never fire (no weights, no bias).
    spec = VARIANTS[op.variant]
    n_in, n_out = op.weights_in.shape[0], op.weights_out.shape[1]
    if n_in > spec.n_inputs or n_out > spec.n_outputs:
        raise ResourceError(
            f"node '{core}': {n_in} inputs and {n_out} outputs on {spec.name}, which "
            f"has {spec.n_inputs} and {spec.n_outputs}"
        )
    regs["weights_in"] = np.pad(
        regs["weights_in"], ((0, spec.n_inputs - n_in), (0, 0), (0, 0))
    )
    regs["weights_out"] = np.pad(
        regs["weights_out"], ((0, 0), (0, spec.n_outputs - n_out))
    )
    fill = {"dash_mem_out": 1, "dash_syn_out": 1, "threshold_out": 32767, "bias_out": 0}
    for name, value in fill.items():
        regs[name] = np.pad(
            regs[name], (0, spec.n_outputs - n_out), constant_values=value
        )
    return XyloConfig.from_registers(
        op.variant,
        weight_shift_in=op.weight_shift_in,
        weight_shift_rec=op.weight_shift_rec,
        weight_shift_out=op.weight_shift_out,
        dt=float(graph.dt) if graph.dt is not None else 1e-3,
        neuron_map=neuron_map,
        **regs,
    )


def lower_to_config(graph: Graph, variant: str | XyloVariant) -> XyloConfig:
    """Lower a graph to a ``XyloConfig`` for ``variant``.

    A float SNN graph (module docstring) goes through ``quantize_graph`` and
    ``allocate_graph`` first; a graph already holding a ``xylo.core`` (the target's
    pipeline ran) is read as is, and its variant must be ``variant``.

    Raises:
        ValueError: an unsupported graph structure or neuron setting (naming the
            node); ``ResourceError`` (a ``ValueError``) for a hardware limit.
    """
    spec = VARIANTS[variant] if isinstance(variant, str) else variant
    core = _core_node(graph, required=False)
    if core is None:
        graph = allocate_graph(quantize_graph(graph, spec))
        core = _core_node(graph)
        assert core is not None
    elif "hidden_ids" not in graph.meta(core):
        graph = allocate_graph(graph)
    op = graph.op(core)
    assert isinstance(op, XyloCore)
    if op.variant != spec.name:
        raise ValueError(
            f"node '{core}': a {op.variant} core cannot be lowered for {spec.name}"
        )
    config = config_from_graph(graph)
    config.check()
    return config
