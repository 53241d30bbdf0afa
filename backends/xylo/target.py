"""The Xylo targets, one per variant (``xylo-audio2``, ``xylo-audio3``, ...).

Each is a frozen dataclass declaring the variant's limits; ``lower`` is
``lower_to_config``, the configuration is a ``XyloConfig`` and the emulator the
bit-exact ``XyloEmulator``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backends.base import TargetError
from backends.energy import Activity, EnergyModel
from backends.graph_io import GraphEmulator, GraphIOError, graph_input_ports
from backends.xylo.config import XyloConfig, io_from_neuron_map
from backends.xylo.cost import estimate_cycles
from backends.xylo.emulator import XyloEmulator
from backends.xylo.energy import ENERGY_MODELS
from backends.xylo.energy import activity as xylo_activity
from backends.xylo.lower import lower_to_config, quantization_rows
from backends.xylo.passes import AdaptXyloPass, AllocateXyloPass, QuantizeXyloPass
from backends.xylo.retune import retune_graph
from backends.xylo.variants import VARIANTS, XyloVariant
from compiler.retune import Progress, RetuneData, RetuneOptions
from ir import Graph

__all__ = [
    "TARGETS",
    "XYLO_AUDIO2",
    "XYLO_AUDIO3",
    "XYLO_IMU",
    "XYLO_V1",
    "XyloTarget",
    "adapted_rows",
]


@dataclass(frozen=True, kw_only=True)
class XyloTarget:
    """One Xylo variant as a compilation target (build with ``for_variant``)."""

    variant: XyloVariant
    name: str
    description: str
    limits: Mapping[str, int | float]
    default_pipeline: str
    passes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def for_variant(cls, variant: XyloVariant) -> XyloTarget:
        """The target of ``variant``: its name, limits and a one-line description."""
        return cls(
            variant=variant,
            name=variant.name,
            description=(
                f"SynSense Xylo {variant.part_number}: {variant.n_inputs} inputs, "
                f"{variant.n_hidden} hidden, {variant.n_outputs} output neurons, "
                f"int{variant.weight_bits} weights"
            ),
            limits=variant.limits,
            default_pipeline=(
                "canonicalize,dce,infer-shapes,"
                f"expand-conv{{target={variant.name}}},"
                "fold-recurrent-bias,"
                f"adapt-xylo{{variant={variant.name}}},"
                f"quantize-xylo{{variant={variant.name}}},allocate-xylo"
            ),
            passes={
                AdaptXyloPass.name: AdaptXyloPass,
                QuantizeXyloPass.name: QuantizeXyloPass,
                AllocateXyloPass.name: AllocateXyloPass,
            },
        )

    def lower(self, graph: Graph) -> XyloConfig:
        """Lower a float SNN graph (see ``backends.xylo.lower``); the configuration
        records the graph's I/O (``io``: its input and output names, the readout
        channels, the hop delay) for ``graph_emulator``."""
        config = lower_to_config(graph, self.variant)
        inputs, outputs = graph.inputs(), graph.outputs()
        io = io_from_neuron_map(
            config.neuron_map,
            input_name=inputs[0] if len(inputs) == 1 else None,
            output_name=outputs[0] if len(outputs) == 1 else None,
        )
        ports = graph_input_ports(graph)
        if io is not None and [p.size for p in ports] == [p.size for p in io.inputs]:
            # the shape the user feeds (before expand-conv flattened it)
            io = dataclasses.replace(io, inputs=ports)
        return dataclasses.replace(config, io=io)

    def load_config(self, path: str | os.PathLike[str]) -> XyloConfig:
        """Read and validate a configuration saved by ``XyloConfig.save``."""
        config = XyloConfig.load(path)
        if config.variant != self.name:
            raise TargetError(
                f"{path}: a {config.variant} configuration, not {self.name}"
            )
        return config

    def report(self, config: XyloConfig, graph: Graph | None = None) -> dict[str, str]:
        """Resources used against each limit, and the cycle model's clock estimate.

        Cycles are the worst case (every input and hidden neuron active every step,
        reference section 7); the minimum clock keeps up with real time at ``dt``.
        With the lowered ``graph``, one row per layer gives its quantization error
        (``quantize-xylo``'s meta) and one row per adaptation what an adapter
        changed (``adapt-xylo``, ``fold-recurrent-bias``).
        """
        spec = self.variant
        kinds = [entry[0] for entry in config.neuron_map.values()]
        used_in = int(np.count_nonzero(np.any(config.weights_in != 0, axis=(1, 2))))
        hidden = kinds.count("hidden") or int(
            np.count_nonzero(np.any(config.weights_in != 0, axis=(0, 2)))
        )
        outputs = kinds.count("output") or int(config.weights_out.shape[1])
        fanout = np.count_nonzero(np.any(config.weights_rec != 0, axis=2), axis=1)
        entries = int(fanout.sum())
        cost = estimate_cycles(config)
        rows = {
            "input channels": f"{used_in} / {spec.n_inputs}",
            "hidden neurons": f"{hidden} / {spec.n_hidden}",
            "output neurons": f"{outputs} / {spec.n_outputs}",
            "recurrent weights": _of(entries, spec.rec_weight_entries),
            "max recurrent fan-out": _of(int(fanout.max(initial=0)), spec.max_fanout),
            "cycles per step (worst case)": f"{cost.cycles_per_step:,.0f}",
            "min clock for real time": (
                f"{cost.min_clock_hz / 1e6:.2f} MHz at dt = {config.dt * 1e3:g} ms"
            ),
        }
        if graph is not None:
            rows.update(quantization_rows(graph))
            rows.update(adapted_rows(graph))
        return rows

    @property
    def energy_model(self) -> EnergyModel:
        """This variant's published energy figures (``backends/xylo/energy.py``)."""
        return ENERGY_MODELS[self.name]

    def activity(self, config: XyloConfig, raster: Any) -> Activity:
        """Events per inference of ``config`` on a chip input raster (the bit-exact
        emulator's recording; ``backends/xylo/energy.py``)."""
        return xylo_activity(config, np.asarray(raster))

    def retune(
        self,
        graph: Graph,
        data: RetuneData,
        options: RetuneOptions,
        progress: Progress,
    ) -> Graph:
        """Quantization-aware fine-tuning of the int8 weights on ``data``
        (``backends/xylo/retune.py``): takes the float graph (or an unallocated
        ``xylo.core``) and returns the quantized core, in place of ``quantize-xylo``."""
        return retune_graph(graph, data, options, progress, self.variant)

    def emulator(self, config: Any, *, seed: int | None = 0) -> XyloEmulator:
        """The bit-exact emulator of ``config`` (deterministic: a digital chip has no
        mismatch, so every ``seed``, and ``None``, the ideal chip, run alike)."""
        if not isinstance(config, XyloConfig):
            raise TargetError(f"{self.name} cannot run a {type(config).__name__}")
        if config.variant != self.name:
            raise TargetError(
                f"{self.name} cannot run a {config.variant} configuration"
            )
        return XyloEmulator(config, seed=0 if seed is None else seed)

    def graph_emulator(self, config: Any, *, chip: int | None = None) -> GraphEmulator:
        """The emulator on the graph's own I/O (``backends.graph_io``): inputs of the
        graph's shape padded to the chip's channels and cast to event counts, only
        the graph's readout channels returned, the hop delay aligned. ``chip`` is
        accepted for symmetry with analog targets; every Xylo chip runs alike.

        Raises:
            GraphIOError: a configuration that records no graph I/O (built from
                registers without a neuron map).
        """
        raw = self.emulator(config, seed=chip)
        if config.io is None:
            raise GraphIOError(
                f"this {self.name} configuration records no graph I/O (it has no "
                "neuron map); run the chip emulator on its own channels instead: "
                f"target.emulator(config).run(raster (batch, time, "
                f"{self.variant.n_inputs})), CLI 'spikeforge run --raw'"
            )
        return GraphEmulator(raw, config.io, raw.n_in)


def adapted_rows(graph: Graph) -> dict[str, str]:
    """Report rows ``"adapted <node> <what>"``: what the adapters changed, from the
    core's ``adapted`` meta (``quantize-xylo``)."""
    rows = {}
    for name in graph.nodes():
        for node, pass_name, what, before, after in graph.meta(name).get("adapted", ()):
            rows[f"adapted {node} {what}"] = f"{before} -> {after} [{pass_name}]"
    return rows


def _of(value: int, limit: int | None) -> str:
    return f"{value:,} / {limit:,}" if limit is not None else f"{value:,} (no limit)"


TARGETS: dict[str, XyloTarget] = {
    name: XyloTarget.for_variant(variant) for name, variant in VARIANTS.items()
}
"""Every Xylo target by name."""

XYLO_AUDIO2 = TARGETS["xylo-audio2"]
XYLO_AUDIO3 = TARGETS["xylo-audio3"]
XYLO_IMU = TARGETS["xylo-imu"]
XYLO_V1 = TARGETS["xylo-v1"]
