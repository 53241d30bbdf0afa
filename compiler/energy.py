"""Energy per inference: published per-event figures times counted events.

For a target that declares an energy model (``backends.energy``), the estimate is::

    E = sum over event kinds k of  events_k x E_k   +   P_static x T

where ``events_k`` is what the target's emulator counts on one inference (synaptic
events, spikes, neuron updates), ``E_k`` the chip's published energy per event,
``P_static`` its published idle power and ``T`` the inference's duration (steps x
dt). Next to it stands the ANN: the dense multiply-accumulates of one pass of the
same weight layers, at a cited pJ/MAC for a reference accelerator (Horowitz, ISSCC
2014, 45 nm; arithmetic only).

A figure nobody has published is not a number: the estimate shows ``no published
figure`` for it, its total is a lower bound over the terms it can price, and the
user passes their own (``overrides``; CLI ``--energy-figure KIND=VALUE``). See
``docs/energy.md`` for the model's limits.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backends.energy import (
    ANN_REFERENCES,
    EVENT_KINDS,
    NO_FIGURE,
    Activity,
    EnergyModel,
    Published,
)
from ir import Graph

__all__ = [
    "FIGURE_KEYS",
    "EnergyEstimate",
    "EnergyTerm",
    "dense_macs",
    "check_figures",
    "estimate",
    "format_joules",
    "has_state",
    "measure_for_build",
    "parse_figures",
]

FIGURE_KEYS: tuple[str, ...] = (*EVENT_KINDS, "static_power", "ann_mac")
"""What a user may set: joules per event of each kind, static power in watts, and
joules per MAC of the ANN's reference accelerator."""

_UNITS = {"static_power": "W"}
_WEIGHT_OPS = ("nn.linear", "nn.affine", "nn.conv1d", "nn.conv2d")
_USER = "user-supplied"


@dataclass(frozen=True)
class EnergyTerm:
    """One term of the estimate: ``count`` events of ``kind`` per inference (or, for
    ``static_power``, the inference's duration in seconds) at ``figure``."""

    kind: str
    count: float
    figure: Published

    @property
    def joules(self) -> float | None:
        """The term's energy, or ``None`` without a figure."""
        if self.figure.value is None:
            return None
        return self.count * self.figure.value


@dataclass(frozen=True)
class EnergyEstimate:
    """The energy of one inference on a chip and of the ANN on the reference."""

    target: str
    chip: str
    terms: tuple[EnergyTerm, ...]
    activity: Activity
    ann_macs: int
    ann: Published
    source: str = ""
    """What the events were counted on (calibration, seeded random spikes)."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    ann_steps: int = 1
    """Steps of a network with state: its ANN counterpart may run one dense pass
    per inference (an ANN converted to this SNN, on a held input) or one per step
    (the same layers on every frame of a stream); both are shown."""

    @property
    def missing(self) -> tuple[str, ...]:
        """The kinds whose figure is not published (and not supplied)."""
        return tuple(t.kind for t in self.terms if t.joules is None)

    @property
    def known(self) -> float:
        """The sum of the terms that have a figure (joules)."""
        return float(sum(t.joules for t in self.terms if t.joules is not None))

    @property
    def total(self) -> float | None:
        """Joules per inference, or ``None`` when a term has no figure (then
        :attr:`known` is a lower bound)."""
        return None if self.missing else self.known

    @property
    def ann_joules(self) -> float | None:
        """The ANN's energy for one dense pass, or ``None`` when not priced."""
        if self.ann.value is None or self.ann_macs == 0:
            return None
        return self.ann_macs * self.ann.value

    def lines(self) -> list[tuple[str, str]]:
        """``(label, text)`` rows: one per term, the total, the ANN, the sources."""
        rows: list[tuple[str, str]] = []
        for term in self.terms:
            if term.kind == "static_power":
                amount = f"{term.count * 1e3:.4g} ms x"
                value = _si(term.figure.value, "W")
            else:
                amount = f"{term.count:,.0f} x"
                value = _si(term.figure.value, "J")
            mark = " (approx.)" if term.figure.approximate else ""
            result = (
                NO_FIGURE
                if term.joules is None
                else f"{value} = {format_joules(term.joules)}{mark}"
            )
            rows.append((term.kind.replace("_", " "), f"{amount} {result}"))
        if self.total is not None:
            rows.append(("total", format_joules(self.total)))
        elif len(self.missing) == len(self.terms):
            rows.append(
                (
                    "total",
                    f"{NO_FIGURE} for any term; supply them with --energy-figure "
                    "KIND=VALUE",
                )
            )
        else:
            rows.append(
                (
                    "total",
                    f">= {format_joules(self.known)} (lower bound: {NO_FIGURE} for "
                    f"{', '.join(self.missing)}; supply one with --energy-figure "
                    "KIND=VALUE)",
                )
            )
        one = self.ann_joules
        per = _si(self.ann.value, "J")
        if one is None:
            rows.append(("ANN, one dense pass", f"{self.ann_macs:,} MACs, not priced"))
        else:
            rows.append(
                (
                    "ANN, one dense pass",
                    f"{self.ann_macs:,} MACs x {per} = {format_joules(one)}",
                )
            )
            every = one * self.ann_steps
            if self.ann_steps > 1:
                rows.append(
                    (
                        "ANN, dense every step",
                        f"{self.ann_macs * self.ann_steps:,} MACs x {per} = "
                        f"{format_joules(every)}",
                    )
                )
            if self.known > 0:
                bound = "<= " if self.total is None else ""
                text = f"{bound}{one / self.known:.3g} (one pass)"
                if self.ann_steps > 1:
                    text += f", {bound}{every / self.known:.3g} (every step)"
                rows.append(("ANN / SNN energy", text))
        for term in self.terms:
            rows.append((f"source {term.kind.replace('_', ' ')}", term.figure.source))
        rows.append(("source ANN", self.ann.source))
        rows += [("note", note) for note in self.notes]
        return rows

    def rows(self) -> dict[str, str]:
        """:meth:`lines` as a mapping (labels made unique)."""
        out: dict[str, str] = {}
        for label, text in self.lines():
            key, k = label, 2
            while key in out:
                key, k = f"{label} {k}", k + 1
            out[key] = text
        return out

    def header(self) -> str:
        a = self.activity
        return (
            f"energy per inference on {self.chip} ({a.steps} steps x "
            f"{a.seconds / max(a.steps, 1) * 1e3:g} ms, mean of {a.samples} samples"
            + (f" of {self.source}" if self.source else "")
            + ")"
        )

    def __str__(self) -> str:
        lines = [self.header()]
        lines += [f"  {label:<28} {text}" for label, text in self.lines()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
            for k, v in self.lines()
        )
        return f"<table><caption>{html.escape(self.header())}</caption>{cells}</table>"


def estimate(
    model: EnergyModel,
    activity: Activity,
    *,
    target: str,
    ann_macs: int,
    figures: Mapping[str, float] | None = None,
    ann_format: str = "int8",
    source: str = "",
    ann_steps: int = 1,
) -> EnergyEstimate:
    """Price ``activity`` with ``model``'s figures, ``figures`` replacing them.

    Args:
        model: the chip's published figures.
        activity: the events of one inference (a target's ``activity``).
        target: the target's name (for the report).
        ann_macs: the ANN's multiply-accumulates per inference (:func:`dense_macs`).
        figures: user-supplied figures by :data:`FIGURE_KEYS` (SI units: J per
            event, W for ``static_power``, J per MAC for ``ann_mac``); they replace
            the published ones and add kinds the model lacks, when counted.
        ann_format: the reference accelerator's number format (``int8``, ``fp32``).
        source: what the events were counted on.
        ann_steps: the steps over which the ANN may run densely every step.

    Raises:
        ValueError: an unknown key, or a value that is not a finite number >= 0.
    """
    given = check_figures(figures or {})
    if ann_format not in ANN_REFERENCES:
        raise ValueError(
            f"unknown ANN number format '{ann_format}'; known: "
            f"{', '.join(ANN_REFERENCES)}"
        )
    terms = []
    for kind in EVENT_KINDS:
        published = model.per_event.get(kind)
        if kind in given:
            terms.append(EnergyTerm(kind, _count(activity, kind), _user(given[kind])))
        elif published is not None:
            terms.append(EnergyTerm(kind, _count(activity, kind), published))
    static = (
        _user(given["static_power"]) if "static_power" in given else model.static_power
    )
    terms.append(EnergyTerm("static_power", activity.seconds, static))
    ann = _user(given["ann_mac"]) if "ann_mac" in given else ANN_REFERENCES[ann_format]
    return EnergyEstimate(
        target=target,
        chip=model.chip,
        terms=tuple(terms),
        activity=activity,
        ann_macs=ann_macs,
        ann=ann,
        source=source,
        notes=model.notes,
        ann_steps=ann_steps,
    )


def parse_figures(items: Sequence[str]) -> dict[str, float]:
    """``["synaptic_event=2e-12", "static_power=1e-4"]`` -> a figures mapping.

    Raises:
        ValueError: naming the item that is not ``KEY=NUMBER`` with a known key.
    """
    out: dict[str, float] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise ValueError(
                f"--energy-figure {item!r}: expected KIND=VALUE, e.g. "
                "synaptic_event=2.5e-12 (joules) or static_power=2e-4 (watts)"
            )
        try:
            out[key] = float(text)
        except ValueError:
            raise ValueError(
                f"--energy-figure {item!r}: {text!r} is not a number (SI units: "
                "joules per event, watts for static_power)"
            ) from None
    check_figures(out)
    return out


def dense_macs(graph: Graph) -> int:
    """Multiply-accumulates of one dense pass of ``graph``'s weight layers (linear,
    affine, conv): what an ANN with these layers computes per inference."""
    total = 0
    for name in graph.nodes():
        op = graph.op(name)
        if op.name not in _WEIGHT_OPS:
            continue
        weight = np.asarray(op.weight)  # type: ignore[attr-defined]
        if op.name in ("nn.linear", "nn.affine"):
            total += int(weight.size)
        else:
            # one MAC per weight of an output channel at every output position
            total += int(np.prod(graph.shape(name))) * int(np.prod(weight.shape[1:]))
    return total


def format_joules(value: float | None) -> str:
    return _si(value, "J")


def _si(value: float | None, unit: str) -> str:
    if value is None:
        return NO_FIGURE
    if value == 0:
        return f"0 {unit}"
    for scale, prefix in ((1, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value / 1e-15:.3g} f{unit}"


def _count(activity: Activity, kind: str) -> float:
    return float(activity.events.get(kind, 0.0))


def _user(value: float) -> Published:
    return Published(value, _USER)


def check_figures(figures: Mapping[str, float]) -> dict[str, float]:
    """``figures`` if every key is known and every value a finite number >= 0.

    Raises:
        ValueError: naming the key, the known keys and their units.
    """
    unknown = sorted(set(figures) - set(FIGURE_KEYS))
    if unknown:
        raise ValueError(
            f"unknown energy figure {', '.join(unknown)}; known: "
            + ", ".join(f"{k} ({_UNITS.get(k, 'J')})" for k in FIGURE_KEYS)
        )
    for key, value in figures.items():
        if not (
            isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
        ):
            raise ValueError(
                f"energy figure {key}={value!r}: must be a finite number >= 0 "
                f"({_UNITS.get(key, 'J')})"
            )
    return dict(figures)


def measure_for_build(
    target: Any,
    config: Any,
    graph: Graph,
    inputs: Any,
    *,
    figures: Mapping[str, float] | None = None,
    source: str = "",
) -> EnergyEstimate:
    """Count ``target``'s events for ``config`` on ``inputs`` (the graph's inputs,
    made the chip's raster by its graph emulator) and price them.

    Raises:
        ValueError: the target declares no energy model, or bad ``figures``.
    """
    model = getattr(target, "energy_model", None)
    count = getattr(target, "activity", None)
    if model is None or count is None:
        raise ValueError(
            f"target '{target.name}' declares no energy model (energy_model and "
            "activity(config, raster))"
        )
    from backends import graph_emulator

    shaped: Any = graph_emulator(target, config)  # a GraphEmulator
    raster = shaped.chip_raster(inputs)
    counted = count(config, raster)
    return estimate(
        model,
        counted,
        target=target.name,
        ann_macs=dense_macs(graph),
        figures=figures,
        source=source,
        ann_steps=counted.steps if has_state(graph) else 1,
    )


def has_state(graph: Graph) -> bool:
    """Whether any op of ``graph`` keeps state over time (a neuron): then the ANN
    it is compared with runs every step."""
    return any(getattr(graph.op(n), "stateful", False) for n in graph.nodes())
