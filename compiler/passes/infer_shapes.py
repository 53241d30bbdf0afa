"""The ``infer-shapes`` pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compiler.pass_base import Pass
from ir import Graph

__all__ = ["InferShapesPass"]


@dataclass(frozen=True)
class InferShapesPass(Pass):
    """Record every node's output feature shape in ``meta['shape']``.

    Shapes are always derivable (``Graph.shape``); this pass writes them into the IR so
    they print in the text and later tools can read them. The verifier checks a
    recorded shape against inference, so a stale one is caught.

    Options: none.
    """

    name = "infer-shapes"

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        out = graph.copy()
        for name, shape in out.shapes().items():
            out.meta(name)["shape"] = shape
        return out
