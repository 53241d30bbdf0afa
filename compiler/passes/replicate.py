"""The ``replicate`` pass: redundancy on idle neurons, read out as a population.

An analog chip's neurons differ (mismatch), and an output neuron's own deviation
(its threshold, its gains) cannot be trimmed away per core. Averaging ``k``
independent copies of a neuron cuts the spread of that average by ``sqrt(k)``.
``replicate{copies=k}`` puts ``k`` copies of a neuron chain side by side and reads
the output as the mean of the copies:

* the first layer's weights are stacked: every copy reads the same inputs;
* every later weight (forward and recurrent) is block-diagonal: copy ``j`` of a
  layer reads only copy ``j`` of the layer before, so each neuron keeps its fan-in
  (a Dynap-SE2 neuron has 64 CAM entries: copies do not add to it);
* per-neuron parameters are tiled; copies are copy-major (copy ``j`` of neuron ``i``
  of a layer of ``n`` is neuron ``j n + i``);
* a ``population readout`` ``nn.linear`` (weight ``[I/k, I/k, ...]``, meta
  ``readout_copies = k``) averages the copies of each output channel before
  ``io.output``.

``output-copies=K`` (a multiple of ``k``) gives the last layer ``K`` copies instead:
output copy ``j`` reads hidden copy ``j mod k`` and the readout averages all ``K``.
An output neuron's own mismatch (its synapses' gains scale all its inputs of one
sign by one factor, which no per-core trim undoes) is then averaged ``K`` times at
the cost of ``K - k`` more copies of the output layer alone, where ``K`` copies of
everything would multiply the hidden layers too. The readout node's meta
``hidden_copies = k`` records it.

On the ideal chip (and in the reference interpreter) every copy computes what the
original neuron did, so the graph's output is the original's, exactly for
``k`` a power of two (the mean of ``k`` equal floats), within rounding otherwise. On a
mismatched chip each copy has its own deviations and the mean's spread falls.
Resources: ``k`` times the neurons and connections; the fan-in per neuron is
unchanged, an input channel's fan-out grows ``k`` times.

Targets that lower neuron chains recognise the readout by its meta; it must stay the
output's only producer (run ``replicate`` after the float-level passes and before
placement).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.pass_base import Pass
from ir import Graph
from ir.ops.io import Output
from ir.ops.nn import Affine, Linear
from ir.ops.snn import IF, LIF, CubaLIF

__all__ = [
    "HIDDEN_META",
    "READOUT_META",
    "ReplicatePass",
    "check_output_copies",
    "hidden_copies",
    "replicate_graph",
    "single_copy",
]

READOUT_META = "readout_copies"
"""Meta key of the population readout node: the copies it averages (the same key
as ``backends.chain.READOUT_META``, which lowerings read)."""

HIDDEN_META = "hidden_copies"
"""Meta key of the population readout node where the layers before the last have
fewer copies than it averages (``output-copies``): their copies."""

_NEURONS = (LIF, CubaLIF, IF)


@dataclass(frozen=True)
class ReplicatePass(Pass):
    """Replicate a neuron chain ``copies`` times with a population readout (module
    docstring): ``k`` times the neurons, the same function, a smaller spread across
    mismatched chips.

    Options:
        copies: copies of every neuron (``1``: the graph unchanged).
        output_copies: copies of the last layer's neurons, a multiple of ``copies``
            (``0``: ``copies``); output copy ``j`` reads copy ``j mod copies`` of
            the layer before.
    """

    name = "replicate"

    copies: int = 2
    output_copies: int = 0

    def __post_init__(self) -> None:
        if self.copies < 1:
            raise ValueError(f"option copies must be >= 1, got {self.copies}")
        check_output_copies(self.copies, self.output_copies)

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        return replicate_graph(graph, self.copies, self.output_copies)


def check_output_copies(
    copies: int, output_copies: int, what: str = "option output-copies"
) -> None:
    """``ValueError`` (naming ``what``) unless ``output_copies`` is 0 or a multiple
    of ``copies``."""
    if output_copies != 0 and (output_copies < copies or output_copies % copies):
        raise ValueError(
            f"{what} must be 0 (copies) or a multiple of copies ({copies}), "
            f"got {output_copies}"
        )


def hidden_copies(graph: Graph) -> int:
    """Copies of each neuron of the layers before the last in a replicated graph
    (the readout's ``HIDDEN_META``, else the copies it averages; 1: not
    replicated)."""
    for node in graph.nodes():
        meta = graph.meta(node)
        if READOUT_META in meta:
            return int(meta.get(HIDDEN_META, meta[READOUT_META]))
    return 1


def replicate_graph(graph: Graph, copies: int, output_copies: int = 0) -> Graph:
    """``graph`` with every neuron replicated ``copies`` times, the last layer's
    ``output_copies`` times (``0``: ``copies``; module docstring).

    Raises:
        ValueError: a graph that is not a chain of ``snn.lif``/``snn.cubalif``/
            ``snn.if`` layers with one synapse each, one already replicated, or one
            already placed (naming the node); ``output_copies`` not 0 or a
            multiple of ``copies``.
    """
    from backends.chain import layer_chain

    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    check_output_copies(copies, output_copies)
    outputs = output_copies or copies
    out = graph.copy()
    if outputs == 1:
        return out
    for node in out.nodes():
        if READOUT_META in out.meta(node):
            raise ValueError(
                f"node '{node}': the graph is already replicated "
                f"({out.meta(node)[READOUT_META]} copies); replicate once"
            )
    _, layers = layer_chain(out, _NEURONS)
    for k, layer in enumerate(layers):
        if "placement" in out.meta(layer.node):
            raise ValueError(
                f"node '{layer.node}' is already placed on cores; run replicate "
                "before allocate-cores / place-dynapse"
            )
        if len(layer.synapses) != 1 or layer.synapses[0].filter is not None:
            raise ValueError(f"node '{layer.node}': replicate takes one-synapse layers")
        n = int(graph.shape(layer.node)[0])
        mine = outputs if k == len(layers) - 1 else copies
        for weight in out.producers(layer.node):
            op = out.op(weight)
            if not isinstance(op, (Linear, Affine)):
                raise ValueError(
                    f"node '{weight}': expected nn.linear or nn.affine, got {op.name}"
                )
            recurrent = out.producers(weight) == [layer.node]
            w = np.asarray(op.weight)
            if k == 0 and not recurrent:  # the first layer's inputs are shared
                big = np.tile(w, (mine, 1))
            elif recurrent:  # within each copy
                big = _block_diagonal(w, mine)
            else:  # copy j reads copy j mod copies of the layer before
                big = np.tile(_block_diagonal(w, copies), (mine // copies, 1))
            changes: dict[str, Any] = {"weight": big.astype(w.dtype)}
            if isinstance(op, Affine):
                changes["bias"] = np.tile(np.asarray(op.bias), mine).astype(
                    op.bias.dtype
                )
            out.replace(weight, op.replace(**changes))
        out.replace(layer.node, _tiled(layer.neuron, n, mine))
    (output,) = out.outputs()
    (edge,) = out.in_edges(output)
    if not isinstance(out.op(output), Output):
        raise ValueError(f"node '{output}': expected io.output")
    classes = int(graph.shape(edge.src)[0])
    eye = np.eye(classes, dtype=np.float32)
    readout = np.tile(eye / np.float32(outputs), (1, outputs))
    name = out.fresh_name(f"{edge.src}_readout")
    meta: dict[str, Any] = {READOUT_META: outputs}
    if outputs != copies:
        meta[HIDDEN_META] = copies
    out.add(name, Linear(weight=readout), [edge.src], meta=meta)
    out.disconnect(edge.src, output)
    out.connect(name, output, dst_port=edge.dst_port)
    return out


def _block_diagonal(w: np.ndarray, copies: int) -> np.ndarray:
    """``copies`` copies of ``w`` on the diagonal."""
    return np.kron(np.eye(copies, dtype=w.dtype), w)


def _tiled(op: Any, n: int, copies: int) -> Any:
    """A neuron op with its per-neuron ``(n,)`` parameters tiled ``copies`` times."""
    return _per_neuron(
        op, lambda a: np.tile(a, copies).astype(a.dtype) if a.shape[0] == n else None
    )


def _per_neuron(op: Any, change: Callable[[np.ndarray], np.ndarray | None]) -> Any:
    """``op`` with each 1-d array parameter ``a`` replaced by ``change(a)`` (kept
    where that is ``None``)."""
    changes = {}
    for name in op._arrays:
        value = getattr(op, name)
        if value is None or np.ndim(value) != 1:
            continue
        new = change(np.asarray(value))
        if new is not None:
            changes[name] = new
    return op.replace(**changes) if changes else op


def single_copy(graph: Graph) -> Graph:
    """Copy 0 of a replicated graph, without its readout and without any meta
    (placement, quantization, shapes: run ``infer-shapes``): the network
    ``replicate`` started from, with the weights it has now. A graph that is not
    replicated comes back as a copy.
    """
    from backends.chain import layer_chain, readout_copies

    copies = readout_copies(graph)
    if copies == 1:
        return graph.copy()
    _, layers = layer_chain(graph, _NEURONS, readout=True)
    out = Graph(graph.name, dt=graph.dt)
    sizes = {}
    hidden = hidden_copies(graph)
    for node in graph.nodes():
        if READOUT_META not in graph.meta(node):
            out.add(node, graph.op(node))
    for index, layer in enumerate(layers):
        mine = copies if index == len(layers) - 1 else hidden
        n = int(graph.shape(layer.node)[0]) // mine
        sizes[layer.node] = n
        out.replace(layer.node, _sliced(layer.neuron, n))
    for layer_index, layer in enumerate(layers):
        n = sizes[layer.node]
        for weight in graph.producers(layer.node):
            op = graph.op(weight)
            assert isinstance(op, (Linear, Affine))
            source = graph.producers(weight)[0]
            m = sizes.get(source, op.weight.shape[1])
            if layer_index == 0 and source not in sizes:
                m = op.weight.shape[1]
            changes: dict[str, Any] = {"weight": np.asarray(op.weight)[:n, :m]}
            if isinstance(op, Affine):
                changes["bias"] = np.asarray(op.bias)[:n]
            out.replace(weight, op.replace(**changes))
    for edge in graph.edges():
        src, dst = edge.src, edge.dst
        if READOUT_META in graph.meta(src):
            continue
        if READOUT_META in graph.meta(dst):
            (output,) = graph.users(dst)
            (last,) = graph.in_edges(output)
            out.connect(src, output, dst_port=last.dst_port)
            continue
        out.connect(
            src,
            dst,
            src_port=edge.src_port,
            dst_port=edge.dst_port,
            recurrent=edge.recurrent,
        )
    return out


def _sliced(op: Any, n: int) -> Any:
    """A neuron op with its per-neuron parameters cut to the first ``n``."""
    return _per_neuron(op, lambda a: a[:n] if a.shape[0] > 1 else None)
