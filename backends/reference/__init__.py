"""The ``reference`` target: the graph itself, run by the reference interpreter."""

from backends.reference.target import (
    TARGET,
    ReferenceConfig,
    ReferenceEmulator,
    ReferenceTarget,
)

__all__ = ["TARGET", "ReferenceConfig", "ReferenceEmulator", "ReferenceTarget"]
