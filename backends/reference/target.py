"""The ``reference`` target.

No hardware: the configuration is the verified graph (saved as ``.sfir``), and the
emulator is ``ir.interpret``. It is the float baseline that hardware targets are
compared with, and it lets ``compile``/``run`` work end to end on any graph.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import ir
from backends.base import TargetError
from backends.jsonfile import json_field, read_json_object
from ir.serialize import (
    CompanionFileError,
    digest,
    read_companion,
    render,
    write_files,
)

__all__ = ["TARGET", "ReferenceConfig", "ReferenceEmulator", "ReferenceTarget"]

CONFIG_VERSION = 1
"""Version of ``config.json`` written by this target."""


@dataclass(frozen=True)
class ReferenceConfig:
    """The lowered graph, as the reference target's configuration."""

    graph: ir.Graph
    target: str = "reference"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``config.json`` and ``graph.sfir`` (+ sidecar) into folder ``path``.

        All files are one output (``ir.serialize.write_files``); ``config.json``,
        renamed last, records the SHA-256 of ``graph.sfir`` (which records its
        sidecar's).
        """
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        files = render(self.graph, folder / "graph.sfir")
        meta = {
            "target": self.target,
            "version": CONFIG_VERSION,
            "graph": "graph.sfir",
            "graph_sha256": digest(files[-1][1]),
        }
        config = (json.dumps(meta, indent=2) + "\n").encode()
        write_files([*files, (folder / "config.json", config)])


@dataclass(frozen=True)
class ReferenceEmulator:
    """Runs the configuration's graph with ``ir.interpret``."""

    config: ReferenceConfig
    seed: int = 0

    def run(
        self,
        inputs: Any,
        *,
        steps: int | None = None,
        record: bool = False,
        align: bool = True,
    ) -> Any:
        """Interpret the graph; same arguments and results as ``ir.interpret``
        (``align`` is accepted as graph-shaped emulators take it: the graph has no
        hop delay)."""
        torch.manual_seed(self.seed)
        return ir.interpret(self.config.graph, inputs, steps=steps, record=record)


@dataclass(frozen=True)
class ReferenceTarget:
    """Float reference: no limits, the graph is the configuration."""

    name: str = "reference"
    description: str = "the graph itself, run by the reference interpreter (float)"
    limits: Mapping[str, int | float] = field(default_factory=dict)
    default_pipeline: str = "canonicalize,dce,infer-shapes"
    passes: Mapping[str, Any] = field(default_factory=dict)

    def lower(self, graph: ir.Graph) -> ReferenceConfig:
        """Verify and wrap the graph."""
        ir.verify(graph)
        return ReferenceConfig(graph)

    def load_config(self, path: str | os.PathLike[str]) -> ReferenceConfig:
        """Read a folder written by :meth:`ReferenceConfig.save`."""
        folder = Path(path)
        file = folder / "config.json"
        meta = read_json_object(file, error=TargetError)
        if meta.get("target") != self.name or meta.get("version") != CONFIG_VERSION:
            raise TargetError(
                f"{folder / 'config.json'}: expected target 'reference' version "
                f"{CONFIG_VERSION}, got {meta.get('target')!r} "
                f"version {meta.get('version')!r}"
            )
        name = json_field(meta, "graph", str, path=file, error=TargetError)
        sha256 = meta.get("graph_sha256")
        try:
            # Checks the name (a bare file name here), the file and its digest.
            read_companion(
                folder / "config.json",
                name,
                sha256=None if sha256 is None else str(sha256),
            )
        except CompanionFileError as err:
            raise TargetError(str(err)) from None
        return ReferenceConfig(ir.load(folder / name))

    def emulator(self, config: Any, *, seed: int | None = 0) -> ReferenceEmulator:
        """An interpreter over ``config``'s graph (``seed`` seeds torch; ``None``
        is 0)."""
        if not isinstance(config, ReferenceConfig):
            raise TargetError(f"reference target cannot run a {type(config).__name__}")
        return ReferenceEmulator(config, 0 if seed is None else seed)

    def graph_emulator(
        self, config: Any, *, chip: int | None = None
    ) -> ReferenceEmulator:
        """The same interpreter: the graph is the configuration, so its I/O is the
        graph's (``chip`` seeds torch, as ``seed`` does)."""
        return self.emulator(config, seed=chip)


TARGET = ReferenceTarget()
