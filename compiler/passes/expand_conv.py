"""The ``expand-conv`` pass."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.allocation.network import NEURON_OPS
from compiler.connectivity import LINEAR_OPS, chain_connections, linear_chain
from compiler.pass_base import Pass
from ir import Graph, Op
from ir.ops.io import Input, Output
from ir.ops.nn import (
    Add,
    Affine,
    AvgPool2d,
    Clip,
    Conv1d,
    Conv2d,
    Flatten,
    Linear,
    ReLU,
    SumPool2d,
)

__all__ = ["ExpandConvError", "ExpandConvPass"]

_SPATIAL = (Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten)
_ELEMENTWISE = (ReLU, Add, Clip)
"""Non-linear ``nn`` ops that act element by element: they keep working flattened."""

_HINTS = {
    "nn.maxpool2d": "max pooling is not a weighted sum; use average or sum pooling",
    "nn.batchnorm": "run fold-bn first",
}


class ExpandConvError(ValueError):
    """A graph ``expand-conv`` cannot expand, or whose expansion does not fit the
    target (the message names the op and node, the limit and the value)."""


@dataclass(frozen=True)
class ExpandConvPass(Pass):
    """Expand conv/pool/flatten chains into dense weights between flat neuron layers.

    Every chain of linear ops between two non-linear nodes (``nn.conv1d``,
    ``nn.conv2d``, ``nn.sumpool2d``, ``nn.avgpool2d``, ``nn.flatten``, ``nn.scale``,
    ``nn.linear``, ``nn.affine``; e.g. a sum pooling, a flatten and a dense layer
    between two spiking layers) becomes one ``nn.linear`` (``nn.affine`` when a bias
    survives) on flat neuron indices, named after the chain's last node, with the
    chain in its meta ``expanded_from`` (``("nn.sumpool2d 'pool1'", ...)``). Weight
    sharing is expanded (``compiler.connectivity``); a pooling folds into the weights
    (sum pooling is linear, average pooling is sum pooling times 1/k^2). Neuron layers,
    the graph's input and output become flat (row-major, as ``nn.flatten``; neuron
    parameters broadcast to one value per neuron); ``io.input`` and ``io.output`` keep
    their former shape in meta ``flattened_from``, so a caller feeds
    ``x.reshape(N, T, -1)``. The result is the same function in exact arithmetic (in
    float32, a folded pooling sums in another order). A graph with neither a spatial
    op nor a multi-dimensional node is returned unchanged (and unchecked: the
    target's own passes check it).

    With ``target``, the expanded sizes are checked against the limits that target
    declares (``Target.limits``): ``max_input_channels``, ``max_hidden_neurons``,
    ``max_output_neurons`` (layers read by ``io.output`` are outputs),
    ``max_fanout`` and ``rec_weight_entries`` (weights between hidden layers),
    ``cam_entries`` (fan-in per neuron) and the neurons of ``chips x cores_per_chip x
    neurons_per_core``. A violation raises ``ExpandConvError`` naming the op (``nn.sumpool2d
    'pool1'``), the limit and the value.

    Options:
        target: the target whose limits the expansion must fit ("" checks nothing).
    """

    name = "expand-conv"

    target: str = ""

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        shapes = graph.shapes()
        if not any(
            isinstance(graph.op(n), _SPATIAL) or len(shapes[n]) > 1 for n in graph
        ):
            return graph.copy()
        out = _expand(graph, shapes)
        if self.target:
            _check_fit(out, self.target, _limits(self.target))
        return out


def _expand(graph: Graph, shapes: Mapping[str, tuple[int, ...]]) -> Graph:
    out = graph.copy()
    had_shapes = any("shape" in graph.meta(n) for n in graph)
    members: set[str] = set()
    for end in graph.topo_order():
        op = graph.op(end)
        users = graph.users(end)
        if not isinstance(op, LINEAR_OPS) or all(
            isinstance(graph.op(u), LINEAR_OPS) for u in users
        ):
            continue
        linear_users = [u for u in users if isinstance(graph.op(u), LINEAR_OPS)]
        if linear_users:
            raise ExpandConvError(
                f"{op.name} '{end}' feeds both linear ops {linear_users} and other "
                "nodes; expand-conv takes chains (give each branch its own weights)"
            )
        try:
            source, chain = linear_chain(graph, end)
        except ValueError as err:
            raise ExpandConvError(str(err)) from None
        plain = all(type(graph.op(n)) in (Linear, Affine) for n in chain)
        if plain and all(len(shapes[n]) == 1 for n in (source, *chain)):
            continue
        conn = chain_connections(graph, source, chain)
        weight = conn.dense().astype(np.float32)
        new: Op = Linear(weight=weight)
        if conn.bias is not None and np.any(conn.bias):
            new = Affine(weight=weight, bias=conn.bias.astype(np.float32))
        (first,) = graph.in_edges(chain[0])
        out.replace(end, new)
        if len(chain) > 1:
            out.disconnect(chain[-2], end)
            out.connect(source, end, src_port=first.src_port, recurrent=first.recurrent)
        out.meta(end)["expanded_from"] = tuple(
            f"{graph.op(n).name} '{n}'" for n in chain
        )
        members.update(chain[:-1])
    dead = [n for n in members if n in out and not out.users(n)]
    while dead:
        for node in dead:
            producers = out.producers(node)
            out.remove(node)
            members.update(p for p in producers if isinstance(out.op(p), LINEAR_OPS))
        dead = [n for n in members if n in out and not out.users(n)]
    for node in graph.topo_order():
        if node not in out or isinstance(graph.op(node), LINEAR_OPS):
            continue
        if len(shapes[node]) > 1:
            _flatten_node(out, node, shapes[node])
    for node in out:
        out.meta(node).pop("shape", None)
    if had_shapes:
        for node, shape in out.shapes().items():
            out.meta(node)["shape"] = shape
    return out


def _flatten_node(graph: Graph, node: str, shape: tuple[int, ...]) -> None:
    op = graph.op(node)
    if isinstance(op, Input):
        graph.replace(node, Input(shape=(int(np.prod(shape)),)))
        graph.meta(node)["flattened_from"] = shape
        return
    if isinstance(op, Output):
        graph.meta(node)["flattened_from"] = shape
        return
    if not (op.name.startswith("snn.") or isinstance(op, _ELEMENTWISE)):
        hint = _HINTS.get(op.name, "expand-conv flattens io, snn and elementwise ops")
        raise ExpandConvError(
            f"{op.name} '{node}' has shape {shape} and is not a linear op, so its "
            f"neurons cannot be expanded to flat weights: {hint}"
        )
    changes = {}
    for field, kind in op.fields_.items():
        value = getattr(op, field)
        if kind.kind == "tensor" and isinstance(value, np.ndarray) and value.ndim:
            try:
                flat = np.broadcast_to(value, shape).reshape(-1)
            except ValueError:
                raise ExpandConvError(
                    f"{op.name} '{node}': {field} of shape {value.shape} does not "
                    f"broadcast to the layer's shape {shape}"
                ) from None
            changes[field] = np.ascontiguousarray(flat)
    graph.replace(node, op.replace(**changes) if changes else op)


def _limits(target: str) -> Mapping[str, int | float]:
    from backends import available_targets, get_target

    if target not in available_targets():
        raise ValueError(
            f"unknown target '{target}'; known: {', '.join(available_targets())}"
        )
    return get_target(target).limits


@dataclass(frozen=True)
class _Weight:
    """One weight node into a neuron layer, flat, after expansion."""

    node: str
    source: str
    layer: str
    weight: np.ndarray  # (n_layer, n_source) dense
    what: str  # the op(s) it came from, for messages


def _describe(graph: Graph, node: str) -> str:
    chain = graph.meta(node).get("expanded_from")
    if not chain:
        return f"{graph.op(node).name} '{node}'"
    spatial = [
        c for c in chain if c.startswith(("nn.conv", "nn.sumpool", "nn.avgpool"))
    ]
    main = spatial[0] if spatial else chain[0]
    rest = [c for c in chain if c != main]
    return main + (f" (expanded with {', '.join(rest)})" if rest else "")


def _weights(graph: Graph) -> tuple[list[str], list[_Weight]]:
    layers = [n for n in graph.topo_order() if graph.op(n).name in NEURON_OPS]
    found = []
    for layer in layers:
        for node in graph.producers(layer):
            op = graph.op(node)
            if not isinstance(op, (Linear, Affine)) or len(graph.producers(node)) != 1:
                continue
            (source,) = graph.producers(node)
            w = np.asarray(op.weight)
            found.append(_Weight(node, source, layer, w, _describe(graph, node)))
    return layers, found


def _fail(
    subject: str, quantity: str, value: int, target: str, key: str, limit: float
) -> None:
    raise ExpandConvError(
        f"{subject}: {quantity} is {value:,}, over {target}'s limit of {int(limit):,} "
        f"({key})"
    )


def _check_fit(graph: Graph, target: str, limits: Mapping[str, int | float]) -> None:
    """Raise ``ExpandConvError`` at the first limit the expanded graph exceeds."""
    layers, weights = _weights(graph)
    sizes = {n: int(np.prod(graph.shape(n))) for n in layers}
    outputs = {p for o in graph.outputs() for p in graph.producers(o)}
    hidden = [n for n in layers if n not in outputs]
    into = {n: [w for w in weights if w.layer == n] for n in layers}

    def made_by(layer: str) -> str:
        forward = [w for w in into[layer] if w.source != layer]
        return forward[0].what if forward else f"layer '{layer}'"

    key = "max_input_channels"
    for node in graph.inputs() if key in limits else []:
        n = int(np.prod(graph.shape(node)))
        readers = [w.what for w in weights if w.source == node]
        if n > limits[key]:
            shape = tuple(graph.meta(node).get("flattened_from", graph.shape(node)))
            subject = readers[0] if readers else f"input '{node}'"
            quantity = f"input channels of '{node}' ({shape} flattened)"
            _fail(subject, quantity, n, target, key, limits[key])
    for key, group in (("max_hidden_neurons", hidden), ("max_output_neurons", outputs)):
        members = [n for n in layers if n in group]
        total = sum(sizes[n] for n in members)
        if key in limits and total > limits[key]:
            big = max(members, key=lambda n: sizes[n])
            kind = key.split("_")[1]
            quantity = (
                f"{kind} neurons (layer '{big}': {sizes[big]:,}, all {kind} layers)"
            )
            _fail(made_by(big), quantity, total, target, key, limits[key])
    key = "cam_entries"
    for layer in layers if key in limits else []:
        if not into[layer]:
            continue
        fan_in = sum(np.count_nonzero(w.weight, axis=1) for w in into[layer])
        worst = int(np.argmax(fan_in))
        if fan_in[worst] > limits[key]:
            main = max(into[layer], key=lambda w: np.count_nonzero(w.weight[worst]))
            quantity = (
                f"fan-in (one CAM entry per synapse) of layer '{layer}' neuron {worst}"
            )
            _fail(main.what, quantity, int(fan_in[worst]), target, key, limits[key])
    between = [w for w in weights if w.source in hidden and w.layer in hidden]
    key = "max_fanout"
    for source in hidden if key in limits else []:
        outgoing = [w for w in between if w.source == source]
        if not outgoing:
            continue
        fan_out = sum(np.count_nonzero(w.weight, axis=0) for w in outgoing)
        worst = int(np.argmax(fan_out))
        if fan_out[worst] > limits[key]:
            main = max(outgoing, key=lambda w: np.count_nonzero(w.weight[:, worst]))
            quantity = f"fan-out of layer '{source}' neuron {worst}"
            _fail(main.what, quantity, int(fan_out[worst]), target, key, limits[key])
    key = "rec_weight_entries"
    if key in limits and between:
        entries = sum(int(np.count_nonzero(w.weight)) for w in between)
        if entries > limits[key]:
            main = max(between, key=lambda w: np.count_nonzero(w.weight))
            quantity = "nonzero weights between hidden layers"
            _fail(main.what, quantity, entries, target, key, limits[key])
    cores = ("chips", "cores_per_chip", "neurons_per_core")
    if all(k in limits for k in cores) and layers:
        capacity = int(np.prod([limits[k] for k in cores]))
        total = sum(sizes.values())
        if total > capacity:
            big = max(layers, key=lambda n: sizes[n])
            quantity = f"neurons (layer '{big}': {sizes[big]:,}, all layers)"
            _fail(made_by(big), quantity, total, target, " x ".join(cores), capacity)
