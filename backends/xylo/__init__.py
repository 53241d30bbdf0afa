"""The Xylo target family (SynSense Xylo SNN cores).

The variants' limits (``variants``), the configuration artifact (``config``), the
bit-exact integer emulator (``emulator``), the cycle model (``cost``), tau <-> dash
conversion (``dash``), the quantizer (``quantize``), the neuron-id allocator
(``allocate``), the ``xylo`` dialect (``ops``), the lowering (``lower``, passes
``quantize-xylo`` and ``allocate-xylo``), quantization-aware retuning (``retune``) and
the targets (``target``).

Public names (``__all__``), by group:

* the chips: ``VARIANTS``, ``XyloVariant``;
* the configuration: ``XyloConfig``, ``ConfigError``, ``ResourceError`` (a network
  over a variant's limits);
* running it: ``XyloEmulator``, ``estimate_cycles``, ``CycleEstimate``;
* quantization-aware retuning: ``retune_graph``.

The compiler's steps (``allocate``, ``check_resources``, ``quantize``, the dash fit
``fit_dash``/``tau_to_dash``/``dash_to_tau``) stay importable from their modules.
"""

from backends.xylo.allocate import ResourceError
from backends.xylo.config import ConfigError, XyloConfig
from backends.xylo.cost import CycleEstimate, estimate_cycles
from backends.xylo.emulator import XyloEmulator
from backends.xylo.retune import retune_graph
from backends.xylo.variants import VARIANTS, XyloVariant

__all__ = [
    "VARIANTS",
    "ConfigError",
    "CycleEstimate",
    "ResourceError",
    "XyloConfig",
    "XyloEmulator",
    "XyloVariant",
    "estimate_cycles",
    "retune_graph",
]
