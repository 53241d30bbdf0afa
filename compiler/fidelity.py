"""How well a build's chip agrees with the float graph it was compiled from.

``measure(graph, emulator, inputs)`` runs the float graph (``ir.interpret``) and the
build's graph-shaped emulator (ideal chip, hop delay aligned, ``backends.graph_io``)
on the same spikes and compares their outputs:

* **count correlation**: Pearson correlation of the per-sample, per-output-neuron
  counts summed over time (``None`` when either side's counts do not vary, e.g. the
  float graph never fires: then nothing can be judged);
* **argmax agreement**: the fraction of samples whose most active output neuron
  (first on ties) is the same, over the samples where the float graph fires;
* **bin agreement**: the fraction of ``(sample, step, neuron)`` bins with the same
  count, after aligning the hop delay.

``compiler.compile`` measures every build this way (``fidelity=False`` skips it) on
its ``calibration`` spike trains when they fit the graph's input, else on
``probe_inputs``: seeded Bernoulli spikes of the graph's input shape. Below
``THRESHOLDS`` it warns with a :class:`FidelityWarning`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

import ir
from ir import Graph

__all__ = [
    "MAX_CALIBRATION_STEPS",
    "PROBE_BATCH",
    "PROBE_RATE",
    "PROBE_STEPS",
    "THRESHOLDS",
    "Fidelity",
    "FidelityWarning",
    "calibration_inputs",
    "measure",
    "probe_inputs",
    "warn_if_low",
]

PROBE_BATCH = 8
PROBE_STEPS = 100
PROBE_RATE = 0.15
"""The probe: ``PROBE_BATCH`` samples of ``PROBE_STEPS`` steps, each input channel
spiking with probability ``PROBE_RATE`` per step (seed 0)."""

MAX_CALIBRATION_STEPS = 500
"""Calibration spike trains are cut to this many steps for the check."""

THRESHOLDS: Mapping[str, float] = {
    "count_correlation": 0.8,
    "argmax_agreement": 0.7,
    "bin_agreement": 0.5,
}
"""Below any of these, ``compiler.compile`` warns (a measure that cannot be judged,
e.g. a float graph that never fires on the probe, warns too). Bins are the loosest:
exact spike timing is the first thing a chip changes (Xylo's one-step synapse smear
of ``snn.lif`` alone costs 10-25 % of the bins at correlation 0.99), so they warn
only when half of them differ."""


class FidelityWarning(UserWarning):
    """The compiled chip disagrees with the float graph (or cannot be compared)."""


@dataclass(frozen=True)
class Fidelity:
    """Float graph vs chip emulator on one input set (module docstring).

    Attributes:
        count_correlation: Pearson r of the output spike counts, or ``None``.
        argmax_agreement: fraction of samples, or ``None`` when the float graph
            never fires.
        bin_agreement: fraction of equal bins (after hop-delay alignment).
        float_spikes, chip_spikes: total output spikes of each.
        samples, steps: the input set's size.
        source: where the inputs came from (``"calibration"`` or ``"random ..."``).
        hop_delay: the steps aligned.
    """

    count_correlation: float | None
    argmax_agreement: float | None
    bin_agreement: float
    float_spikes: int
    chip_spikes: int
    samples: int
    steps: int
    source: str
    hop_delay: int = 0

    def problems(self) -> list[str]:
        """Each measure below its threshold (or that cannot be judged), in words."""
        found = []
        if self.float_spikes == 0:
            found.append(
                "the float graph fires no output spike on these inputs, so the chip "
                "cannot be judged (pass calibration spike trains that make it fire)"
            )
        for name, limit in THRESHOLDS.items():
            value = getattr(self, name)
            if value is not None and value < limit:
                found.append(f"{name.replace('_', ' ')} {value:.2f} < {limit}")
        if self.count_correlation is None and self.float_spikes:
            found.append("count correlation undefined (constant counts)")
        return found

    def __str__(self) -> str:
        corr = _fmt(self.count_correlation, "{:.3f}")
        argmax = _fmt(self.argmax_agreement, "{:.1%}")
        return (
            f"count corr {corr}, argmax {argmax}, bins {self.bin_agreement:.1%} "
            f"(spikes float {self.float_spikes:,} / chip {self.chip_spikes:,}; "
            f"{self.samples} x {self.steps} steps, {self.source}, hop delay "
            f"{self.hop_delay} aligned)"
        )


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else spec.format(value)


def probe_inputs(
    graph: Graph,
    *,
    batch: int = PROBE_BATCH,
    steps: int = PROBE_STEPS,
    rate: float = PROBE_RATE,
    seed: int = 0,
) -> np.ndarray | dict[str, np.ndarray]:
    """Seeded Bernoulli spikes ``(batch, steps, *shape)`` of each graph input (one
    array for a single input, else a dict by input name), float32 0/1."""
    rng = np.random.default_rng(seed)
    names = graph.inputs()
    spikes = {
        name: (rng.random((batch, steps, *graph.shape(name))) < rate).astype(np.float32)
        for name in names
    }
    return spikes[names[0]] if len(names) == 1 else spikes


def calibration_inputs(
    graph: Graph, calibration: Any, *, batch: int = PROBE_BATCH
) -> np.ndarray | None:
    """The first ``batch`` samples (and ``MAX_CALIBRATION_STEPS`` steps, to keep the
    check cheap) of ``calibration`` when it is a spike raster of
    the graph's (single) input, ``(N, T, *shape)`` with event counts; else ``None``
    (static samples, rates, several inputs)."""
    names = graph.inputs()
    if len(names) != 1 or calibration is None or isinstance(calibration, Mapping):
        return None
    try:
        x = np.asarray(
            calibration.detach().cpu().numpy()
            if hasattr(calibration, "detach")
            else calibration
        )
    except (TypeError, ValueError):
        return None
    shape = tuple(graph.shape(names[0]))
    if (
        x.ndim != len(shape) + 2
        or tuple(x.shape[2:]) != shape
        or x.dtype.kind not in ("biuf")
    ):
        return None
    x = x[:batch, :MAX_CALIBRATION_STEPS]
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(x).all() and (x >= 0).all() and (x == np.round(x)).all()
    return x.astype(np.float32) if ok and x.size else None


def measure(graph: Graph, emulator: Any, inputs: Any, *, source: str) -> Fidelity:
    """Run ``graph`` (``ir.interpret``) and ``emulator`` (graph-shaped, aligned) on
    ``inputs`` and compare their outputs (module docstring)."""
    want = _stack(ir.interpret(graph, inputs))
    got = _stack(emulator.run(inputs))
    if want.shape != got.shape:
        raise ValueError(
            f"fidelity: the float graph's outputs are {want.shape[1:]} per sample and "
            f"the chip's {got.shape[1:]}; they cannot be compared"
        )
    counts_f, counts_c = want.sum(axis=1), got.sum(axis=1)  # (batch, neurons)
    corr = None
    a, b = counts_f.ravel(), counts_c.ravel()
    if a.size > 1 and a.std() > 0 and b.std() > 0:
        corr = float(np.corrcoef(a, b)[0, 1])
        corr = corr if math.isfinite(corr) else None
    fires = counts_f.sum(axis=1) > 0
    argmax = None
    if fires.any():
        same = counts_f.argmax(axis=1) == counts_c.argmax(axis=1)
        argmax = float(same[fires].mean())
    return Fidelity(
        count_correlation=corr,
        argmax_agreement=argmax,
        bin_agreement=float(np.mean(want == got)) if want.size else 1.0,
        float_spikes=round(float(want.sum())),
        chip_spikes=round(float(got.sum())),
        samples=int(want.shape[0]),
        steps=int(want.shape[1]),
        source=source,
        hop_delay=int(getattr(getattr(emulator, "io", None), "hop_delay", 0)),
    )


def _stack(outputs: Any) -> np.ndarray:
    """Outputs (a tensor, or a dict by name) as one ``(batch, time, features)``."""
    parts = outputs.values() if isinstance(outputs, Mapping) else [outputs]
    arrays = []
    for part in parts:
        arr = np.asarray(
            part.detach().cpu().numpy() if hasattr(part, "detach") else part,
            np.float64,
        )
        arrays.append(arr.reshape(arr.shape[0], arr.shape[1], -1))
    return np.concatenate(arrays, axis=2)


def warn_if_low(fidelity: Fidelity, target: str, *, stacklevel: int = 2) -> None:
    """Warn (``FidelityWarning``) when ``fidelity.problems()`` lists anything."""
    problems = fidelity.problems()
    if not problems:
        return
    warnings.warn(
        f"the {target} build disagrees with the float graph: "
        + "; ".join(problems)
        + f" [{fidelity}]. What to do: check the semantics adapters the compile "
        "report lists and its quantization rows; on dynapse2 choose the current "
        "scale (quantize-dynapse{i-scale=...}, backends.dynapse.calibrate."
        "choose_i_scale) and retune with calibration data (retune{...}); on Xylo "
        "retune (quantization-aware); then compare 'spikeforge run build/' with "
        "the graph on your own data",
        FidelityWarning,
        stacklevel=stacklevel + 1,
    )
