"""Lower a float SNN chain to a ``DynapseConfig``: translate, place, quantize.

Accepted graphs: ``backends.chain`` chains of ``snn.lif``, ``snn.cubalif`` or
``snn.if`` layers with ``nn.linear``/``nn.affine`` weights, feed-forward and recurrent,
one synapse per layer. Three stages, each a pass of the target's pipeline, each
writing documented ``meta`` (printed in ``.sfir``, so a lowered graph round-trips):

1. ``allocate-cores`` (``compiler/allocation``; ``allocate_graph`` here, with the
   system's ``core_model``): neurons on (chip, core, slot), one parameter group per
   core (neurons that agree on ``SHARED_PARAMETERS``), within the CAM (64 fan-in),
   SRAM (4 destinations) and tag limits, minimising spikes between cores. Neuron
   meta: ``placement`` ``(n, 3)`` (chip, core, slot).
2. ``quantize_graph`` (``quantize-dynapse``): per core, the signed weights into its
   neurons (every layer and source) are fitted with the core's 4 base weight currents
   and a 4-bit mask per connection (``weights.quantize_signed``; positive weights to
   AMPA, negative to GABA), every current on the bias grid. The weight ops are replaced
   by the weights the chip realises, so interpreting the graph shows the effect.
   Weight meta: ``masks`` and ``dendrites`` (0 AMPA, 2 GABA, -1 none; 1 NMDA and
   3 SHUNT after ``split-dendrites``), shaped like the weight; neuron meta:
   ``base_weights`` ``(n, 4, 2)`` (coarse, fine) of each neuron's core,
   ``quant_rel_rms`` and ``quant_dropped`` of the layer's incoming weights.
3. ``config_from_graph``: biases per core, CAM and SRAM per neuron, the neuron map.
   A layer's ``trim_<field>`` meta (``(n,)`` factors, written by ``retune``; fields
   ``TRIMMED_BIASES``) multiplies those translated currents before they are snapped to
   the grid; the neurons of one core must agree on their trims.

**Translation** (Rockpool's heuristic, reference ``dynapse2.md`` §5.1; not an
equivalence: the chip's neuron is a nonlinear current-mode circuit). A layer's input
``r I`` (``r w_in I`` for CubaLIF) is in units of its threshold; one unit is
``i_scale`` amperes: weight currents ``|W r| i_scale``, spike threshold
``v_threshold i_scale``, DC input ``(v_leak + r c) i_scale`` for an affine bias ``c``
(a LIF's ``v_leak`` acts as a constant input). Time constants set the leak currents
(``tau = U_T C / (kappa I_tau)``). ``snn.lif`` and ``snn.if`` have no synaptic filter;
the chip's synapse keeps its default time constant (10 ms). ``snn.if`` does not leak:
it gets ``IF_TAU_MEM``, near the slowest leak the grid holds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from backends.chain import Layer, layer_chain, readout_copies
from backends.dynapse.config import CoreConfig, DynapseConfig
from backends.dynapse.params import DynapseParams
from backends.dynapse.routing import DynapseSystem, route
from backends.dynapse.translate import ParameterGroup, parameter_groups, snap_params
from backends.dynapse.weights import quantize_signed
from compiler.allocation import CoreModel, allocate, from_graph
from ir import Graph, verify
from ir.op import Op
from ir.ops.nn import Affine, Linear
from ir.ops.snn import IF, LIF, CubaLIF

__all__ = [
    "DEFAULT_I_SCALE",
    "SHARED_PARAMETERS",
    "TRIMMED_BIASES",
    "bias_trims",
    "trimmed_codes",
    "split_dendrites",
    "check_unpaired",
    "paired_dendrites",
    "paired_params",
    "PAIRED_META",
    "IF_TAU_MEM",
    "REFRACTORY_STEPS",
    "allocate_graph",
    "config_from_graph",
    "core_model",
    "lower_to_config",
    "quantize_graph",
]

DEFAULT_I_SCALE = 1e-8
"""Amperes per unit of threshold-scaled input (Rockpool's ``Iscale``, 10 nA)."""

SHARED_PARAMETERS = ("tau", "tau_mem", "tau_syn", "r", "w_in", "v_leak", "v_threshold")
"""Neuron fields that set a core's biases: neurons on one core must agree on them."""

IF_TAU_MEM = 0.2
"""Membrane time constant (s) standing in for an IF neuron's missing leak."""

TRIMMED_BIASES = ("ispkthr", "igain_mem", "igain_ampa", "igain_gaba")
"""The per-core bias currents ``retune`` may trim (``trim_<field>`` layer meta): the
spike threshold and the membrane and synapse gains, the currents that set how much
input a spike takes, the thing mismatch moves most."""

REFRACTORY_STEPS = 0.6
"""Refractory period, in time steps, of translated neurons.

NOTE: the neuron is refractory for ``ceil(t_ref / dt)`` steps (emulator, reference
§2.2). Rockpool's default ``t_ref`` (about one step, 0.993 dt on the grid) sits on
that boundary: mismatch of ``iref``, ``c_ref`` or ``v_th`` puts about half the neurons
of a chip at two steps, halving their top rate. At 0.6 dt every neuron stays at one
step for deviations up to 40%; on the digits demo this lifted the worst of 20 chips
from 17% to about 30% accuracy (measured in this session's retuning spike)."""

_NEURONS = (LIF, CubaLIF, IF)
_AMPA, _NMDA, _GABA, _SHUNT = 0, 1, 2, 3

PAIRED_META = "paired_dendrites"
"""Layer meta (``split-dendrites``): its neurons' inputs are split over two
dendrites per sign, and ``config_from_graph`` gives NMDA the AMPA currents and
SHUNT the GABA ones (NMDA's gate bias at its floor)."""

_PAIRED_CURRENTS = {
    "itau_nmda": "itau_ampa",
    "igain_nmda": "igain_ampa",
    "itau_shunt": "itau_gaba",
    "igain_shunt": "igain_gaba",
}
"""``split-dendrites``: each second dendrite's current -> the first one's it copies."""


def split_dendrites(graph: Graph) -> Graph:
    """``graph`` (quantized) with each neuron's inputs of each sign split over two
    dendrites: per target neuron, its excitatory connections, strongest first, go
    to AMPA and NMDA in turn, its inhibitory ones to GABA and SHUNT. Each dendrite
    is its own circuit, so a chip's mismatch of the synapse gains and leaks (per
    neuron and dendrite) averages over two draws per sign: a smaller spread across
    chips. NOTE: not the same function on the ideal chip: NMDA's gate bias cannot
    go below its generator's floor (``I_nmda I_mem / (I_mem + I_f)`` halves the
    input while the membrane rests), and SHUNT subtracts from the input where GABA
    adds to the leak. Layer meta ``paired_dendrites`` marks the layers.

    Raises:
        ValueError: a graph without ``quantize-dynapse``'s masks.
    """
    flat = _flatten(graph)
    result = graph.copy()
    for node in flat.weight_nodes:
        meta = graph.meta(node)
        if "masks" not in meta or "dendrites" not in meta:
            raise ValueError(f"node '{node}' has no masks; run quantize-dynapse first")
        result.meta(node)["dendrites"] = paired_dendrites(
            np.asarray(meta["masks"]), np.asarray(meta["dendrites"])
        )
        k = _layer_of(flat, graph, node)
        result.meta(flat.layers[k].node)[PAIRED_META] = 1
    return result


def paired_dendrites(strength: np.ndarray, dendrites: np.ndarray) -> np.ndarray:
    """``dendrites`` (a weight's ``(out, in)`` dendrite per entry, -1: none) with
    each row's entries of each sign, strongest first by ``strength`` (masks or
    magnitudes), over AMPA and NMDA in turn (excitatory) or GABA and SHUNT
    (inhibitory): ``split-dendrites``' assignment."""
    dend = np.array(dendrites, np.int64)
    for row in range(dend.shape[0]):
        for first, second in ((_AMPA, _NMDA), (_GABA, _SHUNT)):
            cols = np.flatnonzero((dend[row] == first) | (dend[row] == second))
            order = cols[np.argsort(-strength[row, cols], kind="stable")]
            dend[row, order[0::2]] = first
            dend[row, order[1::2]] = second
    return dend


def paired_params(params: DynapseParams) -> DynapseParams:
    """``params`` as ``split-dendrites`` programs them: NMDA's currents are AMPA's,
    SHUNT's are GABA's, NMDA's gate bias 0 (its generator's floor once snapped)."""
    copied = {f: getattr(params, src) for f, src in _PAIRED_CURRENTS.items()}
    return params.replace(if_nmda=0.0, **copied)


def check_unpaired(graph: Graph, pass_name: str) -> None:
    """``ValueError`` if ``split-dendrites`` ran on ``graph``: ``pass_name`` models
    two dendrites per neuron and must run before it."""
    for node in graph.nodes():
        if graph.meta(node).get(PAIRED_META):
            raise ValueError(
                f"pass '{pass_name}': layer '{node}' has its inputs split over four "
                "dendrites (split-dendrites); run split-dendrites after "
                f"{pass_name}"
            )


@dataclass(frozen=True)
class _Flat:
    """The chain as numbered neurons and connections (graph order)."""

    layers: list[Layer]
    offsets: np.ndarray  # first neuron of each layer, and the total at the end
    n_inputs: int
    input_node: str
    # connections: (weight node, row, col) -> source/target neuron ids
    weight_nodes: list[str]
    kinds: list[str]  # "input" or "neuron" per weight node


def _per_neuron(value: object, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, np.float64), (n,)).copy()


def _gain(op: Op, n: int, dt: float) -> np.ndarray:
    """What multiplies a layer's input: ``r`` (``r w_in`` for CubaLIF, ``dt r`` for
    IF: the threshold units one unit of input adds in a step)."""
    gain = _per_neuron(op.r, n)  # type: ignore[attr-defined]
    if isinstance(op, CubaLIF):
        gain = gain * _per_neuron(op.w_in, n)
    if isinstance(op, IF):
        gain = gain * dt
    return gain


def _flatten(graph: Graph) -> _Flat:
    verify(graph)
    inp, layers = layer_chain(graph, _NEURONS, readout=True)
    sizes = [graph.shape(layer.node)[0] for layer in layers]
    offsets = np.cumsum([0, *sizes])
    weight_nodes: list[str] = []
    kinds: list[str] = []
    for k, layer in enumerate(layers):
        if len(layer.synapses) != 1:
            raise ValueError(
                f"node '{layer.node}': two synapse filters; the dynapse2 lowering "
                "takes one synapse per layer"
            )
        fwd = _weight_node(graph, layer.node, forward=True)
        assert fwd is not None  # _weight_node raises when there is none
        weight_nodes.append(fwd)
        kinds.append("input" if k == 0 else "neuron")
        rec = _weight_node(graph, layer.node, forward=False)
        if rec is not None:
            weight_nodes.append(rec)
            kinds.append("neuron")
    return _Flat(
        layers=layers,
        offsets=offsets,
        n_inputs=graph.shape(inp)[0],
        input_node=inp,
        weight_nodes=weight_nodes,
        kinds=kinds,
    )


def _weight_node(graph: Graph, neuron: str, *, forward: bool) -> str | None:
    """The node of a layer's forward (or recurrent) weight."""
    for producer in graph.producers(neuron):
        is_rec = graph.producers(producer) == [neuron]
        if is_rec != forward:
            return producer
    if forward:
        raise ValueError(f"node '{neuron}' has no forward weight")
    return None


def _layer_of(flat: _Flat, graph: Graph, weight_node: str) -> int:
    (target,) = graph.users(weight_node)
    return [layer.node for layer in flat.layers].index(target)


def _connections(
    graph: Graph, flat: _Flat, weight_node: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, cols, src, dst, value)`` of a weight's nonzero entries.

    ``src`` is an input channel or a neuron id (see the weight's kind), ``dst`` a
    neuron id, ``value`` the signed weight in threshold units (times the gain).
    """
    k = _layer_of(flat, graph, weight_node)
    layer = flat.layers[k]
    op = graph.op(weight_node)
    assert isinstance(op, (Linear, Affine))
    w = np.asarray(op.weight, np.float64)
    gain = _gain(layer.neuron, w.shape[0], _dt(graph))
    rows, cols = np.nonzero(w)
    dst = flat.offsets[k] + rows
    producer = graph.producers(weight_node)[0]
    if producer == flat.input_node:
        src = cols
    else:
        j = [lay.node for lay in flat.layers].index(producer)
        src = flat.offsets[j] + cols
    return rows, cols, src, dst, w[rows, cols] * gain[rows]


def _dt(graph: Graph) -> float:
    if graph.dt is None:
        raise ValueError(
            f"graph @{graph.name} has no dt; Dynap-SE2 needs the time step"
        )
    return float(graph.dt)


def _names(flat: _Flat) -> list[tuple[str, int]]:
    return [
        (layer.node, int(flat.offsets[k + 1] - flat.offsets[k]))
        for k, layer in enumerate(flat.layers)
    ]


def _layer_params(
    layer: Layer, n: int, affine_bias: np.ndarray | None, dt: float
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    op = layer.neuron
    gain = _gain(op, n, dt)
    if isinstance(op, IF):
        tau_mem = np.full(n, IF_TAU_MEM)
        bias = np.zeros(n)
    else:
        tau = op.tau_mem if isinstance(op, CubaLIF) else op.tau  # type: ignore[attr-defined]
        tau_mem = _per_neuron(tau, n)
        bias = _per_neuron(op.v_leak, n)  # type: ignore[attr-defined]
    tau_syn = _per_neuron(op.tau_syn, n) if isinstance(op, CubaLIF) else None
    if affine_bias is not None:
        bias = bias + gain * affine_bias
    theta = _per_neuron(op.v_threshold, n)  # type: ignore[attr-defined]
    return tau_mem, tau_syn, theta, bias


def _check_neuron(layer: Layer) -> None:
    op = layer.neuron
    if getattr(op, "max_spikes", 1) != 1:
        raise ValueError(
            f"node '{layer.node}' ({op.name}): max_spikes = {op.max_spikes}; "  # type: ignore[attr-defined]
            "a Dynap-SE2 neuron spikes at most once per step (then resets and is "
            "refractory)"
        )
    for field, why in _UNSUPPORTED:
        if getattr(op, field, None) is not None:
            raise ValueError(f"node '{layer.node}' ({op.name}): {field} is set; {why}")


_UNSUPPORTED = (
    ("v_min", "a Dynap-SE2 neuron has no programmable membrane floor"),
    ("refire_offset", "a Dynap-SE2 neuron has one fixed threshold"),
)
"""IR neuron fields the chip cannot express, and why (the adapter must drop them)."""


def _layer_groups(
    graph: Graph, flat: _Flat, k: int, i_scale: float
) -> list[ParameterGroup]:
    """Layer ``k``'s neurons grouped by their translated, snapped bias codes."""
    layer = flat.layers[k]
    _check_neuron(layer)
    size = int(flat.offsets[k + 1] - flat.offsets[k])
    weight = layer.synapses[0].weight
    affine = np.asarray(weight.bias, np.float64) if isinstance(weight, Affine) else None
    tau_mem, tau_syn, theta, bias = _layer_params(layer, size, affine, _dt(graph))
    return parameter_groups(
        tau_mem,
        tau_syn,
        theta,
        bias,
        i_scale=i_scale,
        t_ref=REFRACTORY_STEPS * _dt(graph),
        layer=layer.node,
    )


def bias_trims(graph: Graph, node: str) -> dict[str, np.ndarray]:
    """Layer ``node``'s bias trims (``retune``'s ``trim_<field>`` meta), factor 1
    where there is none: field -> ``(n,)`` multipliers of the translated currents."""
    n = int(np.prod(graph.shape(node)))
    meta = graph.meta(node)
    out = {}
    for field in TRIMMED_BIASES:
        value = np.asarray(meta.get(f"trim_{field}", 1.0), np.float64)
        try:
            out[field] = np.broadcast_to(value, (n,)).copy()
        except ValueError:
            raise ValueError(
                f"node '{node}': meta trim_{field} has shape {value.shape}, the layer "
                f"has {n} neurons"
            ) from None
        if not np.all(np.isfinite(out[field]) & (out[field] > 0)):
            raise ValueError(f"node '{node}': meta trim_{field} must be positive")
    return out


def trimmed_codes(
    group: ParameterGroup, trims: dict[str, float], *, paired: bool = False
) -> dict[str, tuple[int, int]]:
    """A parameter group's bias codes with ``trims`` (field -> factor) applied to its
    snapped currents, snapped again to the bias grid; ``paired`` (``split-dendrites``)
    gives NMDA the AMPA currents, SHUNT the GABA ones and NMDA's gate bias its floor
    (0 snaps to it).

    Raises:
        ValueError: a trimmed current outside its generator's range.
    """
    changes = {
        f: float(np.asarray(getattr(group.params, f))) * factor
        for f, factor in trims.items()
        if factor != 1.0
    }
    if not changes and not paired:
        return dict(group.codes)
    params = group.params.replace(**changes)
    if paired:
        params = paired_params(params)
    return snap_params(params)[1]


def _param_groups(graph: Graph, flat: _Flat, i_scale: float) -> np.ndarray:
    """Parameter group of every neuron: neurons whose bias codes are all equal."""
    group_of = np.zeros(int(flat.offsets[-1]), np.int64)
    keys: dict[tuple[object, ...], int] = {}
    for k in range(len(flat.layers)):
        for group in _layer_groups(graph, flat, k, i_scale):
            key = tuple(sorted(group.codes.items()))
            gid = keys.setdefault(key, len(keys))
            group_of[flat.offsets[k] + group.neurons] = gid
    return group_of


def core_model(system: DynapseSystem) -> CoreModel:
    """The cores of ``system`` as ``allocate-cores`` sees them (limits as data)."""
    return CoreModel(
        neurons_per_core=system.neurons_per_core,
        cores_per_chip=system.cores_per_chip,
        chips=system.chips,
        mesh=(system.chips, 1),
        fan_in=system.cam_entries,
        fan_out=system.sram_entries - system.reserved_sram_entries,
        tags=system.tags,
        shared_parameters=SHARED_PARAMETERS,
    )


def allocate_graph(
    graph: Graph,
    system: DynapseSystem | None = None,
    *,
    seed: int = 0,
    refine: int = 2,
) -> Graph:
    """Place neurons on ``system``'s cores with ``allocate-cores`` (stage 1 above):
    the pass's defaults, on this system rather than the registered target's.

    Raises:
        ValueError: an unsupported graph, or ``AllocationError`` (a ``ValueError``)
            naming the limit that binds.
    """
    # NOTE: imported here: compiler.passes imports every pass, some of them backends.
    from compiler.passes.allocate_cores import annotate

    system = system or DynapseSystem()
    net = from_graph(graph, SHARED_PARAMETERS)
    placed = allocate(net, core_model(system), seed=seed, refine=refine)
    result = annotate(graph, placed, [name for name, _ in net.layers])
    result.meta(_flatten(graph).input_node)["chips"] = int(system.chips)
    return result


def _placement_of(graph: Graph, flat: _Flat) -> np.ndarray:
    parts = []
    for layer in flat.layers:
        meta = graph.meta(layer.node)
        if "placement" not in meta:
            raise ValueError(
                f"node '{layer.node}' has no placement; run allocate-cores first"
            )
        parts.append(np.asarray(meta["placement"], np.int64))
    return np.concatenate(parts)


def quantize_graph(graph: Graph, *, i_scale: float | None = None) -> Graph:
    """Fit each core's base weights and masks; realise the weights (stage 2 above).

    The placement comes from ``allocate-cores`` (``placement`` meta). ``i_scale``
    (amperes per unit) defaults to the one recorded in the first layer's meta, else
    ``DEFAULT_I_SCALE``; parameter groups (``param_group`` meta) are recorded here.
    """
    flat = _flatten(graph)
    where = _placement_of(graph, flat)
    first = graph.meta(flat.layers[0].node)
    if i_scale is None:
        i_scale = float(first.get("i_scale", DEFAULT_I_SCALE))
    if not (np.isfinite(i_scale) and i_scale > 0):
        raise ValueError(f"i_scale must be a positive current, got {i_scale!r}")
    group_of = _param_groups(graph, flat, i_scale)
    graph = graph.copy()
    for k, layer in enumerate(flat.layers):
        meta = graph.meta(layer.node)
        meta["param_group"] = group_of[flat.offsets[k] : flat.offsets[k + 1]]
        meta["i_scale"] = float(i_scale)
    core_id = where[:, 0] * 1024 + where[:, 1]
    scale = np.concatenate(
        [
            np.full(
                int(flat.offsets[k + 1] - flat.offsets[k]),
                float(graph.meta(layer.node)["i_scale"]),
            )
            for k, layer in enumerate(flat.layers)
        ]
    )
    conns = {node: _connections(graph, flat, node) for node in flat.weight_nodes}
    # Every connection's current (nA, signed) and its target core.
    currents = {node: c[4] * scale[c[3]] * 1e9 for node, c in conns.items()}
    masks = {node: np.zeros(len(c[0]), np.int64) for node, c in conns.items()}
    signs = {node: np.zeros(len(c[0]), np.int64) for node, c in conns.items()}
    real = {node: np.zeros(len(c[0])) for node, c in conns.items()}
    n = int(flat.offsets[-1])
    bases = np.zeros((n, 4, 2), np.int64)
    for core in np.unique(core_id):
        members = []  # (node, positions) of the connections into this core
        for node, c in conns.items():
            pos = np.flatnonzero(core_id[c[3]] == core)
            if pos.size:
                members.append((node, pos))
        if not members:
            continue
        w = np.concatenate([currents[node][pos] for node, pos in members])
        q = quantize_signed(w, i_scale=1e-9)
        start = 0
        for node, pos in members:
            stop = start + pos.size
            masks[node][pos] = q.masks[start:stop]
            signs[node][pos] = q.signs[start:stop]
            real[node][pos] = q.reconstruction[start:stop]
            start = stop
        bases[core_id == core] = np.stack([q.coarse, q.fine], axis=1)
    result = graph.copy()
    errors: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}
    for node, (rows, cols, _, dst, value) in conns.items():
        op = graph.op(node)
        assert isinstance(op, (Linear, Affine))
        w = np.array(op.weight, np.float64)
        k = _layer_of(flat, graph, node)
        gain = _gain(flat.layers[k].neuron, w.shape[0], _dt(graph))
        realised = real[node] / (scale[dst] * 1e9)
        new_w = np.zeros_like(w)
        new_w[rows, cols] = realised / gain[rows]
        result.replace(node, op.replace(weight=new_w.astype(op.weight.dtype)))
        m = np.zeros(w.shape, np.int64)
        m[rows, cols] = masks[node]
        dend = np.full(w.shape, -1, np.int64)
        dend[rows, cols] = np.where(
            masks[node] == 0, -1, np.where(signs[node] > 0, _AMPA, _GABA)
        )
        result.meta(node)["masks"] = m
        result.meta(node)["dendrites"] = dend
        errors.setdefault(k, []).append((value, realised))
    for k, layer in enumerate(flat.layers):
        rows_k = slice(flat.offsets[k], flat.offsets[k + 1])
        pairs = errors.get(k, [])
        want = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0)
        got = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0)
        norm = float(np.linalg.norm(want))
        meta = result.meta(layer.node)
        meta["base_weights"] = bases[rows_k]
        meta["quant_rel_rms"] = (
            float(np.linalg.norm(got - want) / norm) if norm else 0.0
        )
        meta["quant_dropped"] = int(np.count_nonzero((got == 0) & (want != 0)))
    return result


def config_from_graph(
    graph: Graph, system: DynapseSystem | None = None
) -> DynapseConfig:
    """The configuration of a placed and quantized graph (stage 3 above)."""
    flat = _flatten(graph)
    where = _placement_of(graph, flat)
    chips = int(graph.meta(flat.input_node).get("chips", 1))
    system = system or DynapseSystem(chips=chips)
    n = int(flat.offsets[-1])
    src: list[int] = []
    dst: list[int] = []
    dend: list[str] = []
    mask: list[int] = []
    in_src: list[int] = []
    in_dst: list[int] = []
    in_dend: list[str] = []
    in_mask: list[int] = []
    for node, kind in zip(flat.weight_nodes, flat.kinds, strict=True):
        meta = graph.meta(node)
        if "masks" not in meta:
            raise ValueError(f"node '{node}' has no masks; run quantize-dynapse first")
        rows, cols, s, d, _ = _connections(graph, flat, node)
        # A connection quantized to mask 0 has no CAM entry (counted as dropped).
        m = np.asarray(meta["masks"])[rows, cols]
        den = np.asarray(meta["dendrites"])[rows, cols]
        keep = m != 0
        names = np.array(["AMPA", "NMDA", "GABA", "SHUNT"])[np.maximum(den[keep], 0)]
        target = (
            (in_src, in_dst, in_dend, in_mask)
            if kind == "input"
            else (src, dst, dend, mask)
        )
        target[0].extend(s[keep].tolist())
        target[1].extend(d[keep].tolist())
        target[2].extend(names.tolist())
        target[3].extend(m[keep].tolist())
    group_of = np.concatenate(
        [np.asarray(graph.meta(layer.node)["param_group"]) for layer in flat.layers]
    )
    bases = np.concatenate(
        [np.asarray(graph.meta(layer.node)["base_weights"]) for layer in flat.layers]
    )
    core_codes: dict[
        tuple[int, int], tuple[dict[str, tuple[int, int]], np.ndarray]
    ] = {}
    first_on_core: dict[tuple[int, int], tuple[str, int, tuple[float, ...]]] = {}
    for k, layer in enumerate(flat.layers):
        i_scale = float(graph.meta(layer.node)["i_scale"])
        trims = bias_trims(graph, layer.node)
        for group in _layer_groups(graph, flat, k, i_scale):
            for i in group.neurons:
                j = int(flat.offsets[k] + i)
                key = (int(where[j, 0]), int(where[j, 1]))
                trim = tuple(float(trims[f][i]) for f in TRIMMED_BIASES)
                seen = first_on_core.setdefault(key, (layer.node, int(i), trim))
                if seen[2] != trim:
                    raise ValueError(
                        f"node '{layer.node}' neuron {i}: bias trims {trim} differ "
                        f"from those of '{seen[0]}' neuron {seen[1]} {seen[2]} on "
                        f"chip {key[0]} core {key[1]}; a core shares its biases"
                    )
                if key not in core_codes:
                    codes = trimmed_codes(
                        group,
                        dict(zip(TRIMMED_BIASES, trim, strict=True)),
                        paired=bool(graph.meta(layer.node).get(PAIRED_META)),
                    )
                    core_codes[key] = (codes, bases[j])
    placement = route(
        n,
        group_of,
        np.asarray(src, np.int64),
        np.asarray(dst, np.int64),
        chip=where[:, 0],
        core=where[:, 1],
        system=system,
        n_inputs=flat.n_inputs,
        input_src=np.asarray(in_src, np.int64),
        input_dst=np.asarray(in_dst, np.int64),
        names=_names(flat),
    )
    names = [
        f"{layer.node}:{i}"
        for k, layer in enumerate(flat.layers)
        for i in range(int(flat.offsets[k + 1] - flat.offsets[k]))
    ]

    def core_biases(chip: int, core: int) -> CoreConfig:
        codes, base = core_codes[(chip, core)]
        return CoreConfig(
            chip=chip,
            core=core,
            biases=codes,
            base_weights=tuple((int(c), int(f)) for c, f in base),
        )

    config = DynapseConfig.from_placement(
        placement,
        src=src,
        dst=dst,
        dendrite=dend,
        mask=mask,
        input_src=in_src,
        input_dst=in_dst,
        input_dendrite=in_dend,
        input_mask=in_mask,
        core_biases=core_biases,
        neuron_names=names,
        dt=float(graph.dt) if graph.dt is not None else 1e-3,
    )
    return dataclasses.replace(
        config,
        outputs=(flat.layers[-1].node,),
        output_copies=readout_copies(graph),
    )


def lower_to_config(
    graph: Graph,
    system: DynapseSystem | None = None,
    *,
    i_scale: float = DEFAULT_I_SCALE,
) -> DynapseConfig:
    """Place (``allocate_graph``), quantize (when the pipeline has not; at
    ``i_scale`` when placed here) and build the configuration."""
    flat = _flatten(graph)
    scale = None
    if "placement" not in graph.meta(flat.layers[0].node):
        graph, scale = allocate_graph(graph, system), i_scale
    if "masks" not in graph.meta(flat.weight_nodes[0]):
        graph = quantize_graph(graph, i_scale=scale)
    config = config_from_graph(graph, system)
    config.check()
    return config
