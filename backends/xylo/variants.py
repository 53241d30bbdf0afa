"""The Xylo chip variants, their limits declared as data.

Numbers are from ``shared/reference/xylo.md`` §1 (the rockpool device table, mapper
defaults and RAM maps). A variant is one row of that table; nothing else in the Xylo
target hard-codes a size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["VARIANTS", "XyloVariant", "check_variant"]


@dataclass(frozen=True, kw_only=True)
class XyloVariant:
    """One Xylo SNN core: sizes, RAM limits and number formats.

    Attributes:
        name: target name, e.g. ``xylo-audio2``.
        part_number: SynSense part, e.g. ``SYNS61201``.
        n_inputs: input channels.
        n_hidden: hidden neurons.
        n_outputs: output (readout) neurons.
        n_syn: synaptic states per hidden neuron (output neurons always have 1).
        input_window: input weights reach only the first ``input_window`` hidden ids
            (``None``: every hidden neuron).
        output_window: readout weights leave only the last ``output_window`` hidden
            ids (``None``: every hidden neuron).
        max_fanout: recurrent targets per hidden source (``None``: no limit).
        rec_weight_entries: recurrent (target, w_syn1, w_syn2) entries in total
            (``None``: a dense ``n_hidden x n_hidden`` matrix fits).
        has_bias: per-neuron bias registers exist.
        weight_bits: signed weight width (input, recurrent, readout).
        threshold_bits: signed threshold width; valid thresholds are 1..2^(bits-1)-1.
        bias_bits: signed bias width (treated as int8, per the reference).
        dash_bits: unsigned bit-shift decay width.
        max_input_events: events per input channel per step (more are clipped).
        max_hidden_spikes: spikes per hidden neuron per step.
        max_output_spikes: spikes per output neuron per step.
        max_weight_shift: largest weight shift that cannot wrap int16.
        sim_version: 1 (Xylo v1 update order, no bias) or 2.
    """

    name: str
    part_number: str
    n_hidden: int
    n_outputs: int
    n_syn: int
    input_window: int | None
    output_window: int | None
    max_fanout: int | None
    rec_weight_entries: int | None
    has_bias: bool
    sim_version: Literal[1, 2]
    n_inputs: int = 16
    weight_bits: int = 8
    threshold_bits: int = 16
    bias_bits: int = 8
    dash_bits: int = 4
    max_input_events: int = 15
    max_hidden_spikes: int = 31
    max_output_spikes: int = 1
    max_weight_shift: int = 8

    @property
    def input_ids(self) -> int:
        """Number of hidden ids (from 0) that input weights may reach."""
        return self.n_hidden if self.input_window is None else self.input_window

    @property
    def output_ids(self) -> int:
        """Number of hidden ids (up to the last) that readout weights may leave."""
        return self.n_hidden if self.output_window is None else self.output_window

    @property
    def limits(self) -> dict[str, int | float]:
        """The numeric limits, as a ``Target.limits`` mapping."""
        table: dict[str, int | float] = {
            "max_input_channels": self.n_inputs,
            "max_hidden_neurons": self.n_hidden,
            "max_output_neurons": self.n_outputs,
            "synapses_per_neuron": self.n_syn,
            "input_window": self.input_ids,
            "output_window": self.output_ids,
            "weight_bits": self.weight_bits,
            "threshold_bits": self.threshold_bits,
            "bias_bits": self.bias_bits if self.has_bias else 0,
            "dash_bits": self.dash_bits,
            "max_input_events": self.max_input_events,
            "max_hidden_spikes": self.max_hidden_spikes,
            "max_output_spikes": self.max_output_spikes,
            "max_weight_shift": self.max_weight_shift,
        }
        if self.max_fanout is not None:
            table["max_fanout"] = self.max_fanout
        if self.rec_weight_entries is not None:
            table["rec_weight_entries"] = self.rec_weight_entries
        return table


_Row = tuple[
    str,
    str,
    int,
    int,
    int,
    int | None,
    int | None,
    int | None,
    int | None,
    bool,
    Literal[1, 2],
]

# NOTE: one row per variant of reference §1, in ``_COLUMNS`` order; the other fields
# take the defaults every variant shares.
_COLUMNS = (
    "name",
    "part_number",
    "n_hidden",
    "n_outputs",
    "n_syn",
    "input_window",
    "output_window",
    "max_fanout",
    "rec_weight_entries",
    "has_bias",
    "sim_version",
)
_ROWS: tuple[_Row, ...] = (
    ("xylo-audio2", "SYNS61201", 1000, 8, 2, None, None, 64, 32_000, True, 2),
    ("xylo-audio3", "SYNS65302", 992, 32, 2, 128, 128, 1024, 31_744, True, 2),
    ("xylo-imu", "SYNS63300", 496, 16, 1, 128, 128, 512, 31_744, True, 2),
    ("xylo-v1", "SYNS61300", 1000, 8, 2, None, None, None, None, False, 1),
)

VARIANTS: dict[str, XyloVariant] = {
    # The row type checks each column; mypy cannot follow zip into the keywords.
    row[0]: XyloVariant(**dict(zip(_COLUMNS, row, strict=True)))  # type: ignore[arg-type]
    for row in _ROWS
}
"""Every supported variant by target name (reference §1)."""


def check_variant(name: str) -> None:
    """Raise ``ValueError`` listing the known variants unless ``name`` is one."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant '{name}'; known: {', '.join(VARIANTS)}")
