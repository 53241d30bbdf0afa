"""Compilation targets: one sub-package per target, found through a registry.

Public names (``__all__``), by group:

* the registry: ``available_targets``, ``get_target``, ``TargetError``;
* what a target is and makes: ``Target``, ``HardwareConfig``, ``Emulator``;
* a build run as the graph it came from: ``graph_emulator``, ``GraphEmulator``,
  ``GraphIO``, ``GraphIOError``.

The rest (``TARGETS``, ``ENTRY_POINT_GROUP``, ``backends.chain``, ``backends.energy``,
each target's modules) stays importable from its module. Names are imported on first
use (PEP 562), so listing the targets (``backends.base.available_targets``) does not
import any target.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ir.lazy import lazy_attributes

if TYPE_CHECKING:
    from backends.base import (
        Emulator,
        HardwareConfig,
        Target,
        TargetError,
        available_targets,
        get_target,
        graph_emulator,
    )
    from backends.graph_io import GraphEmulator, GraphIO, GraphIOError

__all__ = [
    # the registry
    "TargetError",
    "available_targets",
    "get_target",
    # what a target is and makes
    "Emulator",
    "HardwareConfig",
    "Target",
    # a build run as the graph it came from
    "GraphEmulator",
    "GraphIO",
    "GraphIOError",
    "graph_emulator",
]

#: public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(__all__, "backends.base"),
    **dict.fromkeys(("GraphEmulator", "GraphIO", "GraphIOError"), "backends.graph_io"),
}

__getattr__, __dir__ = lazy_attributes(globals(), _EXPORTS)
