"""Pictures of what a network or a chip did: spike rasters and membrane traces.

The feel of ``snntorch.spikeplot.raster`` and Rockpool's ``TSEvent.plot``: give an
array, get a matplotlib figure (Jupyter shows it; ``path=`` also writes a PNG)::

    from spikeforge import plot

    plot.raster(spikes)                                   # (time, neurons)
    plot.raster({"input": x, "hidden": h, "output": y})   # one panel each
    plot.membrane(v, threshold=1.0)                       # (time, neurons) traces
    plot.overview({"input": x, "output": y}, {"h v": v}, path="run.png")

Arrays are ``(time, neurons)`` or ``(batch, time, *features)`` (``sample=`` picks the
batch entry, features are flattened in C order), as NumPy arrays or torch tensors.
A raster draws one dot per (step, neuron) with at least one event; it takes event
counts (non-negative integers; 0/1 floats are counts too). Needs matplotlib (the
``plot`` extra); files are written atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["membrane", "overview", "raster"]

_EXTRA = "pip install 'spikeforge[plot]'"


def raster(
    spikes: Any,
    *,
    sample: int = 0,
    dt: float | None = None,
    title: str | None = None,
    ax: Any = None,
    path: str | os.PathLike[str] | None = None,
    s: float = 20.0,
) -> Any:
    """Draw a spike raster: a dot at (time step, neuron) for every step with events.

    Args:
        spikes: event counts ``(time, neurons)`` or ``(batch, time, *features)``; or
            a mapping ``{name: array}`` for one panel per entry, top to bottom.
        sample: the batch entry drawn from a batched array.
        dt: the time step in seconds: the x axis in milliseconds (else in steps).
        title: the figure's title (a single panel's axes title).
        ax: draw into these matplotlib axes (one array only).
        path: also write the figure there (PNG, or any format matplotlib knows).
        s: dot size, as in ``matplotlib.axes.Axes.scatter``.

    Returns:
        The matplotlib ``Figure``. Each panel's dots are one ``PathCollection``
        whose offsets are ``(time, neuron)`` (steps, or ms with ``dt``).

    Raises:
        ValueError: a shape that is not (time, neurons) or (batch, time, ...), a
            ``sample`` outside the batch, or values that are not event counts; the
            message names the panel.
        ImportError: matplotlib is missing (``pip install 'spikeforge[plot]'``).
    """
    panels = _panels(spikes, "spikes", sample, counts=True)
    return _draw([("raster", name, a) for name, a in panels], dt, title, ax, path, s=s)


def membrane(
    traces: Any,
    *,
    sample: int = 0,
    neurons: Sequence[int] | None = None,
    max_neurons: int = 8,
    threshold: float | None = None,
    dt: float | None = None,
    title: str | None = None,
    ax: Any = None,
    path: str | os.PathLike[str] | None = None,
) -> Any:
    """Draw membrane (or any state) traces over time, one line per neuron.

    Args:
        traces: ``(time, neurons)`` or ``(batch, time, *features)``; or a mapping
            ``{name: array}`` for one panel per entry.
        sample: the batch entry drawn from a batched array.
        neurons: which neurons to draw (default: the first ``max_neurons``).
        max_neurons: how many neurons to draw when ``neurons`` is not given.
        threshold: draw this firing threshold as a dashed line.
        dt, title, ax, path: as in :func:`raster`.

    Returns:
        The matplotlib ``Figure``; each trace is one ``Line2D`` whose y data is the
        neuron's trace.

    Raises:
        ValueError: a bad shape, ``sample`` or neuron index, naming the panel.
        ImportError: matplotlib is missing.
    """
    panels = _panels(traces, "traces", sample, counts=False)
    chosen = [(name, _neurons(name, a, neurons, max_neurons)) for name, a in panels]
    return _draw(
        [
            ("membrane", name, a[:, idx], idx)
            for (name, a), (_, idx) in zip(panels, chosen, strict=True)
        ],
        dt,
        title,
        ax,
        path,
        threshold=threshold,
    )


def overview(
    rasters: Mapping[str, Any],
    membranes: Mapping[str, Any] | None = None,
    *,
    sample: int = 0,
    max_neurons: int = 8,
    dt: float | None = None,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Any:
    """Rasters and then membrane traces of one run, stacked on one time axis
    (what ``spikeforge run --plot`` draws). Arguments as in :func:`raster` and
    :func:`membrane`."""
    items: list[tuple[Any, ...]] = [
        ("raster", name, a)
        for name, a in _panels(dict(rasters), "spikes", sample, counts=True)
    ]
    for name, a in _panels(dict(membranes or {}), "traces", sample, counts=False):
        idx = _neurons(name, a, None, max_neurons)
        items.append(("membrane", name, a[:, idx], idx))
    if not items:
        raise ValueError("spikeforge.plot.overview: nothing to draw (no arrays)")
    return _draw(items, dt, title, None, path)


def _matplotlib() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError(
            f"spikeforge.plot needs matplotlib, which is not installed: {_EXTRA}"
        ) from err
    return Figure


def _panels(
    data: Any, what: str, sample: int, *, counts: bool
) -> list[tuple[str, np.ndarray]]:
    """``[(name, (time, neurons) float64 array)]`` from one array or a mapping."""
    if isinstance(data, Mapping):
        items = [(str(k), v) for k, v in data.items()]
    else:
        items = [("", data)]
    return [
        (name, _as_2d(value, name or what, sample, counts=counts))
        for name, value in items
    ]


def _as_2d(value: Any, name: str, sample: int, *, counts: bool) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    a = np.asarray(value)
    where = f"spikeforge.plot: '{name}'"
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{where} holds {a.dtype} values; expected numbers")
    if a.ndim < 2:
        raise ValueError(
            f"{where} has shape {a.shape}; expected (time, neurons) or "
            "(batch, time, *features)"
        )
    if 0 in a.shape:
        raise ValueError(f"{where} has shape {a.shape}: no time steps or no neurons")
    if a.ndim >= 3:
        if not -a.shape[0] <= sample < a.shape[0]:
            raise ValueError(
                f"{where}: sample {sample} is outside the batch of {a.shape[0]} "
                f"(shape {a.shape})"
            )
        a = a[sample].reshape(a.shape[1], -1)
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise ValueError(f"{where} holds a non-finite value at (time, neuron) {bad}")
    if counts:
        off = (a < 0) | (a != np.round(a))
        if off.any():
            t, n = (int(i) for i in np.argwhere(off)[0])
            raise ValueError(
                f"{where} is not event counts: {a[t, n]:g} at time {t}, neuron {n} "
                "(counts are non-negative integers; draw analog values with "
                "spikeforge.plot.membrane)"
            )
    return a


def _neurons(
    name: str, a: np.ndarray, neurons: Sequence[int] | None, max_neurons: int
) -> list[int]:
    if neurons is None:
        if max_neurons < 1:
            raise ValueError(f"max_neurons must be >= 1, got {max_neurons}")
        return list(range(min(max_neurons, a.shape[1])))
    idx = [int(n) for n in neurons]
    bad = [n for n in idx if not 0 <= n < a.shape[1]]
    if bad or not idx:
        raise ValueError(
            f"spikeforge.plot: '{name or 'traces'}' has {a.shape[1]} neurons; "
            f"neurons {bad or idx} are not among them"
        )
    return idx


def _draw(
    items: list[tuple[Any, ...]],
    dt: float | None,
    title: str | None,
    ax: Any,
    path: str | os.PathLike[str] | None,
    *,
    s: float = 20.0,
    threshold: float | None = None,
) -> Any:
    figure_class = _matplotlib()
    if ax is not None and len(items) != 1:
        raise ValueError(f"ax= draws one panel; got {len(items)} arrays")
    if ax is None:
        heights = [
            max(1.0, min(3.0, 0.04 * it[2].shape[1] + 0.8))
            if it[0] == "raster"
            else 2.0
            for it in items
        ]
        fig = figure_class(figsize=(8, sum(heights) + 0.6), layout="constrained")
        axes = fig.subplots(
            len(items), 1, sharex=True, squeeze=False, height_ratios=heights
        )[:, 0]
    else:
        fig, axes = ax.figure, [ax]
    scale = 1.0 if dt is None else dt * 1e3
    for axis, item in zip(axes, items, strict=True):
        kind, name, a = item[0], item[1], item[2]
        if kind == "raster":
            t, n = np.nonzero(a)
            axis.scatter(t * scale, n, s=s, c="black", marker="|")
            axis.set_ylim(-0.5, a.shape[1] - 0.5)
            axis.yaxis.get_major_locator().set_params(integer=True)
            axis.set_ylabel(f"{name}\nneuron" if name else "neuron")
        else:
            steps = np.arange(a.shape[0]) * scale
            for col, neuron in enumerate(item[3]):
                axis.plot(steps, a[:, col], lw=1.0, label=str(neuron))
            if threshold is not None:
                axis.axhline(threshold, color="grey", ls="--", lw=0.8)
            axis.set_ylabel(name or "membrane")
            if len(item[3]) <= 8:
                axis.legend(title="neuron", fontsize="x-small", loc="upper right")
        axis.set_xlim(-0.5 * scale, (a.shape[0] - 0.5) * scale)
    axes[-1].set_xlabel("time step" if dt is None else "time (ms)")
    if title:
        if len(items) == 1:
            axes[0].set_title(title)
        else:
            fig.suptitle(title)
    if path is not None:
        _save(fig, path)
    return fig


def _save(fig: Any, path: str | os.PathLike[str]) -> None:
    from ir.serialize import atomic_write

    suffix = (
        os.fspath(path).rsplit(".", 1)[-1].lower() if "." in os.fspath(path) else ""
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format=suffix or "png", dpi=120)
    atomic_write(path, buffer.getvalue())
