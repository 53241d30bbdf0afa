"""The Dynap-SE2 target family (SynSense mixed-signal AdExp-I&F neuron chips).

What a user calls is re-exported here (``__all__``): the ``dynapse2`` target and its
system limits, the configuration, the emulator and its bias parameters, the mismatch
model, the semantics adapter, and the current-scale, retune and calibrate entry
points. Everything else stays importable from its module:

=============  ======================================================================
``adapt``      the semantics adapter (pass ``adapt-dynapse``)
``params``     the bias-current parameter set and the circuit's physical constants
``mismatch``   per-chip mismatch: factors drawn per neuron from a chip's seed
``emulator``   the batched, differentiable analog emulator
``biasgen``    the bias generator's coarse/fine grid
``weights``    the base-weight + bitmask weight quantizer
``translate``  IR neuron parameters to bias currents; parameter groups
``routing``    tags, SRAM routes and CAM use of placed neurons (``route``)
``config``     the configuration artifact (``DynapseConfig``)
``lower``      placement (``allocate-cores``), quantization (pass
               ``quantize-dynapse``) and the configuration of a graph
``decode``     a configuration back into an emulator, one chip or a population
``calibrate``  the current scale chosen from data (``choose_i_scale``)
``retune``     retuning for mismatch and in-the-loop calibration
``target``     the ``dynapse2`` target
=============  ======================================================================

Importing this package is cheap: the names below load their module (and torch) on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ir.lazy import lazy_attributes

if TYPE_CHECKING:
    from backends.dynapse.adapt import (
        AdapterError,
        DynapseAdapterWarning,
        adapt_graph,
    )
    from backends.dynapse.calibrate import ScaleChoice, auto_i_scale, choose_i_scale
    from backends.dynapse.config import ConfigError, DynapseConfig
    from backends.dynapse.emulator import DynapseEmulator, DynapseRun
    from backends.dynapse.mismatch import (
        DEFAULT_RELATIVE_STD,
        chip_seeds,
        draw_chip,
        draw_chips,
        mismatch_factors,
    )
    from backends.dynapse.params import DynapseParams
    from backends.dynapse.retune import Chip, calibrate_graph, retune_graph
    from backends.dynapse.routing import DynapseSystem
    from backends.dynapse.target import (
        DYNAPSE2,
        DynapseChip,
        DynapseTarget,
        EmulatedChip,
    )

__all__ = [
    # the target and its hardware
    "DYNAPSE2",
    "DynapseChip",
    "DynapseSystem",
    "DynapseTarget",
    "EmulatedChip",
    # the configuration
    "ConfigError",
    "DynapseConfig",
    # the emulator
    "DynapseEmulator",
    "DynapseParams",
    "DynapseRun",
    # the mismatch model
    "DEFAULT_RELATIVE_STD",
    "chip_seeds",
    "draw_chip",
    "draw_chips",
    "mismatch_factors",
    # the semantics adapter
    "AdapterError",
    "DynapseAdapterWarning",
    "adapt_graph",
    # current scale, retune, calibrate
    "Chip",
    "ScaleChoice",
    "auto_i_scale",
    "calibrate_graph",
    "choose_i_scale",
    "retune_graph",
]

_MODULE_OF = {
    "DYNAPSE2": "target",
    "DynapseChip": "target",
    "DynapseSystem": "routing",
    "DynapseTarget": "target",
    "EmulatedChip": "target",
    "ConfigError": "config",
    "DynapseConfig": "config",
    "DynapseEmulator": "emulator",
    "DynapseParams": "params",
    "DynapseRun": "emulator",
    "DEFAULT_RELATIVE_STD": "mismatch",
    "chip_seeds": "mismatch",
    "draw_chip": "mismatch",
    "draw_chips": "mismatch",
    "mismatch_factors": "mismatch",
    "AdapterError": "adapt",
    "DynapseAdapterWarning": "adapt",
    "adapt_graph": "adapt",
    "Chip": "retune",
    "ScaleChoice": "calibrate",
    "auto_i_scale": "calibrate",
    "calibrate_graph": "retune",
    "choose_i_scale": "calibrate",
    "retune_graph": "retune",
}
"""Public name -> the module (under ``backends.dynapse``) that defines it."""


__getattr__, __dir__ = lazy_attributes(
    globals(),
    {name: f"backends.dynapse.{module}" for name, module in _MODULE_OF.items()},
    submodules=False,
)
