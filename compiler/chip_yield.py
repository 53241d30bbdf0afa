"""The chip-population yield report: accuracy of one configuration on many chips.

Analog chips differ (mismatch); a configuration that works on the ideal chip may fail
on some real ones. ``chip_yield`` runs a labelled test set on ``chips`` instances of
a target (chip ``k`` has mismatch seed ``seed + k``), classifies each sample by the
output neuron with the most spikes, and reports the accuracy distribution: mean, 5th
percentile, minimum, and the fraction of chips within ``tolerance`` of a reference
accuracy (the float model's when given, else the ideal chip's). Chips run batched in
one call when the target has ``population(config, seeds)``, else one by one; either
way chip ``k`` always gets the same accuracy. ``histogram`` draws the distribution
(matplotlib, the ``plot`` extra).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ir.serialize import atomic_write

__all__ = ["YieldReport", "chip_yield", "histogram"]


@dataclass(frozen=True)
class YieldReport:
    """Accuracy of each chip and its summary.

    Attributes:
        seeds: the chips' mismatch seeds.
        accuracy: ``(chips,)`` accuracy of each chip.
        reference: the accuracy chips are compared with.
        reference_source: ``"float model"`` or ``"ideal chip"``.
        tolerance: the allowed drop below ``reference``.
    """

    seeds: tuple[int, ...]
    accuracy: np.ndarray
    reference: float
    reference_source: str
    tolerance: float

    @property
    def mean(self) -> float:
        return float(self.accuracy.mean())

    @property
    def p5(self) -> float:
        """5th percentile of the chips' accuracy."""
        return float(np.percentile(self.accuracy, 5))

    @property
    def minimum(self) -> float:
        return float(self.accuracy.min())

    @property
    def within(self) -> float:
        """Fraction of chips at most ``tolerance`` below the reference."""
        return float(np.mean(self.accuracy >= self.reference - self.tolerance - 1e-12))

    def __str__(self) -> str:
        rows = [
            ("chips", f"{len(self.seeds)}"),
            (f"reference ({self.reference_source})", f"{self.reference:.2%}"),
            ("mean accuracy", f"{self.mean:.2%}"),
            ("5th percentile", f"{self.p5:.2%}"),
            ("minimum", f"{self.minimum:.2%}"),
            (
                f"within {self.tolerance:.0%} of reference",
                f"{self.within:.1%} of chips",
            ),
        ]
        return "\n".join(f"{k:<32} {v}" for k, v in rows)


def _accuracy(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Accuracy per leading index of ``(..., B, T, Nout)`` spike outputs."""
    counts = np.asarray(outputs).sum(axis=-2)
    return np.mean(counts.argmax(axis=-1) == labels, axis=-1)


def chip_yield(
    target: Any,
    config: Any,
    inputs: np.ndarray,
    labels: np.ndarray,
    *,
    chips: int = 100,
    seed: int = 1,
    tolerance: float = 0.02,
    reference: float | None = None,
    batch: int = 32,
) -> YieldReport:
    """Accuracy of ``config`` on ``chips`` instances of ``target``.

    Args:
        target: a target with ``emulator(config, seed=...)`` (and optionally
            ``population(config, seeds)``, used when present).
        config: the compiled configuration.
        inputs: ``(N, T, *input)`` test inputs; ``labels``: ``(N,)`` classes.
        chips: how many chip instances (seeds ``seed .. seed + chips - 1``).
        tolerance: allowed accuracy drop below the reference.
        reference: the float model's accuracy; default: the ideal chip's
            (``emulator(config, seed=None)``).
        batch: chips per batched run.

    Raises:
        ValueError: mismatched inputs and labels, or ``chips < 1``.
    """
    x = np.asarray(inputs, np.float32)
    y = np.asarray(labels).reshape(-1)
    if chips < 1:
        raise ValueError(f"chips must be >= 1, got {chips}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x.shape[0]} inputs but {y.shape[0]} labels")
    seeds = tuple(range(seed, seed + chips))
    accuracy = np.empty(chips)
    population = getattr(target, "population", None)
    if population is not None:
        for start in range(0, chips, batch):
            group = list(seeds[start : start + batch])
            out = np.asarray(population(config, group).run(x))
            if len(group) == 1:
                out = out[None]  # a one-chip population returns one chip's output
            accuracy[start : start + len(group)] = _accuracy(out, y)
    else:
        for k, chip_seed in enumerate(seeds):
            out = np.asarray(target.emulator(config, seed=chip_seed).run(x))
            accuracy[k] = float(_accuracy(out, y))
    source = "float model"
    if reference is None:
        ideal = target.emulator(config, seed=None).run(x)
        reference = float(_accuracy(np.asarray(ideal), y))
        source = "ideal chip"
    return YieldReport(
        seeds=seeds,
        accuracy=accuracy,
        reference=float(reference),
        reference_source=source,
        tolerance=tolerance,
    )


def histogram(
    reports: Sequence[tuple[str, YieldReport]], path: str | os.PathLike[str]
) -> None:
    """Histogram of chip accuracies (one series per labelled report) into ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError(
            "the yield histogram needs matplotlib: pip install 'spikeforge[plot]'"
        ) from err
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = [float(b) for b in np.linspace(0, 1, 51)]
    for label, report in reports:
        ax.hist(
            report.accuracy,
            bins=bins,
            alpha=0.6,
            label=f"{label} (mean {report.mean:.1%})",
        )
        ax.axvline(report.reference, linestyle="--", color="black", linewidth=1)
    ax.set_xlabel("accuracy")
    ax.set_ylabel("chips")
    ax.legend()
    buffer = io.BytesIO()
    fig.savefig(
        buffer,
        format=Path(path).suffix.lstrip(".") or "png",
        bbox_inches="tight",
        dpi=100,
    )
    plt.close(fig)
    atomic_write(path, buffer.getvalue())
