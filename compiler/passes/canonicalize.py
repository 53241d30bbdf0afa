"""The ``canonicalize`` pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.pass_base import Pass
from ir import Graph, Op
from ir.ops import nn, snn

__all__ = ["CanonicalizePass"]


@dataclass(frozen=True)
class CanonicalizePass(Pass):
    """Remove identity nodes and fuse chains of scales and dense layers.

    Identities removed (their users read the producer directly): ``nn.add`` with one
    input, ``nn.scale`` by all ones, ``nn.flatten`` that keeps the shape,
    ``snn.delay`` by zero. Fused, when the first node feeds only the second and the
    second reads only the first: ``nn.scale`` with ``nn.scale``; ``nn.linear`` /
    ``nn.affine`` with each other (only if the fused matrix is no larger than the two
    it replaces); a per-feature ``nn.scale`` into or out of a dense layer. Fusion is
    exact in real arithmetic; in floating point the result differs by rounding only
    (computed in float64, stored in the layers' dtype). Recurrent edges are left as
    they are. The fused node keeps the dense layer's name (else the first node's).

    Options: none.
    """

    name = "canonicalize"

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        out = graph.copy()
        changed = True
        while changed:
            changed = False
            for name in out.topo_order():
                if name in out and (_drop_identity(out, name) or _fuse_into(out, name)):
                    changed = True
        return out


def _is_identity(graph: Graph, name: str) -> bool:
    op = graph.op(name)
    if isinstance(op, nn.Add):
        return True
    if isinstance(op, nn.Scale):
        return bool(np.all(op.scale == 1))
    if isinstance(op, nn.Flatten):
        (src,) = graph.producers(name)
        return graph.shape(src) == graph.shape(name)
    if isinstance(op, snn.Delay):
        return bool(np.all(op.delay == 0))
    return False


def _drop_identity(graph: Graph, name: str) -> bool:
    edges = graph.in_edges(name)
    if len(edges) != 1 or edges[0].recurrent or not _is_identity(graph, name):
        return False
    src = edges[0].src
    users = graph.out_edges(name)
    if any(e.dst == src or e.dst in graph.users(src) for e in users):
        return False  # would need two edges between one pair of nodes
    if any(
        e.recurrent and not (graph.op(e.dst).stateful or graph.op(src).stateful)
        for e in users
    ):
        return False  # the moved recurrent edge would join two stateless ops
    graph.remove(name)
    for e in users:
        graph.connect(
            src,
            e.dst,
            src_port=edges[0].src_port,
            dst_port=e.dst_port,
            recurrent=e.recurrent,
        )
    return True


_DENSE = (nn.Linear, nn.Affine)


def _fuse_into(graph: Graph, second: str) -> bool:
    """Fuse ``second`` with its single producer, if both are fusible."""
    edges = graph.in_edges(second)
    if len(edges) != 1 or edges[0].recurrent:
        return False
    first = edges[0].src
    if [e.dst for e in graph.out_edges(first)] != [second]:
        return False
    fused = _fused_op(graph.op(first), graph.op(second), graph.shape(first))
    if fused is None:
        return False
    # The fused node keeps the dense layer's name (a scale folds into it), else the
    # first node's; the other node goes, its edges moving to the kept one.
    keep_second = isinstance(graph.op(second), _DENSE) and not isinstance(
        graph.op(first), _DENSE
    )
    if keep_second:
        moved = [(e.src, second, e) for e in graph.in_edges(first)]
        graph.remove(first)
        graph.replace(second, fused)
    else:
        if first in graph.users(second):
            return False  # second feeds back into first: keep the cycle as written
        moved = [(first, e.dst, e) for e in graph.out_edges(second)]
        graph.remove(second)
        graph.replace(first, fused)
    for src, dst, e in moved:
        graph.connect(
            src, dst, src_port=e.src_port, dst_port=e.dst_port, recurrent=e.recurrent
        )
    return True


def _fused_op(a: Op, b: Op, mid_shape: tuple[int, ...]) -> Op | None:
    if isinstance(a, nn.Scale) and isinstance(b, nn.Scale):
        dtype = np.result_type(a.scale, b.scale)
        product = a.scale.astype(np.float64) * b.scale.astype(np.float64)
        return nn.Scale(scale=product.astype(dtype))
    dense_a = _as_dense(a, mid_shape)
    dense_b = _as_dense(b, mid_shape)
    if (
        dense_a is None
        or dense_b is None
        or not (isinstance(a, _DENSE) or isinstance(b, _DENSE))
    ):
        return None
    (wa, ba, dta), (wb, bb, dtb) = dense_a, dense_b
    if isinstance(a, _DENSE) and isinstance(b, _DENSE):
        if wb.shape[0] * wa.shape[1] > wa.size + wb.size:
            return None  # fusing would grow the layer (a bottleneck)
    weight = wb @ wa
    bias = wb @ ba + bb
    dtype = np.result_type(dta, dtb)
    if not np.any(bias):
        return nn.Linear(weight=weight.astype(dtype))
    return nn.Affine(weight=weight.astype(dtype), bias=bias.astype(dtype))


def _as_dense(
    op: Op, mid_shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.dtype[Any]] | None:
    """``op`` as ``(W, b, dtype)`` in float64 on the last dimension of the tensor
    ``mid_shape`` the two fused ops share, or ``None`` if it is not dense-like."""
    if isinstance(op, nn.Linear):
        w = op.weight.astype(np.float64)
        return w, np.zeros(w.shape[0]), op.weight.dtype
    if isinstance(op, nn.Affine):
        return op.weight.astype(np.float64), op.bias.astype(np.float64), op.weight.dtype
    if isinstance(op, nn.Scale):
        n = mid_shape[-1] if mid_shape else 1
        s = op.scale
        if s.ndim > 1 and any(d != 1 for d in s.shape[:-1]):
            return None  # varies along a leading dim: not a per-feature scale
        vec = np.broadcast_to(s.reshape(-1) if s.ndim else s, (n,)).astype(np.float64)
        return np.diag(vec), np.zeros(n), op.scale.dtype
    return None
