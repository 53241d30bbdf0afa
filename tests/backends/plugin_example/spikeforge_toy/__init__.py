"""A toy target: at most ``max_nodes`` nodes; its config is a JSON list of op names."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ir
from compiler import Pass
from ir.ops import nn


@dataclass(frozen=True)
class ScaleToGain(Pass):
    """Rewrite scalar nn.scale nodes as toy.gain."""

    name = "toy-gains"

    def run(self, graph: ir.Graph, /, **inputs: Any) -> ir.Graph:
        from spikeforge_toy.ops import Gain

        out = graph.copy()
        for node in out.nodes():
            op = out.op(node)
            if isinstance(op, nn.Scale) and op.scale.ndim == 0:
                out.replace(node, Gain(factor=float(op.scale)))
        return out


@dataclass(frozen=True)
class ToyConfig:
    graph: ir.Graph
    target: str = "toy"

    def save(self, path: Any) -> None:
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        ir.save(self.graph, folder / "graph.sfir")
        ops = [self.graph.op(n).name for n in self.graph.topo_order()]
        meta = {"target": "toy", "ops": ops}
        (folder / "config.json").write_text(json.dumps(meta))


@dataclass(frozen=True)
class ToyEmulator:
    config: ToyConfig

    def run(self, inputs: Any) -> Any:
        return ir.interpret(self.config.graph, inputs)


@dataclass(frozen=True)
class ToyTarget:
    name: str = "toy"
    description: str = "a toy plugin target (tests only)"
    limits: dict[str, int] = field(default_factory=lambda: {"max_nodes": 8})
    default_pipeline: str = "canonicalize,dce,toy-gains"
    passes: dict[str, type[Pass]] = field(
        default_factory=lambda: {"toy-gains": ScaleToGain}
    )

    def lower(self, graph: ir.Graph) -> ToyConfig:
        if len(graph) > self.limits["max_nodes"]:
            raise ValueError(
                f"toy holds {self.limits['max_nodes']} nodes, got {len(graph)}"
            )
        return ToyConfig(graph)

    def load_config(self, path: Any) -> ToyConfig:
        return ToyConfig(ir.load(Path(path) / "graph.sfir"))

    def emulator(self, config: ToyConfig, *, seed: int = 0) -> ToyEmulator:
        return ToyEmulator(config)


TARGET = ToyTarget()
