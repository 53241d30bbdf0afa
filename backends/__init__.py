"""Compilation targets: one sub-package per target, found through a registry."""

from backends.base import (
    ENTRY_POINT_GROUP,
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
    "ENTRY_POINT_GROUP",
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
