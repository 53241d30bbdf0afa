"""A spiking network as numbered neurons and synapses, for core allocation.

``Network`` is what the allocator works on: neurons ``0..n-1`` (layers one after the
other, in graph order), synapses ``src -> dst`` (one per incoming connection, i.e. per
fan-in entry), external input channels and their synapses, a parameter-group key per
neuron (neurons on one core must share it) and firing rates (spikes per inference).
``from_graph`` builds it from an SNN graph: neuron layers are the spiking and
integrating ``snn`` ops; synapses come from the chains of linear ops between them (``nn.linear``,
``nn.affine``, ``nn.conv1d``, ``nn.conv2d``, ``nn.sumpool2d``, ``nn.avgpool2d``,
``nn.flatten``, ``nn.scale``), expanded to neuron level by ``compiler.connectivity``:
one synapse per nonzero weight of the composed chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from compiler.connectivity import LINEAR_OPS, chain_connections, linear_chain
from ir import Graph
from ir.op import Op
from ir.ops.io import Input

__all__ = ["NEURON_OPS", "Network", "from_graph", "layer_index"]

NEURON_OPS = (
    "snn.lif",
    "snn.cubalif",
    "snn.if",
    "snn.li",
    "snn.cubali",
    "snn.integrator",
)
"""Ops whose outputs are neurons that take a slot on a core."""


@dataclass(frozen=True, eq=False)
class Network:
    """Neurons, synapses, groups and rates (see the module docstring).

    Attributes:
        n: neurons.
        src, dst: ``(E,)`` neuron-to-neuron synapses.
        group: ``(n,)`` parameter-group key.
        rates: ``(n,)`` spikes per inference of each neuron (1 when unmeasured).
        layers: ``(name, size)`` per layer, in neuron order (for messages).
        n_inputs: external input channels.
        input_src, input_dst: input channel -> neuron synapses.
        input_rates: ``(n_inputs,)`` spikes per inference of each channel.
    """

    n: int
    src: np.ndarray
    dst: np.ndarray
    group: np.ndarray
    rates: np.ndarray
    layers: tuple[tuple[str, int], ...]
    n_inputs: int = 0
    input_src: np.ndarray | None = None
    input_dst: np.ndarray | None = None
    input_rates: np.ndarray | None = None

    @classmethod
    def build(
        cls,
        n: int,
        src: Sequence[int] | np.ndarray,
        dst: Sequence[int] | np.ndarray,
        *,
        group: Sequence[int] | np.ndarray | None = None,
        rates: Sequence[float] | np.ndarray | None = None,
        layers: Sequence[tuple[str, int]] | None = None,
        n_inputs: int = 0,
        input_src: Sequence[int] | np.ndarray = (),
        input_dst: Sequence[int] | np.ndarray = (),
        input_rates: Sequence[float] | np.ndarray | None = None,
    ) -> Network:
        """A checked network (defaults: one group, unit rates, one layer)."""
        s = np.asarray(src, np.int64).reshape(-1)
        d = np.asarray(dst, np.int64).reshape(-1)
        if s.shape != d.shape:
            raise ValueError(f"src and dst differ in length: {s.size} vs {d.size}")
        if s.size and (min(s.min(), d.min()) < 0 or max(s.max(), d.max()) >= n):
            raise ValueError(f"synapse endpoints must be neurons 0..{n - 1}")
        g = np.zeros(n, np.int64) if group is None else np.asarray(group, np.int64)
        r = np.ones(n) if rates is None else np.asarray(rates, np.float64)
        if g.shape != (n,) or r.shape != (n,):
            raise ValueError(f"group and rates must have one entry per neuron ({n})")
        if np.any(~np.isfinite(r) | (r < 0)):
            raise ValueError("rates must be finite and >= 0")
        i_s = np.asarray(input_src, np.int64).reshape(-1)
        i_d = np.asarray(input_dst, np.int64).reshape(-1)
        if i_s.shape != i_d.shape:
            raise ValueError("input_src and input_dst differ in length")
        if i_s.size and (i_s.min() < 0 or i_s.max() >= n_inputs or i_d.max() >= n):
            raise ValueError(
                "input synapses must join channels 0..n_inputs-1 to neurons"
            )
        i_r = (
            np.ones(n_inputs) if input_rates is None else np.asarray(input_rates, float)
        )
        return cls(
            n=n,
            src=s,
            dst=d,
            group=g,
            rates=r,
            layers=tuple(layers) if layers is not None else (("neurons", n),),
            n_inputs=n_inputs,
            input_src=i_s,
            input_dst=i_d,
            input_rates=i_r,
        )

    def name(self, i: int) -> str:
        """``layer 'x' neuron k`` for neuron ``i``."""
        found = layer_index(self.layers, i)
        if found is None:
            return f"neuron {i}"
        layer, k = found
        return f"layer '{layer}' neuron {k}"

    def layer_of_group(self, g: int) -> list[str]:
        """Layers with neurons in group ``g``."""
        names, start = [], 0
        for layer, size in self.layers:
            if np.any(self.group[start : start + size] == g):
                names.append(layer)
            start += size
        return names


def layer_index(layers: Sequence[tuple[str, int]], i: int) -> tuple[str, int] | None:
    """The layer of neuron ``i`` and its index there, neurons numbered layer after
    layer in ``(name, size)`` order; ``None`` past the last layer."""
    start = 0
    for layer, size in layers:
        if i < start + size:
            return layer, i - start
        start += size
    return None


def _edges(graph: Graph, weight: str) -> tuple[str, np.ndarray, np.ndarray]:
    """The source of the weight chain ending at ``weight`` and its synapses."""
    op = graph.op(weight)
    if not isinstance(op, LINEAR_OPS):
        raise ValueError(
            f"node '{weight}': {op.name} between neuron layers is not supported by "
            f"core allocation ({', '.join(c.name for c in LINEAR_OPS)})"
        )
    source, chain = linear_chain(graph, weight)
    conn = chain_connections(graph, source, chain)
    return source, conn.src, conn.dst


def _key(
    op: Op, shared: Sequence[str], shape: tuple[int, ...]
) -> list[tuple[float, ...]]:
    """Per neuron (flattened), the values of the shared fields."""
    size = int(np.prod(shape))
    cols = []
    for name in shared:
        value = getattr(op, name, None)
        if value is None:
            cols.append(np.zeros(size))
        else:
            arr = np.asarray(value, np.float64)
            cols.append(np.broadcast_to(arr, shape).reshape(-1))
    return [tuple(row) for row in np.stack(cols, 1).tolist()] if cols else [()] * size


def from_graph(
    graph: Graph,
    shared_parameters: Sequence[str] = (),
    rates: dict[str, np.ndarray] | None = None,
) -> Network:
    """The neuron-level network of an SNN graph (see the module docstring).

    Args:
        graph: a graph with shapes (``infer-shapes``).
        shared_parameters: op fields whose values define parameter groups (the op
            name always does).
        rates: per neuron-layer node, spikes per inference of each neuron.

    Raises:
        ValueError: an op between neuron layers that allocation cannot expand.
    """
    layers = [n for n in graph.topo_order() if graph.op(n).name in NEURON_OPS]
    offsets: dict[str, int] = {}
    sizes: list[tuple[str, int]] = []
    total = 0
    for node in layers:
        size = int(np.prod(graph.shape(node)))
        offsets[node] = total
        sizes.append((node, size))
        total += size
    inputs = [n for n in graph.inputs() if isinstance(graph.op(n), Input)]
    in_offsets: dict[str, int] = {}
    n_inputs = 0
    for node in inputs:
        in_offsets[node] = n_inputs
        n_inputs += int(np.prod(graph.shape(node)))
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    i_src: list[np.ndarray] = []
    i_dst: list[np.ndarray] = []
    for node in layers:
        for weight in graph.producers(node):
            if weight in offsets:
                raise ValueError(
                    f"node '{node}' reads neuron layer '{weight}' without a weight"
                )
            producer, s_idx, d_idx = _edges(graph, weight)
            if producer in offsets:
                src.append(s_idx + offsets[producer])
                dst.append(d_idx + offsets[node])
            elif producer in in_offsets:
                i_src.append(s_idx + in_offsets[producer])
                i_dst.append(d_idx + offsets[node])
            else:
                raise ValueError(
                    f"node '{weight}' reads '{producer}', which is neither a neuron "
                    "layer nor a graph input"
                )
    keys: dict[tuple[object, ...], int] = {}
    group = np.zeros(total, np.int64)
    for node in layers:
        op = graph.op(node)
        for i, key in enumerate(_key(op, shared_parameters, graph.shape(node))):
            group[offsets[node] + i] = keys.setdefault((op.name, *key), len(keys))
    rate = np.ones(total)
    for node, values in (rates or {}).items():
        if node in offsets:
            flat = np.asarray(values, np.float64).reshape(-1)
            rate[offsets[node] : offsets[node] + flat.size] = flat

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    return Network.build(
        total,
        cat(src),
        cat(dst),
        group=group,
        rates=rate,
        layers=sizes,
        n_inputs=n_inputs,
        input_src=cat(i_src),
        input_dst=cat(i_dst),
    )
