"""Compilation targets: one sub-package per target, found through a registry."""

from backends.base import (
    ENTRY_POINT_GROUP,
    Emulator,
    HardwareConfig,
    Target,
    TargetError,
    available_targets,
    get_target,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Emulator",
    "HardwareConfig",
    "Target",
    "TargetError",
    "available_targets",
    "get_target",
]
