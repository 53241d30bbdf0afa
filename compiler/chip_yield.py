"""The chip-population yield report: accuracy of one configuration on many chips.

Analog chips differ (mismatch); a configuration that works on the ideal chip may fail
on some real ones. ``chip_yield`` runs a labelled test set on ``chips`` instances of
a target (chip ``k`` has mismatch seed ``seed + k``), classifies each sample by the
output neuron with the most spikes, and reports the accuracy distribution: mean, 5th
percentile, minimum, and the fraction of chips within ``tolerance`` of a reference
accuracy (the float model's when given, else the ideal chip's). Chips run in batches
of ``batch``, each batch in one call when the target has ``population(config,
seeds)``, else chip by chip; either way chip ``k`` always gets the same accuracy.
``histogram`` draws the distribution (matplotlib, the ``plot`` extra).

**Engines.** Chips are independent, so the batches can run anywhere. ``engine="local"``
(default) runs them one after another in this process. ``engine="dask"`` (the
``distributed`` extra: ``pip install 'spikeforge[distributed]'``) makes each batch one
``dask.delayed`` task (the ideal chip's reference run one more) and runs them with
``dask.compute``: on the active ``dask.distributed`` ``Client`` when there is one
(``distributed`` installed separately), else on dask's default local scheduler
(threads); ``dask_scheduler`` picks one explicitly (``"threads"``, ``"processes"``,
``"synchronous"``, or any value ``dask.compute(scheduler=...)`` takes). The target and
configuration travel to the workers pickled (the built-in targets and their
configurations pickle); ``"processes"`` starts fresh interpreters (spawn), so a script
calling it needs the ``if __name__ == "__main__":`` guard. A batch computes exactly
what the local engine computes for it, so the accuracies are identical for the same
``seed``, ``chips`` and ``batch``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from compiler.figures import pyplot, save_figure
from compiler.progress import Progress
from ir.inputs import check_input

__all__ = ["ENGINES", "YieldReport", "chip_yield", "histogram", "histogram_text"]

ENGINES: tuple[str, ...] = ("local", "dask")
"""Where ``chip_yield`` runs the chips: this process, or dask tasks."""


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

    def p5_interval(
        self, confidence: float = 0.95, *, resamples: int = 2000, seed: int = 0
    ) -> tuple[float, float]:
        """Bootstrap interval of the 5th percentile: the chips resampled with
        replacement ``resamples`` times (seeded: deterministic), the central
        ``confidence`` of the resampled 5th percentiles. It says how far the
        population's 5th percentile may lie from this sample's, given its size."""
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be within (0, 1), got {confidence}")
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, self.accuracy.size, (resamples, self.accuracy.size))
        p5 = np.percentile(self.accuracy[picks], 5, axis=1)
        tail = (1 - confidence) / 2 * 100
        low, high = np.percentile(p5, [tail, 100 - tail])
        return float(low), float(high)

    @property
    def within(self) -> float:
        """Fraction of chips at most ``tolerance`` below the reference."""
        return float(np.mean(self.accuracy >= self.reference - self.tolerance - 1e-12))

    def __str__(self) -> str:
        return "\n".join(f"{k:<32} {v}" for k, v in self.rows())

    def rows(self) -> list[tuple[str, str]]:
        """The summary as ``(label, value)`` rows."""
        return [
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

    def __repr__(self) -> str:
        return (
            f"<YieldReport {len(self.seeds)} chips: mean {self.mean:.2%}, "
            f"min {self.minimum:.2%}, {self.within:.1%} within "
            f"{self.tolerance:.0%} of {self.reference:.2%}>"
        )

    def _repr_html_(self) -> str:
        """The summary and a text histogram of the chips' accuracy (Jupyter)."""
        from html import escape

        body = "".join(
            f"<tr><td style='text-align:left'>{escape(k)}</td><td>{escape(v)}</td></tr>"
            for k, v in self.rows()
        )
        bars = escape(histogram_text([("chips", self)]))
        return f"<table>{body}</table><pre>{bars}</pre>"


def _accuracy(outputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Accuracy per leading index of ``(..., B, T, Nout)`` spike outputs."""
    counts = np.asarray(outputs).sum(axis=-2)
    return np.mean(counts.argmax(axis=-1) == labels, axis=-1)


def _batch_accuracy(
    target: Any, config: Any, x: np.ndarray, y: np.ndarray, seeds: Sequence[int]
) -> np.ndarray:
    """``(len(seeds),)`` accuracy of the chips named by ``seeds``.

    One population run when the target has ``population``, else one run per chip.
    Module-level (not a closure) so that dask can pickle it to other processes.
    """
    group = list(seeds)
    population = getattr(target, "population", None)
    if population is not None:
        out = np.asarray(population(config, group).run(x))
        if len(group) == 1:
            out = out[None]  # a one-chip population returns one chip's output
        return np.asarray(_accuracy(out, y), dtype=np.float64).reshape(len(group))
    accuracy = np.empty(len(group))
    for k, chip_seed in enumerate(group):
        out = np.asarray(target.emulator(config, seed=chip_seed).run(x))
        accuracy[k] = float(_accuracy(out, y))
    return accuracy


def _ideal_accuracy(target: Any, config: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of the ideal chip (no mismatch)."""
    ideal = target.emulator(config, seed=None).run(x)
    return float(_accuracy(np.asarray(ideal), y))


def _output_count(target: Any, config: Any, x: np.ndarray, seed: int) -> int:
    """Output channels (classes) of ``config``, from the first chip on one sample."""
    out = np.asarray(target.emulator(config, seed=seed).run(x[:1]))
    return int(out.shape[-1])


def _checked_labels(y: np.ndarray, classes: int) -> np.ndarray:
    """``y`` as integer classes, or a ``ValueError`` naming the first bad label."""
    if y.dtype.kind not in "biuf":
        raise ValueError(f"labels must be class numbers, got {y.dtype} values")
    bad = np.flatnonzero(
        ~np.isfinite(y) | (y != np.round(y)) | (y < 0) | (y >= classes)
        if y.dtype.kind == "f"
        else (y < 0) | (y >= classes)
    )
    if bad.size:
        raise ValueError(
            f"labels[{int(bad[0])}] = {y[bad[0]].item()} is not a class of the "
            f"build's {classes} outputs (0..{classes - 1}); {bad.size} such label(s)"
        )
    return y.astype(np.int64)


def _import_dask() -> Any:
    try:
        import dask
    except ImportError as err:
        raise ImportError(
            "engine 'dask' needs dask: pip install 'spikeforge[distributed]'"
        ) from err
    return dask


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
    engine: str = "local",
    dask_scheduler: Any = None,
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
        batch: chips per batched run (and per dask task).
        engine: ``"local"`` (this process) or ``"dask"`` (one dask task per
            batch; see the module docstring). Same accuracies either way.
        dask_scheduler: with ``engine="dask"``, the scheduler passed to
            ``dask.compute`` (``"threads"``, ``"processes"``, ``"synchronous"``,
            ...); ``None``: the active ``Client``, else dask's default.

    Raises:
        ValueError: mismatched inputs and labels, a label that is not one of the
            build's output classes, ``tolerance`` or ``reference`` outside 0..1,
            ``chips < 1``, ``batch < 1``, an unknown ``engine``, or
            ``dask_scheduler`` without ``engine="dask"``.
        InputError: inputs that are empty, complex or not finite.
        ImportError: ``engine="dask"`` without dask installed.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid: {list(ENGINES)}")
    if dask_scheduler is not None and engine != "dask":
        raise ValueError(
            f"dask_scheduler={dask_scheduler!r} needs engine='dask', got {engine!r}"
        )
    # NOTE: the inputs go to the target as given: an analog emulator takes float
    # rasters, Xylo's only integer event counts.
    x = np.asarray(inputs)
    y = np.asarray(labels).reshape(-1)
    if chips < 1:
        raise ValueError(f"chips must be >= 1, got {chips}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x.shape[0]} inputs but {y.shape[0]} labels")
    if not (math.isfinite(tolerance) and 0 <= tolerance <= 1):
        raise ValueError(f"tolerance must be within 0..1, got {tolerance}")
    if reference is not None and not (math.isfinite(reference) and 0 <= reference <= 1):
        raise ValueError(f"reference accuracy must be within 0..1, got {reference}")
    check_input(x, source="inputs")
    y = _checked_labels(y, _output_count(target, config, x, seed))
    seeds = tuple(range(seed, seed + chips))
    groups = [seeds[start : start + batch] for start in range(0, chips, batch)]
    source = "float model" if reference is not None else "ideal chip"
    if engine == "dask":
        dask = _import_dask()
        # The shared inputs enter the graph once (one key each), not once per task.
        shared = [dask.delayed(v, traverse=False) for v in (target, config, x, y)]
        tasks = [dask.delayed(_batch_accuracy)(*shared, g) for g in groups]
        if reference is None:
            tasks.append(dask.delayed(_ideal_accuracy)(*shared))
        results = list(dask.compute(*tasks, scheduler=dask_scheduler))
        if reference is None:
            reference = float(results.pop())
    else:
        results = []
        with Progress("yield", chips) as bar:
            for group in groups:
                results.append(_batch_accuracy(target, config, x, y, group))
                bar.update(len(group), note="chips")
        if reference is None:
            reference = _ideal_accuracy(target, config, x, y)
    accuracy = np.concatenate([np.asarray(r, np.float64) for r in results])
    return YieldReport(
        seeds=seeds,
        accuracy=accuracy,
        reference=float(reference),
        reference_source=source,
        tolerance=tolerance,
    )


def histogram_text(
    reports: Sequence[tuple[str, YieldReport]], *, bins: int = 10, width: int = 30
) -> str:
    """The chips' accuracy distributions as text, one column of bars per report:
    ``bins`` accuracy bins from the lowest chip's bin to 100 %, a bar per bin scaled so
    that the tallest is ``width`` characters, and its chip count."""
    if not reports:
        return ""
    low = min(float(r.accuracy.min()) for _, r in reports)
    start = np.floor(low * bins) / bins
    edges = np.linspace(start, 1.0, bins + 1)
    counts = [np.histogram(r.accuracy, bins=edges)[0] for _, r in reports]
    tallest = max(int(c.max()) for c in counts) or 1
    names = [name for name, _ in reports]
    cell = max(width + 5, *(len(n) for n in names))
    lines = [("accuracy      " + " ".join(f"{n:<{cell}}" for n in names)).rstrip()]
    for b in range(bins):
        row = f"{edges[b]:5.0%}-{edges[b + 1]:4.0%}  "
        for c in counts:
            bar = "#" * round(width * int(c[b]) / tallest)
            row += " " + f"{bar} {int(c[b])}".ljust(cell) if c[b] else " " * (cell + 1)
        lines.append(row.rstrip())
    return "\n".join(lines)


def histogram(
    reports: Sequence[tuple[str, YieldReport]], path: str | os.PathLike[str]
) -> None:
    """Histogram of chip accuracies (one series per labelled report) into ``path``."""
    plt = pyplot("the yield histogram")
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
    save_figure(fig, path)
