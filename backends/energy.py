"""Energy figures a target declares, and the activity its emulator counts.

A target that supports the energy estimate (``compiler.energy``) has two members:

- ``energy_model``: an :class:`EnergyModel`, the chip's published energy per event
  of each kind (joules) and its static power (watts), each a :class:`Published`
  figure with its citation, or :data:`NO_FIGURE` where nothing is published.
- ``activity(config, raster) -> Activity``: the events of each kind one inference
  causes, counted by the target's emulator on a chip input raster.

Event kinds are plain names shared by the two: ``"synaptic_event"`` (one input event
reaching one synapse), ``"spike"`` (one spike generated), ``"neuron_update"`` (one
neuron's state advanced by one time step, on clocked digital chips).

The reference accelerator for the ANN side lives here too: the energy of one
multiply-accumulate in 45 nm CMOS at 0.9 V (Horowitz, ISSCC 2014).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "ANN_REFERENCES",
    "EVENT_KINDS",
    "NO_FIGURE",
    "Activity",
    "EnergyModel",
    "Published",
]

NO_FIGURE = "no published figure"
"""What the estimate prints in place of a number nobody has published."""

EVENT_KINDS: tuple[str, ...] = ("synaptic_event", "spike", "neuron_update")
"""The event kinds a model prices and an activity counts."""


@dataclass(frozen=True)
class Published:
    """One figure: ``value`` in SI units (J per event, or W), or ``None`` when no
    figure is published; ``source`` cites it (paper, table or page) or says why
    there is none; ``approximate`` marks a figure that is a proxy (another chip of
    the family, a secondary source) rather than a measurement of this chip."""

    value: float | None
    source: str
    approximate: bool = False

    def __post_init__(self) -> None:
        if self.value is not None and not self.value >= 0:
            raise ValueError(f"an energy figure must be >= 0, got {self.value}")


@dataclass(frozen=True)
class EnergyModel:
    """A chip's energy figures: ``per_event[kind]`` in joules per event, and
    ``static_power`` in watts (idle power, paid for the whole inference)."""

    chip: str
    per_event: Mapping[str, Published]
    static_power: Published
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.per_event) - set(EVENT_KINDS))
        if unknown:
            raise ValueError(
                f"energy model {self.chip}: unknown event kinds {unknown}; "
                f"known: {', '.join(EVENT_KINDS)}"
            )


@dataclass(frozen=True)
class Activity:
    """What one inference does on the chip: ``events[kind]`` per inference (mean
    over the samples counted) and its duration in seconds (steps x dt)."""

    events: Mapping[str, float]
    seconds: float
    samples: int = 1
    steps: int = 0
    detail: Mapping[str, float] = field(default_factory=dict)
    """Counts behind ``events`` (input events, hidden spikes, ...), for the report."""


# NOTE: Horowitz, "1.1 Computing's energy problem (and what we can do about it)",
# ISSCC 2014, pp. 10-14, the table of rough energy per operation at 45 nm, 0.9 V:
# 8-bit integer add 0.03 pJ, 8-bit multiply 0.2 pJ; 32-bit float add 0.9 pJ,
# 32-bit float multiply 3.7 pJ. A MAC is one multiply and one add. Memory access is
# not included (an 8 KB SRAM read of 64 bits is 10 pJ in the same table), so these
# are a lower bound for a real accelerator.
ANN_REFERENCES: Mapping[str, Published] = {
    "int8": Published(
        0.23e-12,
        "Horowitz, ISSCC 2014 (45 nm, 0.9 V): 8-bit mult 0.2 pJ + add 0.03 pJ; "
        "arithmetic only, no memory access",
    ),
    "fp32": Published(
        4.6e-12,
        "Horowitz, ISSCC 2014 (45 nm, 0.9 V): 32-bit float mult 3.7 pJ + add "
        "0.9 pJ; arithmetic only, no memory access",
    ),
}
"""Energy of one multiply-accumulate on the reference accelerator, by number format."""
