"""``exact``: NIR's ODE stepped exactly, as the IR does (needs ``dt``); the
convention of spikeforge's own ``to_nir``. Parameters unchanged, reset ``zero``."""

from __future__ import annotations

from frontends.nir.conventions.base import (
    Convention,
    exact_integrate,
    exact_leak,
    exact_synapse,
)

__all__ = ["CONVENTION"]

CONVENTION = Convention(
    "exact", exact_leak, exact_synapse, exact_integrate, reset="zero"
)
