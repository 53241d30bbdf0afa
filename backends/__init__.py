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

import importlib
from typing import TYPE_CHECKING, Any

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
    "Emulator",
    "GraphEmulator",
    "GraphIO",
    "GraphIOError",
    "HardwareConfig",
    "Target",
    "TargetError",
    "available_targets",
    "get_target",
    "graph_emulator",
]

#: public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "Emulator",
            "HardwareConfig",
            "Target",
            "TargetError",
            "available_targets",
            "get_target",
            "graph_emulator",
        ),
        "backends.base",
    ),
    **dict.fromkeys(("GraphEmulator", "GraphIO", "GraphIOError"), "backends.graph_io"),
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name.startswith("__"):  # probes such as __wrapped__ are no submodules
        raise AttributeError(name)
    # ``import backends`` then ``backends.<submodule>``, as when this file imported them.
    try:
        return importlib.import_module(f"backends.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"backends.{name}":
            raise
    raise AttributeError(f"module 'backends' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
