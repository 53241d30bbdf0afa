"""The Xylo target family (SynSense Xylo SNN cores).

The variants' limits (``variants``), the configuration artifact (``config``), the
bit-exact integer emulator (``emulator``), the cycle model (``cost``), tau <-> dash
conversion (``dash``), the quantizer (``quantize``), the neuron-id allocator
(``allocate``), the ``xylo`` dialect (``ops``), the lowering (``lower``, passes
``quantize-xylo`` and ``allocate-xylo``), quantization-aware retuning (``retune``) and
the targets (``target``).
"""

from backends.xylo.allocate import Allocation, ResourceError, allocate, check_resources
from backends.xylo.config import ConfigError, XyloConfig
from backends.xylo.cost import CycleEstimate, estimate_cycles
from backends.xylo.dash import DashFit, dash_to_tau, fit_dash, tau_to_dash
from backends.xylo.emulator import XyloEmulator
from backends.xylo.quantize import QuantizedNetwork, quantize
from backends.xylo.retune import retune_graph
from backends.xylo.variants import VARIANTS, XyloVariant

__all__ = [
    "VARIANTS",
    "Allocation",
    "ConfigError",
    "CycleEstimate",
    "DashFit",
    "QuantizedNetwork",
    "ResourceError",
    "XyloConfig",
    "XyloEmulator",
    "XyloVariant",
    "allocate",
    "check_resources",
    "dash_to_tau",
    "estimate_cycles",
    "fit_dash",
    "quantize",
    "retune_graph",
    "tau_to_dash",
]
