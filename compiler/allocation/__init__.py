"""Core allocation: placing a spiking network's neurons on cores and chips.

``CoreModel`` (a target's cores as data), ``Network`` (neurons and synapses, from a
graph with ``from_graph``), ``allocate`` and its baselines, ``traffic``; the pass is
``allocate-cores`` (``compiler/passes/allocate_cores.py``).
"""

from compiler.allocation.model import CoreModel
from compiler.allocation.network import NEURON_OPS, Network, from_graph
from compiler.allocation.partition import (
    Allocation,
    AllocationError,
    AllocationReport,
    allocate,
    allocate_in_order,
    allocate_random,
)
from compiler.allocation.traffic import Traffic, traffic

__all__ = [
    "NEURON_OPS",
    "Allocation",
    "AllocationError",
    "AllocationReport",
    "CoreModel",
    "Network",
    "Traffic",
    "allocate",
    "allocate_in_order",
    "allocate_random",
    "from_graph",
    "traffic",
]
