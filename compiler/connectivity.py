"""Neuron-level connectivity of the ``nn`` dialect's linear ops.

Each stateless linear op (``nn.linear``, ``nn.affine``, ``nn.conv1d``, ``nn.conv2d``,
``nn.sumpool2d``, ``nn.avgpool2d``, ``nn.flatten``, ``nn.scale``) maps its input,
flattened row-major, to its output, flattened likewise: ``y = W x + b``.
``connections`` gives ``W`` as sparse triplets (one per nonzero weight: a synapse,
once both ends are neurons) and ``b``; ``Connections.then`` composes two maps, so a
convolution, a pooling and a dense layer between two neuron layers become one matrix
(``chain_connections``, along the chain ``linear_chain`` finds).

Two users: core allocation (``compiler.allocation.from_graph``: which neuron feeds
which, for the traffic metric) and ``expand-conv`` (the weights themselves).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ir import Graph
from ir.op import Op
from ir.ops.nn import (
    Affine,
    AvgPool2d,
    Conv1d,
    Conv2d,
    Flatten,
    Linear,
    Scale,
    SumPool2d,
)

__all__ = [
    "LINEAR_OPS",
    "Connections",
    "chain_connections",
    "connections",
    "linear_chain",
]

LINEAR_OPS: tuple[type[Op], ...] = (
    Linear,
    Affine,
    Conv1d,
    Conv2d,
    SumPool2d,
    AvgPool2d,
    Flatten,
    Scale,
)
"""Ops whose flat input-to-output map is linear (plus a bias), expanded here."""


@dataclass(frozen=True, eq=False)
class Connections:
    """A linear map ``y = W x + b`` from ``n_in`` to ``n_out`` flat elements.

    Attributes:
        n_in, n_out: flat sizes.
        src, dst: ``(E,)`` int64 indices of each nonzero weight (input, output).
        weight: ``(E,)`` float64 values, never 0.
        bias: ``(n_out,)`` float64, or ``None`` (no bias).
    """

    n_in: int
    n_out: int
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None = None

    def then(self, after: Connections) -> Connections:
        """The map ``after(self(x))`` (sums over the middle elements)."""
        if after.n_in != self.n_out:
            raise ValueError(f"cannot compose {self.n_out} outputs with {after.n_in}")
        order = np.argsort(self.dst, kind="stable")
        s_src, s_dst, s_w = self.src[order], self.dst[order], self.weight[order]
        start = np.searchsorted(s_dst, after.src, "left")
        count = np.searchsorted(s_dst, after.src, "right") - start
        total = int(count.sum())
        rep = np.repeat(np.arange(after.src.size), count)
        first = np.repeat(np.cumsum(count) - count, count)
        idx = np.repeat(start, count) + (np.arange(total) - first)
        key = after.dst[rep] * self.n_in + s_src[idx]
        keys, inverse = np.unique(key, return_inverse=True)
        summed = np.bincount(
            inverse.reshape(-1),
            weights=s_w[idx] * after.weight[rep],
            minlength=keys.size,
        )
        keep = summed != 0
        bias = after.bias
        if self.bias is not None:
            moved = np.bincount(
                after.dst,
                weights=after.weight * self.bias[after.src],
                minlength=after.n_out,
            )
            bias = moved if bias is None else moved + bias
        return Connections(
            n_in=self.n_in,
            n_out=after.n_out,
            src=(keys[keep] % self.n_in).astype(np.int64),
            dst=(keys[keep] // self.n_in).astype(np.int64),
            weight=summed[keep],
            bias=bias,
        )

    def dense(self) -> np.ndarray:
        """``W`` as a dense ``(n_out, n_in)`` float64 array."""
        w = np.zeros((self.n_out, self.n_in))
        w[self.dst, self.src] = self.weight
        return w

    def fan_in(self) -> np.ndarray:
        """Nonzero weights into each output element, ``(n_out,)``."""
        return np.bincount(self.dst, minlength=self.n_out)

    def fan_out(self) -> np.ndarray:
        """Nonzero weights out of each input element, ``(n_in,)``."""
        return np.bincount(self.src, minlength=self.n_in)


def _sparse(
    n_in: int,
    n_out: int,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
) -> Connections:
    keep = weight != 0
    return Connections(
        n_in=n_in,
        n_out=n_out,
        src=src[keep].astype(np.int64),
        dst=dst[keep].astype(np.int64),
        weight=weight[keep].astype(np.float64),
        bias=None if bias is None else np.asarray(bias, np.float64),
    )


def _conv2d(
    w: np.ndarray,
    groups: int,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    in_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(src, dst, weight)`` of a 2-D convolution's nonzero weights (flat indices)."""
    _, h, wd = in_shape
    cout, ho, wo = out_shape
    per_group_in = w.shape[1]
    per_group_out = cout // groups
    ys, xs = np.meshgrid(np.arange(ho), np.arange(wo), indexing="ij")
    srcs, dsts, vals = [], [], []
    for co, ci, ky, kx in zip(*np.nonzero(w), strict=True):
        c_in = (co // per_group_out) * per_group_in + ci
        iy = ys * stride[0] - padding[0] + ky * dilation[0]
        ix = xs * stride[1] - padding[1] + kx * dilation[1]
        ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < wd)
        srcs.append((c_in * h * wd + iy * wd + ix)[ok])
        dsts.append((co * ho * wo + ys * wo + xs)[ok])
        vals.append(np.full(int(ok.sum()), w[co, ci, ky, kx], np.float64))
    if not srcs:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0)
    return np.concatenate(srcs), np.concatenate(dsts), np.concatenate(vals)


def connections(
    op: Op, in_shape: tuple[int, ...], out_shape: tuple[int, ...]
) -> Connections:
    """The flat map of one linear op (one of ``LINEAR_OPS``) between two shapes.

    Raises:
        ValueError: ``op`` is not one of ``LINEAR_OPS``.
    """
    n_in, n_out = int(np.prod(in_shape)), int(np.prod(out_shape))
    if isinstance(op, (Linear, Affine)):
        w = np.asarray(op.weight, np.float64)
        rows, cols = np.nonzero(w)
        prefix = n_in // w.shape[1]  # a dense layer acts on the last dim only
        p = np.repeat(np.arange(prefix), rows.size)
        src = p * w.shape[1] + np.tile(cols, prefix)
        dst = p * w.shape[0] + np.tile(rows, prefix)
        bias = np.tile(op.bias, prefix) if isinstance(op, Affine) else None
        return _sparse(n_in, n_out, src, dst, np.tile(w[rows, cols], prefix), bias)
    if isinstance(op, (Conv1d, Conv2d)):
        w = np.asarray(op.weight, np.float64)
        if isinstance(op, Conv2d):
            src, dst, val = _conv2d(
                w,
                op.groups,
                (op.stride[0], op.stride[1]),
                (op.padding[0], op.padding[1]),
                (op.dilation[0], op.dilation[1]),
                in_shape,
                out_shape,
            )
        else:  # a 1-D convolution is a 2-D one of height 1
            src, dst, val = _conv2d(
                w[:, :, None, :],
                op.groups,
                (1, op.stride),
                (0, op.padding),
                (1, op.dilation),
                (in_shape[0], 1, in_shape[1]),
                (out_shape[0], 1, out_shape[1]),
            )
        bias = None
        if op.bias is not None:
            bias = np.repeat(np.asarray(op.bias, np.float64), n_out // w.shape[0])
        return _sparse(n_in, n_out, src, dst, val, bias)
    if isinstance(op, (SumPool2d, AvgPool2d)):
        # A pool is a depthwise convolution with a constant kernel; AvgPool2d counts
        # the padding (count_include_pad), so its divisor is always the window area.
        kh, kw = op.kernel_size
        value = 1.0 if isinstance(op, SumPool2d) else 1.0 / (kh * kw)
        channels = in_shape[0]
        kernel = np.full((channels, 1, kh, kw), value)
        src, dst, val = _conv2d(
            kernel,
            channels,
            op.strides,
            (op.padding[0], op.padding[1]),
            (1, 1),
            in_shape,
            out_shape,
        )
        return _sparse(n_in, n_out, src, dst, val)
    if isinstance(op, Flatten):
        index = np.arange(n_in)
        return _sparse(n_in, n_out, index, index, np.ones(n_in))
    if isinstance(op, Scale):
        scale = np.broadcast_to(np.asarray(op.scale, np.float64), in_shape)
        index = np.arange(n_in)
        return _sparse(n_in, n_out, index, index, scale.reshape(-1))
    raise ValueError(
        f"{op.name} is not a linear op ({', '.join(c.name for c in LINEAR_OPS)})"
    )


def linear_chain(graph: Graph, end: str) -> tuple[str, list[str]]:
    """The source and the linear ops, in order, of the chain that ends at ``end``.

    Walks back from ``end`` through ``LINEAR_OPS`` nodes to the first node that is
    not one (a neuron layer, a graph input, anything else): the chain's source.

    Raises:
        ValueError: ``end`` is not a linear op, or a chain node reads more than one
            node (naming it).
    """
    if not isinstance(graph.op(end), LINEAR_OPS):
        raise ValueError(f"node '{end}': {graph.op(end).name} is not a linear op")
    nodes = [end]
    while True:
        producers = graph.producers(nodes[0])
        if len(producers) != 1:
            raise ValueError(
                f"node '{nodes[0]}': {graph.op(nodes[0]).name} reads "
                f"{len(producers)} nodes {producers}; a chain of linear ops reads one"
            )
        (source,) = producers
        if not isinstance(graph.op(source), LINEAR_OPS):
            return source, nodes
        nodes.insert(0, source)


def chain_connections(graph: Graph, source: str, nodes: list[str]) -> Connections:
    """The composed map of the chain ``nodes`` (from ``linear_chain``), flat
    ``source`` elements to flat elements of the last node."""
    shape = graph.shape(source)
    result: Connections | None = None
    for node in nodes:
        out_shape = graph.shape(node)
        step = connections(graph.op(node), shape, out_shape)
        result = step if result is None else result.then(step)
        shape = out_shape
    if result is None:
        raise ValueError("an empty chain has no connections")
    return result
