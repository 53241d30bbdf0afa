"""Benchmark: energy per inference of the demo networks, chip against ANN.

Compiles the networks ``make demo`` runs (``examples/``) and prints, for each build,
the events one inference causes (counted by the target's emulator on the build's
calibration spikes, or seeded random spikes) priced with the chip's published
figures (``compiler.energy``; ``no published figure`` where there is none, and the
total then a lower bound), next to the same layers as an ANN on the reference
accelerator (Horowitz, ISSCC 2014: 0.23 pJ per int8 MAC, arithmetic only).

    python bench/energy.py [--quick] [--figure synaptic_event=2e-12 ...]

``--quick`` trains the digit networks for fewer epochs (the energy depends on the
activity, which changes little). Read ``docs/energy.md`` before quoting a number.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

EXAMPLES = Path(__file__).parents[1] / "examples"
# NOTE: examples/tiny_rsnn.sfir is left out: its snn.li readout compiles for the
# reference target only.
sys.path.insert(0, str(EXAMPLES))

import compiler  # noqa: E402
from backends import get_target  # noqa: E402
from compiler.energy import (  # noqa: E402
    EnergyEstimate,
    estimate,
    format_joules,
    parse_figures,
)


@dataclass(frozen=True)
class Row:
    network: str
    target: str
    energy: EnergyEstimate


def builds(quick: bool, figures: dict[str, float]) -> list[Row]:
    """Compile each demo network; return its energy estimate."""
    import cnn_dynapse
    import dynapse_digits
    import xylo_digits

    rows = []
    epochs = 5 if quick else 40
    for target, classes in (("xylo-audio2", 8), ("xylo-audio3", 10)):
        digits = xylo_digits.run(target, classes, epochs=epochs)
        rows.append(
            Row(
                f"digits MLP ({classes} classes)",
                target,
                _energy(digits.report, figures),
            )
        )
    dyn = dynapse_digits.run(epochs=epochs, chips=1, retune_epochs=0)
    rows.append(Row("digits SNN", "dynapse2", _energy(dyn.report, figures)))
    cnn = cnn_dynapse.run(epochs=3 if quick else 30)
    rows.append(Row("digits CNN", "dynapse2", _energy(cnn.report, figures)))
    return rows


def _energy(
    report: compiler.CompileReport, figures: dict[str, float]
) -> EnergyEstimate:
    """The report's estimate, repriced with ``figures`` when given."""
    e = report.energy
    if e is None:
        raise RuntimeError(
            f"{report.target}: no energy estimate ({report.energy_note})"
        )
    if not figures:
        return e
    return estimate(
        get_target(report.target).energy_model,  # type: ignore[attr-defined]
        e.activity,
        target=e.target,
        ann_macs=e.ann_macs,
        figures=figures,
        source=e.source,
        ann_steps=e.ann_steps,
    )


def table(rows: list[Row]) -> str:
    head = (
        "| network | target | steps | synaptic events | spikes | chip energy "
        "| ANN one pass | ANN every step |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for row in rows:
        e = row.energy
        events = e.activity.events
        if e.total is not None:
            chip = format_joules(e.total)
        elif len(e.missing) == len(e.terms):
            chip = f"no published figure ({', '.join(e.missing)})"
        else:
            chip = f">= {format_joules(e.known)} (missing: {', '.join(e.missing)})"
        one = e.ann_joules
        every = None if one is None else one * e.ann_steps
        lines.append(
            f"| {row.network} | {row.target} | {e.activity.steps} "
            f"| {events.get('synaptic_event', 0):,.0f} | {events.get('spike', 0):,.0f} "
            f"| {chip} | {format_joules(one)} | {format_joules(every)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer training epochs")
    parser.add_argument(
        "--figure",
        action="append",
        default=[],
        metavar="KIND=VALUE",
        help="your own energy figure (as spikeforge compile --energy-figure)",
    )
    args = parser.parse_args()
    figures = parse_figures(args.figure)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # adapter/fidelity notes: not this bench
        rows = builds(args.quick, figures)
    print(table(rows))
    print()
    sources = {}
    for row in rows:
        for key, value in row.energy.rows().items():
            if key.startswith("source"):
                sources[f"{row.energy.chip}: {key.removeprefix('source ')}"] = value
    for key, value in sources.items():
        print(f"- {key}: {value}")


if __name__ == "__main__":
    main()
