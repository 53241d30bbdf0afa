"""The Dynap-SE2 target's passes (registered through ``DynapseTarget.passes``)."""

from backends.dynapse.passes.adapt_dynapse import AdaptDynapsePass
from backends.dynapse.passes.fit_readout_dynapse import FitReadoutDynapsePass
from backends.dynapse.passes.quantize_dynapse import QuantizeDynapsePass
from backends.dynapse.passes.split_dendrites import SplitDendritesPass

__all__ = [
    "AdaptDynapsePass",
    "FitReadoutDynapsePass",
    "QuantizeDynapsePass",
    "SplitDendritesPass",
]
