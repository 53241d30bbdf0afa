"""The ``dce`` pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from compiler.pass_base import Pass
from ir import Graph

__all__ = ["DeadCodeEliminationPass"]


@dataclass(frozen=True)
class DeadCodeEliminationPass(Pass):
    """Remove nodes whose results reach no ``io.output``.

    Graph inputs (``io.input``) stay even when unused, so the graph's interface (the
    names the interpreter and emulators are fed by) does not change.

    Options: none.
    """

    name = "dce"

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        out = graph.copy()
        live: set[str] = set()
        stack = list(out.outputs())
        while stack:
            name = stack.pop()
            if name in live:
                continue
            live.add(name)
            stack.extend(out.producers(name))
        for name in out.nodes():
            if name not in live and out.op(name).name != "io.input":
                out.remove(name)
        return out
