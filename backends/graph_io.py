"""Graph-shaped build I/O: run a compiled build on the graph's own inputs.

A chip emulator (``target.emulator(config, seed=...)``) speaks the chip's language:
every input channel of the chip (Xylo: 16 integer channels), every readout channel
(Xylo: 8), and the chip's timing (one step of delay per hidden layer, as spikes hop
from layer to layer). A user holds the *graph's* input: its own channel count and
shape, spikes as 0/1 floats. ``GraphIO`` is what a build records so that it can be
run that way (``config.json`` key ``"io"``), and ``GraphEmulator`` wraps a chip
emulator to run it:

* **Inputs** ``(batch, time, *shape)`` per graph input (a dict by input name, or one
  array for a single input), as ``ir.interpret`` takes them; ``steps`` holds a
  one-step input as ``ir.interpret`` does. Values must be event counts: 0/1 spikes or
  non-negative integers, as floats or integers; anything else (0.5, NaN, -1) is an
  error naming the input, the index and the value. Feature ``i`` of the flattened
  input (several inputs: concatenated in order) is chip input channel ``i``; the rest
  of the chip's channels get no events.
* **Outputs**: only the graph's, each ``(batch, time, size)`` float32 torch tensor
  (the chip's output columns ``channels``), one tensor for a single-output graph,
  else a dict by output node name: the structure ``ir.interpret`` returns.
* **Timing**: with ``align=True`` (default) the input is followed by ``hop_delay``
  silent steps and the first ``hop_delay`` output steps are dropped, so that output
  step ``t`` lines up with the float graph's step ``t``; ``align=False`` keeps the
  chip's raw timing (``time`` steps, outputs late by ``hop_delay``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "GraphEmulator",
    "GraphIO",
    "GraphIOError",
    "InputPort",
    "OutputPort",
    "as_event_counts",
    "checked_with_saved_io",
    "graph_input_ports",
]


class GraphIOError(ValueError):
    """Inputs that do not fit a build's graph, or a malformed ``"io"`` record."""


@dataclass(frozen=True)
class InputPort:
    """One graph input: its ``io.input`` node name and feature shape."""

    name: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        """Features after flattening: chip input channels ``0..size-1``."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class OutputPort:
    """One graph output: its ``io.output`` node name and the chip emulator's output
    columns that hold it, in the output's feature order."""

    name: str
    channels: tuple[int, ...]

    @property
    def size(self) -> int:
        return len(self.channels)


@dataclass(frozen=True)
class GraphIO:
    """What a build records to run on the graph's I/O (module docstring).

    Attributes:
        inputs: the graph's inputs, in ``graph.inputs()`` order.
        outputs: the graph's outputs, in ``graph.outputs()`` order.
        hop_delay: steps the chip's output lags the float graph's.
    """

    inputs: tuple[InputPort, ...]
    outputs: tuple[OutputPort, ...]
    hop_delay: int = 0

    def to_json(self) -> dict[str, Any]:
        """The ``"io"`` record of a ``config.json``."""
        return {
            "hop_delay": int(self.hop_delay),
            "inputs": [{"name": p.name, "shape": list(p.shape)} for p in self.inputs],
            "outputs": [
                {"channels": list(p.channels), "name": p.name} for p in self.outputs
            ],
        }

    @classmethod
    def from_json(cls, value: Any, *, where: str) -> GraphIO:
        """Read an ``"io"`` record; ``where`` (the file) prefixes every error.

        Raises:
            GraphIOError: a malformed record, naming the field.
        """

        def fail(what: str) -> GraphIOError:
            return GraphIOError(f"{where}: io: {what}")

        def named(entry_at: str, entry: Any, key: str) -> tuple[str, list[Any]]:
            """A port entry's ``name`` and its list ``key``."""
            values = entry.get(key) if isinstance(entry, Mapping) else None
            name = entry.get("name") if isinstance(entry, Mapping) else None
            if not isinstance(name, str) or not isinstance(values, list):
                raise fail(f"{entry_at} needs a 'name' and a '{key}' list")
            return name, values

        if not isinstance(value, Mapping):
            raise fail(f"expected an object, got {type(value).__name__}")
        hop = value.get("hop_delay")
        if not _is_count(hop):
            raise fail(f"hop_delay {hop!r} is not a count of steps >= 0")
        inputs, outputs = value.get("inputs"), value.get("outputs")
        if not isinstance(inputs, list) or not isinstance(outputs, list) or not outputs:
            raise fail("needs lists 'inputs' and 'outputs' (at least one output)")
        ins = []
        for k, entry in enumerate(inputs):
            name, shape = named(f"inputs[{k}]", entry, "shape")
            if not all(_is_count(d) and d > 0 for d in shape):
                raise fail(f"inputs[{k}] ('{name}'): shape {shape!r} is not positive")
            ins.append(InputPort(name, tuple(int(d) for d in shape)))
        outs = []
        for k, entry in enumerate(outputs):
            name, chans = named(f"outputs[{k}]", entry, "channels")
            if not chans or not all(_is_count(c) for c in chans):
                raise fail(f"outputs[{k}] ('{name}'): channels {chans!r} are not ids")
            outs.append(OutputPort(name, tuple(int(c) for c in chans)))
        return cls(tuple(ins), tuple(outs), int(cast(int, hop)))

    @classmethod
    def from_saved(
        cls,
        meta: Mapping[str, Any],
        *,
        where: str,
        legacy: Callable[[], GraphIO | None],
    ) -> GraphIO | None:
        """The I/O of a saved ``config.json`` whose fields are ``meta``.

        Its ``"io"`` record when there is one; a version-1 file predates ``"io"``, so
        ``legacy()`` derives it from the config; a later file without it has none.

        Raises:
            GraphIOError: a malformed ``"io"`` record, naming the field.
        """
        if "io" in meta:
            return cls.from_json(meta["io"], where=where)
        return legacy() if meta["version"] == 1 else None


class _SavedConfig(Protocol):
    """A target's configuration as its loader builds it: checkable, with ``io``."""

    @property
    def io(self) -> GraphIO | None: ...

    def check(self) -> None: ...


_Config = TypeVar("_Config", bound=_SavedConfig)


def checked_with_saved_io(
    config: _Config,
    meta: Mapping[str, Any],
    *,
    where: str,
    legacy: Callable[[], GraphIO | None],
    error: type[Exception],
) -> _Config:
    """The end of a target's ``load``: ``config`` checked, with the I/O it records.

    ``config`` was read from ``where`` (its ``config.json``, fields ``meta``); its
    ``io`` becomes :meth:`GraphIO.from_saved`'s.

    Raises:
        error: the target's configuration error: ``config.check()``'s, prefixed with
            ``where``, or a malformed ``"io"`` record's (which names ``where``).
    """
    try:
        config.check()
    except error as err:
        raise error(f"{where}: {err}") from None
    try:
        io = GraphIO.from_saved(meta, where=where, legacy=legacy)
    except GraphIOError as err:
        raise error(str(err)) from None
    # A dataclass (every target's config is), which a Protocol cannot say.
    return dataclasses.replace(config, io=io)  # type: ignore[type-var]


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def as_event_counts(name: str, x: Any) -> np.ndarray:
    """``x`` as int64 event counts, or ``GraphIOError`` naming the first bad value
    of input ``name`` (not finite, negative or not a whole number)."""
    if hasattr(x, "detach"):  # a torch tensor (torch is imported lazily)
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype.kind == "b":
        return arr.astype(np.int64)
    if arr.dtype.kind in "iu":
        bad = arr < 0
    elif arr.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(arr) | (arr < 0) | (arr != np.round(arr))
    else:
        raise GraphIOError(
            f"input '{name}': expected event counts (numbers), got dtype {arr.dtype}"
        )
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise GraphIOError(
            f"input '{name}': value {arr[index].item()!r} at index {index} is not an event "
            "count; a build takes spikes (0/1) or non-negative integer counts per "
            "step, not rates or currents (encode them as spikes first)"
        )
    return arr.astype(np.int64)


@dataclass(frozen=True)
class GraphEmulator:
    """A chip emulator run on the graph's inputs and outputs (module docstring).

    Attributes:
        raw: the chip emulator (``run(raster)`` on the chip's channels, returning
            ``(batch, time, chip outputs)``), for the chip's own I/O.
        io: the build's graph I/O.
        chip_inputs: the raw emulator's input channels (events on graph features
            beyond it are dropped: those features have no synapse on the chip).
    """

    raw: Any
    io: GraphIO
    chip_inputs: int

    def run(
        self, inputs: Any, *, steps: int | None = None, align: bool = True
    ) -> torch.Tensor | dict[str, torch.Tensor]:
        """Run on the graph's inputs; return the graph's outputs (module docstring).

        Raises:
            GraphIOError: inputs that do not fit the graph (shape, names, values).
        """
        import torch

        raster = self._raster(inputs, steps)
        delay = self.io.hop_delay if align else 0
        if delay:
            raster = np.pad(raster, ((0, 0), (0, delay), (0, 0)))
        out = np.asarray(self.raw.run(raster))[:, delay:]
        results = {
            port.name: torch.from_numpy(
                np.ascontiguousarray(out[..., list(port.channels)], np.float32)
            )
            for port in self.io.outputs
        }
        if len(results) == 1:
            return next(iter(results.values()))
        return results

    def chip_raster(self, inputs: Any, *, steps: int | None = None) -> np.ndarray:
        """The chip's input raster ``(batch, time, chip inputs)`` for ``inputs``
        (what :meth:`run` feeds the chip, before the alignment padding)."""
        return self._raster(inputs, steps)

    def _raster(self, inputs: Any, steps: int | None) -> np.ndarray:
        ports = self.io.inputs
        names = [p.name for p in ports]
        if isinstance(inputs, Mapping):
            given = dict(inputs)
            unknown = sorted(set(given) - set(names))
            missing = [n for n in names if n not in given]
            if unknown or missing:
                raise GraphIOError(
                    f"inputs do not match the build's graph: expected "
                    f"{', '.join(names)}; "
                    + "; ".join(
                        [f"unknown {', '.join(unknown)}"] * bool(unknown)
                        + [f"missing {', '.join(missing)}"] * bool(missing)
                    )
                )
        elif len(ports) == 1:
            given = {names[0]: inputs}
        else:
            raise GraphIOError(
                f"the build's graph has inputs {', '.join(names)}; pass a dict by "
                "input name"
            )
        arrays = []
        for port in ports:
            x = as_event_counts(port.name, given[port.name])
            if x.ndim != len(port.shape) + 2 or tuple(x.shape[2:]) != port.shape:
                want = ", ".join(str(d) for d in port.shape)
                hint = ""
                if x.ndim == 3 and x.shape[2] == self.chip_inputs != port.size:
                    hint = (
                        "; this looks like a raster of the chip's own channels: "
                        "run it with emulator.raw.run (CLI: --raw)"
                    )
                raise GraphIOError(
                    f"input '{port.name}' must be (batch, time, {want}), got shape "
                    f"{tuple(x.shape)}{hint}"
                )
            if steps is not None:
                if steps < 1:
                    raise GraphIOError(f"steps must be >= 1, got {steps}")
                if x.shape[1] not in (1, steps):
                    raise GraphIOError(
                        f"input '{port.name}' has {x.shape[1]} time steps; "
                        f"steps={steps} needs 1 or {steps}"
                    )
                if x.shape[1] == 1:
                    x = np.repeat(x, steps, axis=1)
            arrays.append(x.reshape(x.shape[0], x.shape[1], port.size))
        if len({a.shape[:2] for a in arrays}) > 1:
            shapes = sorted({a.shape[:2] for a in arrays})
            raise GraphIOError(f"inputs differ in (batch, time): {shapes}")
        flat = np.concatenate(arrays, axis=2)
        batch, time, n = flat.shape
        raster = np.zeros((batch, time, self.chip_inputs), np.int64)
        used = min(n, self.chip_inputs)
        raster[..., :used] = flat[..., :used]
        return raster


def graph_input_ports(graph: Any) -> tuple[InputPort, ...]:
    """The graph's inputs as the user feeds them: each ``io.input``'s shape, or the
    shape it had before ``expand-conv`` flattened it (meta ``flattened_from``); a
    port's values fill the chip's channels in C order either way."""
    return tuple(
        InputPort(
            name,
            tuple(
                int(d)
                for d in graph.meta(name).get("flattened_from", graph.shape(name))
            ),
        )
        for name in graph.inputs()
    )
