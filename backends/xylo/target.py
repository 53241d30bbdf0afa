"""The Xylo targets, one per variant (``xylo-audio2``, ``xylo-audio3``, ...).

Each is a frozen dataclass declaring the variant's limits; ``lower`` is
``lower_to_config``, the configuration is a ``XyloConfig`` and the emulator the
bit-exact ``XyloEmulator``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from backends.base import TargetError
from backends.xylo.config import XyloConfig
from backends.xylo.emulator import XyloEmulator
from backends.xylo.lower import lower_to_config
from backends.xylo.variants import VARIANTS, XyloVariant
from ir import Graph

__all__ = [
    "TARGETS",
    "XYLO_AUDIO2",
    "XYLO_AUDIO3",
    "XYLO_IMU",
    "XYLO_V1",
    "XyloTarget",
]


@dataclass(frozen=True, kw_only=True)
class XyloTarget:
    """One Xylo variant as a compilation target (build with ``for_variant``)."""

    variant: XyloVariant
    name: str
    description: str
    limits: Mapping[str, int | float]
    default_pipeline: str = "canonicalize,dce"
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
        )

    def lower(self, graph: Graph) -> XyloConfig:
        """Lower a float SNN graph (see ``backends.xylo.lower``)."""
        return lower_to_config(graph, self.variant)

    def load_config(self, path: str | os.PathLike[str]) -> XyloConfig:
        """Read and validate a configuration saved by ``XyloConfig.save``."""
        config = XyloConfig.load(path)
        if config.variant != self.name:
            raise TargetError(
                f"{path}: a {config.variant} configuration, not {self.name}"
            )
        return config

    def emulator(self, config: Any, *, seed: int = 0) -> XyloEmulator:
        """The bit-exact emulator of ``config`` (deterministic; ``seed`` is kept)."""
        if not isinstance(config, XyloConfig):
            raise TargetError(f"{self.name} cannot run a {type(config).__name__}")
        if config.variant != self.name:
            raise TargetError(
                f"{self.name} cannot run a {config.variant} configuration"
            )
        return XyloEmulator(config, seed=seed)


TARGETS: dict[str, XyloTarget] = {
    name: XyloTarget.for_variant(variant) for name, variant in VARIANTS.items()
}
"""Every Xylo target by name."""

XYLO_AUDIO2 = TARGETS["xylo-audio2"]
XYLO_AUDIO3 = TARGETS["xylo-audio3"]
XYLO_IMU = TARGETS["xylo-imu"]
XYLO_V1 = TARGETS["xylo-v1"]
