"""The ``fold-bn`` pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.pass_base import Pass
from ir import Graph, Op
from ir.ops import nn

__all__ = ["FoldBatchNormPass"]

_DENSE = (nn.Linear, nn.Affine)
_CONV = (nn.Conv1d, nn.Conv2d)


@dataclass(frozen=True)
class FoldBatchNormPass(Pass):
    """Fold inference-mode batch normalization into the layer that feeds it.

    An ``nn.batchnorm`` whose single, non-recurrent input edge comes from an
    ``nn.linear``, ``nn.affine``, ``nn.conv1d`` or ``nn.conv2d`` that has no other
    user is merged into that layer, per output channel ``c``:

    .. math:: W'_c = \\frac{\\gamma_c}{\\sigma_c} W_c, \\quad
        b'_c = \\frac{\\gamma_c}{\\sigma_c} (b_c - \\mu_c) + \\beta_c, \\quad
        \\sigma_c = \\sqrt{\\mathrm{var}_c + \\epsilon}

    computed in float64 and stored in the weights' dtype. A linear becomes an
    ``nn.affine``; a convolution without bias gets one. The folded node keeps the
    layer's name and the batchnorm's users read it instead.

    A batchnorm stays where it is when folding would change what the graph computes
    or cannot be written as one layer:

    * its producer is another kind of op (a graph input, a pooling, an add, ...);
    * the producer has other users, which must keep reading the unnormalized values;
    * it sums several inputs, or its input edge is recurrent (it reads the previous
      step, so the two ops are not one function of the same step);
    * the producer is dense with an output of rank > 1, e.g. ``(C, L)``: the
      batchnorm scales the first feature dim, the layer's output features are the
      last, so the scale is not per output feature;
    * ``var + eps`` is zero somewhere, or the folded values overflow the dtype: the
      batchnorm's own result is not finite there and folding would hide that.

    Options: none.
    """

    name = "fold-bn"

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        out = graph.copy()
        # Topological order makes a chain bn -> bn fold fully in one sweep: the second
        # batchnorm is visited after the first has become part of the layer.
        for name in out.topo_order():
            bn = out.op(name)
            if isinstance(bn, nn.BatchNorm):
                _fold(out, name, bn)
        return out


def _fold(graph: Graph, bn_name: str, bn: nn.BatchNorm) -> bool:
    """Fold ``bn_name`` into its producer if allowed; return whether it was folded."""
    edges = graph.in_edges(bn_name)
    if len(edges) != 1 or edges[0].recurrent:
        return False
    layer = edges[0].src
    op = graph.op(layer)
    if not isinstance(op, _DENSE + _CONV) or graph.users(layer) != [bn_name]:
        return False
    if layer in graph.users(bn_name):
        return False  # the batchnorm feeds back into the layer: keep the cycle
    if isinstance(op, _DENSE) and len(graph.shape(layer)) != 1:
        return False  # batchnorm's channel dim is not the dense output dim
    folded = _folded_op(op, bn)
    if folded is None:
        return False
    graph.redirect(bn_name, layer)
    graph.remove(bn_name)
    graph.replace(layer, folded)
    return True


def _folded_op(
    op: nn.Linear | nn.Affine | nn.Conv1d | nn.Conv2d, bn: nn.BatchNorm
) -> Op | None:
    """``op`` followed by ``bn`` as one op, or ``None`` if not finite."""
    dtype = op.weight.dtype
    weight = op.weight.astype(np.float64)
    old_bias = getattr(op, "bias", None)
    bias = (
        np.zeros(weight.shape[0])
        if old_bias is None
        else np.asarray(old_bias, dtype=np.float64)
    )
    sigma = np.sqrt(bn.var.astype(np.float64) + bn.eps)
    if np.any(sigma == 0):
        return None
    gain = bn.weight.astype(np.float64) / sigma
    new_weight = weight * gain.reshape((-1,) + (1,) * (weight.ndim - 1))
    new_bias = gain * (bias - bn.mean.astype(np.float64)) + bn.bias.astype(np.float64)
    with np.errstate(over="ignore"):
        new_weight, new_bias = new_weight.astype(dtype), new_bias.astype(dtype)
    if not (np.all(np.isfinite(new_weight)) and np.all(np.isfinite(new_bias))):
        return None
    if isinstance(op, _DENSE):
        return nn.Affine(weight=new_weight, bias=new_bias)
    return op.replace(weight=new_weight, bias=new_bias)
