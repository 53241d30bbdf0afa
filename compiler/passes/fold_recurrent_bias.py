"""The ``fold-recurrent-bias`` pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.pass_base import Pass
from ir import Edge, Graph
from ir.ops import nn

__all__ = ["FoldRecurrentBiasPass"]

_DENSE = (nn.Linear, nn.Affine)


@dataclass(frozen=True)
class FoldRecurrentBiasPass(Pass):
    """Fold the bias of a recurrent ``nn.affine`` into the feed-forward weight.

    A recurrent weight ``w_rec`` (an ``nn.affine`` with one input and one user, one of
    its two edges marked recurrent) adds ``W s + b`` to the port it feeds. When its
    edge into that port is not recurrent, ``b`` arrives at every step, including the
    first: a recurrent edge on the spike side (``lif -> w_rec``, as snnTorch's
    ``RLeaky``/``RSynaptic`` export) delivers ``W 0 + b`` at ``t = 0``. A constant
    added at every step is the same wherever it enters the sum, so ``b`` moves into
    a feed-forward ``nn.linear``/``nn.affine`` (non-recurrent edge, no other user)
    that feeds the same port, which becomes an ``nn.affine`` with bias ``b_ff + b``
    (float64); ``w_rec`` becomes an ``nn.linear``. The result computes the same
    sums; only the float rounding of one addition moves.

    Left as it is (the graph already says what it means; a target that needs a
    bias-free recurrent weight then names the node):

    * the edge into the port is recurrent and ``b`` is not zero: ``b`` then arrives
      from the second step on, which no constant bias expresses (a zero bias is
      dropped in every case);
    * no feed-forward dense weight feeds the same port.

    Each folded ``w_rec`` records ``meta["adapted"]``: ``(pass, what, from, to)``.

    Options: none.
    """

    name = "fold-recurrent-bias"

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        out = graph.copy()
        for name in sorted(out.nodes()):
            op = out.op(name)
            if isinstance(op, nn.Affine) and _is_recurrent_weight(out, name):
                _fold(out, name, op)
        return out


def _is_recurrent_weight(graph: Graph, name: str) -> bool:
    ins, outs = graph.in_edges(name), graph.out_edges(name)
    if len(ins) != 1 or len(outs) != 1:
        return False
    return ins[0].recurrent or outs[0].recurrent


def _fold(graph: Graph, name: str, op: nn.Affine) -> None:
    (edge,) = graph.out_edges(name)
    bias = np.asarray(op.bias, np.float64)
    if not np.any(bias):
        graph.replace(name, nn.Linear(weight=op.weight))
        _record(graph, name, "nn.affine, zero bias", "nn.linear")
        return
    if edge.recurrent:
        return  # the bias starts one step late: no constant bias says that
    partner = _partner(graph, name, edge, bias.shape)
    if partner is None:
        return
    ff = graph.op(partner)
    assert isinstance(ff, _DENSE)
    old = np.asarray(getattr(ff, "bias", np.zeros(bias.shape)), np.float64)
    graph.replace(partner, nn.Affine(weight=ff.weight, bias=old + bias))
    graph.replace(name, nn.Linear(weight=op.weight))
    _record(
        graph,
        name,
        f"bias (max |b| {float(np.max(np.abs(bias))):.4g})",
        f"nn.linear; bias folded into '{partner}'",
    )


def _partner(graph: Graph, name: str, edge: Edge, shape: tuple[int, ...]) -> str | None:
    """The feed-forward dense weight that feeds ``edge``'s port alone, if any."""
    candidates = []
    for other in graph.in_edges(edge.dst):
        if other.src == name or other.dst_port != edge.dst_port or other.recurrent:
            continue
        op = graph.op(other.src)
        if not isinstance(op, _DENSE) or graph.users(other.src) != [edge.dst]:
            continue
        if op.weight.ndim != 2 or op.weight.shape[0] != shape[0]:
            continue
        # A weight that reads the layer back is itself recurrent: prefer the others.
        candidates.append((_is_recurrent_weight(graph, other.src), other.src))
    return min(candidates)[1] if candidates else None


def _record(graph: Graph, name: str, before: str, after: str) -> None:
    meta = graph.meta(name)
    meta["adapted"] = (
        *meta.get("adapted", ()),
        (FoldRecurrentBiasPass.name, "recurrent bias", before, after),
    )
