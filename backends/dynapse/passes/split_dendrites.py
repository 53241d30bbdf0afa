"""The ``split-dendrites`` pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backends.dynapse.lower import split_dendrites
from compiler.pass_base import Pass
from ir import Graph

__all__ = ["SplitDendritesPass"]


@dataclass(frozen=True)
class SplitDendritesPass(Pass):
    """Split each neuron's inputs of each sign over two dendrites (AMPA and NMDA,
    GABA and SHUNT), so that a chip's mismatch of the synapse circuits averages.

    Per target neuron, its excitatory connections, strongest first, alternate
    between AMPA and NMDA, its inhibitory ones between GABA and SHUNT; the lowering
    gives NMDA the AMPA bias currents and SHUNT the GABA ones. Not the same function
    on the ideal chip (NMDA's gate bias at its floor halves its input at rest; SHUNT
    subtracts where GABA leaks): check the ideal chip.
    Mismatch draws each dendrite's gain and leak on its own, so each sign's input
    averages two draws: on the digits bench at 20 % mismatch the synapses' gains and
    leaks are what costs most (``bench/retune.py --tables attribution``). No extra
    neurons or CAM entries. Run it after ``quantize-dynapse``; ``retune`` and
    ``fit-readout-dynapse`` model the split (each connection's dendrite, the
    paired currents), so they may follow it; ``calibrate-chip`` models two
    dendrites and refuses a split graph (split after it).
    """

    name = "split-dendrites"

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        return split_dendrites(graph)
