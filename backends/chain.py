"""A chain of SNN layers in a graph, as chips with layered cores take it.

A chain is ``io.input -> W -> N [-> W -> N ...] -> io.output`` where ``W`` is
``nn.linear`` or ``nn.affine`` and ``N`` a neuron op the caller accepts, or, for two
synaptic time constants, two weights each through an ``snn.li`` filter into one neuron
(of a type the caller allows filters on). Each synapse may have one recurrent
``nn.linear`` from its own layer, with the recurrent edge on either side of the weight
(as written, or as imported from NIR, where it sits on the spike side). Targets
(``backends.xylo``, ``backends.dynapse``) turn the layers into their registers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ir import Graph
from ir.op import Op
from ir.ops.io import Input, Output
from ir.ops.nn import Affine, Linear
from ir.ops.snn import LI

__all__ = ["READOUT_META", "Layer", "Synapse", "layer_chain", "readout_copies"]

READOUT_META = "readout_copies"
"""Meta of a population readout (``replicate`` pass): the copies it averages."""

_WEIGHTS = (Linear, Affine)


@dataclass(frozen=True)
class Synapse:
    """One synaptic input of a layer: its weights, an optional ``snn.li`` filter
    (two-synapse layers) and an optional recurrent weight from the layer itself."""

    weight: Linear | Affine
    filter: LI | None
    recurrent: Linear | Affine | None
    where: str  # node name for messages: the filter, or the neuron


@dataclass(frozen=True)
class Layer:
    """One neuron layer of the chain: its node, op and synapses (1 or 2)."""

    node: str
    neuron: Op
    synapses: tuple[Synapse, ...]


def _is_recurrent(graph: Graph, src: str, dst: str) -> bool:
    return any(e.recurrent for e in graph.in_edges(dst) if e.src == src)


def _feedback(graph: Graph, neuron: str, weight: str) -> bool:
    """Whether ``weight`` is a recurrent weight of layer ``neuron`` (read back from it
    with a recurrent edge on either side, into it or into one of its filters)."""
    if not isinstance(graph.op(weight), _WEIGHTS) or graph.producers(weight) != [
        neuron
    ]:
        return False
    users = graph.users(weight)
    if len(users) != 1:
        return False
    target = users[0]
    if target != neuron and not (
        isinstance(graph.op(target), LI) and graph.users(target) == [neuron]
    ):
        return False
    return _is_recurrent(graph, neuron, weight) or _is_recurrent(graph, weight, target)


def layer_chain(
    graph: Graph,
    neurons: tuple[type[Op], ...],
    filtered: tuple[type[Op], ...] = (),
    *,
    readout: bool = False,
) -> tuple[str, list[Layer]]:
    """The input node and the neuron layers of a chain, in order.

    Args:
        graph: the SNN graph.
        neurons: neuron op types a layer may end in.
        filtered: those of ``neurons`` that may read two ``snn.li`` synapse filters.
        readout: whether the caller takes a population readout (an ``nn.linear``
            with ``READOUT_META``, from the ``replicate`` pass) between the last
            layer and ``io.output``; it is not one of the layers returned (see
            ``readout_copies``). Without it such a readout is an error.

    Raises:
        ValueError: any other structure, naming the node.
    """
    inputs = graph.inputs()
    if len(inputs) != 1 or not isinstance(graph.op(inputs[0]), Input):
        raise ValueError(f"expected one io.input, found {inputs}")
    node = inputs[0]
    layers: list[Layer] = []
    while True:
        forward = [
            u for u in graph.users(node) if not (layers and _feedback(graph, node, u))
        ]
        if len(forward) == 1 and isinstance(graph.op(forward[0]), Output):
            if not layers:
                raise ValueError(
                    f"node '{forward[0]}': io.output reads the input directly"
                )
            return inputs[0], layers
        if layers and len(forward) == 1 and READOUT_META in graph.meta(forward[0]):
            users = graph.users(forward[0])
            if not readout:
                raise ValueError(
                    f"node '{forward[0]}': a population readout (replicate pass) "
                    "that this target does not take; compile without replicate"
                )
            if len(users) == 1 and isinstance(graph.op(users[0]), Output):
                return inputs[0], layers
        layer = _next_layer(graph, node, forward, neurons, filtered)
        layers.append(layer)
        node = layer.node


def _next_layer(
    graph: Graph,
    node: str,
    forward: list[str],
    neurons: tuple[type[Op], ...],
    filtered: tuple[type[Op], ...],
) -> Layer:
    """The layer that the weights ``forward`` (users of ``node``) feed."""
    if not 1 <= len(forward) <= 2:
        raise ValueError(
            f"node '{node}' feeds {forward or 'nothing'}; Xylo takes a chain of "
            "layers (one forward weight per synapse, at most two synapses)"
        )
    for w in forward:
        if not isinstance(graph.op(w), _WEIGHTS):
            raise ValueError(
                f"node '{w}': {graph.op(w).name} is not supported on Xylo here; "
                "expected nn.linear or nn.affine"
            )
        if len(graph.users(w)) != 1:
            raise ValueError(
                f"node '{w}' must feed one neuron layer, feeds {graph.users(w)}"
            )
    targets = [graph.users(w)[0] for w in forward]
    if len(forward) == 1 and type(graph.op(targets[0])) in neurons:
        neuron = targets[0]
        rec = _recurrent_into(graph, neuron, neuron, forward[0])
        synapse = Synapse(graph.op(forward[0]), None, rec, neuron)  # type: ignore[arg-type]
        return Layer(neuron, graph.op(neuron), (synapse,))
    filters = targets
    owners = {tuple(graph.users(f)) for f in filters}
    if (
        not all(isinstance(graph.op(f), LI) for f in filters)
        or len(set(filters)) != len(filters)
        or len(owners) != 1
        or len(next(iter(owners))) != 1
        or not isinstance(graph.op(next(iter(owners))[0]), filtered)
    ):
        raise ValueError(
            f"node(s) {forward} must feed one snn.lif, snn.cubalif or snn.if, or "
            "snn.li synapse filters (one per synapse) of one snn.lif or snn.if; "
            f"they feed {targets}"
        )
    neuron = next(iter(owners))[0]
    if sorted(graph.producers(neuron)) != sorted(filters):
        raise ValueError(
            f"node '{neuron}': reads {graph.producers(neuron)}; a two-synapse layer "
            f"reads only its snn.li filters {filters}"
        )
    synapses = tuple(
        Synapse(
            graph.op(w),  # type: ignore[arg-type]
            graph.op(f),  # type: ignore[arg-type]
            _recurrent_into(graph, neuron, f, w),
            f,
        )
        for w, f in zip(forward, filters, strict=True)
    )
    return Layer(neuron, graph.op(neuron), synapses)


def _recurrent_into(
    graph: Graph, neuron: str, target: str, forward: str
) -> Linear | Affine | None:
    """The recurrent weight from ``neuron`` into ``target`` (itself or a filter)."""
    others = [p for p in graph.producers(target) if p != forward]
    if not others:
        return None
    if len(others) != 1 or not _feedback(graph, neuron, others[0]):
        raise ValueError(
            f"node '{target}': inputs {graph.producers(target)}; Xylo takes one "
            "feed-forward weight and at most one recurrent nn.linear from the same "
            "layer (a recurrent edge) per synapse"
        )
    op = graph.op(others[0])
    if isinstance(op, Affine):
        raise ValueError(
            f"node '{others[0]}': the recurrent weight must be nn.linear (no bias)"
        )
    assert isinstance(op, Linear)
    return op


def readout_copies(graph: Graph) -> int:
    """Copies the population readout before ``io.output`` averages (1: none)."""
    for output in graph.outputs():
        for producer in graph.producers(output):
            copies = graph.meta(producer).get(READOUT_META)
            if copies is not None:
                return int(copies)
    return 1
