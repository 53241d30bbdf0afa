"""A target's core model: the hardware that core allocation places neurons on."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ChipGrid", "CoreModel"]


class ChipGrid:
    """The counts of a system of chips of cores of neurons, for a dataclass that
    declares the three fields (:class:`CoreModel`, a target's own system)."""

    neurons_per_core: int
    cores_per_chip: int
    chips: int

    @property
    def cores(self) -> int:
        """Cores in the system."""
        return self.chips * self.cores_per_chip

    @property
    def neurons(self) -> int:
        """Neurons in the system."""
        return self.cores * self.neurons_per_core


@dataclass(frozen=True, kw_only=True)
class CoreModel(ChipGrid):
    """Cores, chips and routing limits, declared as data by a target.

    Attributes:
        neurons_per_core: neuron slots per core.
        cores_per_chip: cores on one chip.
        chips: chips available.
        mesh: chips laid out ``(x, y)`` on a 2-D mesh (``x * y >= chips``); a spike
            between chips travels the Manhattan distance in hops.
        fan_in: entries per neuron for incoming connections (``None``: no limit).
        fan_out: entries per neuron for outgoing routes; one entry reaches a group of
            cores on one chip, so a neuron needs one per distinct destination chip
            (``None``: no limit).
        tags: distinct source addresses (neurons and input channels; ``None``: no
            limit).
        shared_parameters: op fields that neurons on one core must share (a core's
            neurons share their biases), e.g. ``("tau_mem", "v_threshold")``.
    """

    neurons_per_core: int
    cores_per_chip: int
    chips: int = 1
    mesh: tuple[int, int] = (1, 1)
    fan_in: int | None = None
    fan_out: int | None = None
    tags: int | None = None
    shared_parameters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("neurons_per_core", "cores_per_chip", "chips"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        x, y = self.mesh
        if x < 1 or y < 1 or x * y < self.chips:
            raise ValueError(
                f"mesh {self.mesh} must hold the {self.chips} chips (x * y >= chips)"
            )

    @property
    def capacity(self) -> int:
        """Neurons in the system (:attr:`neurons`)."""
        return self.neurons

    def position(self, chip: int) -> tuple[int, int]:
        """Mesh coordinates of ``chip`` (row-major)."""
        return chip % self.mesh[0], chip // self.mesh[0]
