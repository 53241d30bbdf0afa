"""The ``ann-to-snn`` pass."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from compiler.pass_base import Pass
from ir import Graph, Op, interpret
from ir.op import Shape
from ir.ops import io, nn, snn

__all__ = ["AnnToSnnPass", "activation_stats", "load_calibration"]

_NORMALIZATIONS = ("max", "percentile", "none")
_THRESHOLDS = ("layer", "channel")
_V_INITS = ("zero", "half")
_ENCODINGS = ("current", "rate")
_READOUTS = ("integrate", "spikes", "spike-train")


@dataclass(frozen=True)
class AnnToSnnPass(Pass):
    """Convert a ReLU network into a rate-coded SNN of IF neurons (Rueckauer et al. 2017).

    Every ``nn.relu`` becomes an ``snn.if`` with reset by subtraction and threshold
    ``lambda``: the maximum (``normalization=max``) or a percentile of the positive
    activations it produced on the calibration data, per layer or per channel
    (``normalization=none``: 1). Over ``T`` steps its spike rate approximates
    ``relu(z) / lambda`` (clipped at one spike per step), so each spike stands for
    ``lambda`` of activation: that unit is folded into the weights of the layers that
    read the spikes (through pooling, flatten and residual adds). Biases stay constant
    currents. ``nn.avgpool2d`` becomes ``nn.sumpool2d`` with its ``1/k^2`` folded into
    the next weights. A QCFS ``nn.clip`` converts with ``theta`` = its clip level and
    ``v_init = theta/2`` (Bu et al. 2022). The output layer feeds a non-spiking
    ``snn.integrator`` whose value after ``timesteps`` steps is the mean input, i.e. the
    ANN's output (``readout=integrate``), or becomes IF neurons whose spikes are counted
    (``readout=spikes``), or those IF neurons feed the output directly and the caller
    counts the spikes (``readout=spike-train``: an all-spiking graph, as chips such as
    Xylo need). The input enters the first layer as a current held over the
    steps (``encoding=current``) or as seeded Bernoulli spikes (``encoding=rate``).

    Pre-conditions: an ANN graph of ``io``/``nn`` ops with one input, BatchNorm folded
    (``fold-bn``), no max pooling (no rate-coded equivalent here: use average pooling).

    Options:
        timesteps: steps the readout averages over (``T``).
        normalization: ``max`` | ``percentile`` | ``none``.
        percentile: percentile of positive activations for ``percentile``.
        thresholds: ``layer`` (one per layer) | ``channel`` (one per channel).
        v_init: ``zero`` | ``half`` (``theta/2``, as in QCFS).
        encoding: ``current`` | ``rate``.
        seed: seed of the rate encoder.
        readout: ``integrate`` | ``spikes`` | ``spike-train``.
        max_spikes: spikes a hidden IF neuron may emit in one step (1: the classic
            rate code; Xylo's hidden neurons emit up to 31). Output neurons: 1.
        dt: time step (seconds) when the graph has none.

    Inputs:
        calibration: ``(N, *input_shape)`` samples (tensor, array or ``.npy`` path);
            needed unless ``normalization=none``.
    """

    name = "ann-to-snn"
    inputs = ("calibration",)

    timesteps: int = 32
    normalization: Literal["max", "percentile", "none"] = "percentile"
    percentile: float = 99.9
    thresholds: Literal["layer", "channel"] = "layer"
    v_init: Literal["zero", "half"] = "zero"
    encoding: Literal["current", "rate"] = "current"
    seed: int = 0
    readout: Literal["integrate", "spikes", "spike-train"] = "integrate"
    max_spikes: int = 1
    dt: float = 1e-3

    def __post_init__(self) -> None:
        if self.timesteps < 1:
            raise ValueError(f"option timesteps must be >= 1, got {self.timesteps}")
        if not 0 < self.percentile <= 100:
            raise ValueError(
                f"option percentile must be in (0, 100], got {self.percentile}"
            )
        if self.max_spikes < 1:
            raise ValueError(f"option max_spikes must be >= 1, got {self.max_spikes}")
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise ValueError(f"option dt must be a positive number, got {self.dt}")
        for option, value, allowed in (
            ("normalization", self.normalization, _NORMALIZATIONS),
            ("thresholds", self.thresholds, _THRESHOLDS),
            ("v-init", self.v_init, _V_INITS),
            ("encoding", self.encoding, _ENCODINGS),
            ("readout", self.readout, _READOUTS),
        ):
            if value not in allowed:
                raise ValueError(
                    f"option {option} must be one of {', '.join(allowed)}, got {value!r}"
                )

    def run(self, graph: Graph, /, **inputs: Any) -> Graph:
        _check_ann(graph)
        needs_data = self.normalization != "none" or self.encoding == "rate"
        calibration = inputs.get("calibration")
        if calibration is None and needs_data:
            raise ValueError(
                "ann-to-snn needs calibration data (input 'calibration', samples shaped "
                f"(N, {', '.join(map(str, graph.shape(graph.inputs()[0])))})) for "
                f"normalization={self.normalization}; pass it, or use normalization=none"
            )
        stats = None
        if calibration is not None:
            stats = activation_stats(graph, load_calibration(graph, calibration))
        return _Converter(self, graph, stats).convert()


def load_calibration(graph: Graph, data: Any) -> torch.Tensor:
    """Calibration samples ``(N, *input_shape)`` as a float tensor.

    Raises:
        ValueError: not an array, no samples, or the wrong shape (named).
    """
    if isinstance(data, (str, Path)):
        data = np.load(data, allow_pickle=False)
    try:
        x = torch.as_tensor(np.asarray(data) if not torch.is_tensor(data) else data)
    except (TypeError, ValueError) as err:
        raise ValueError(f"input 'calibration' is not an array: {err}") from None
    (name,) = graph.inputs()
    want = graph.shape(name)
    if x.ndim != len(want) + 1 or tuple(x.shape[1:]) != want or x.shape[0] == 0:
        raise ValueError(
            f"input 'calibration' must be (N, {', '.join(map(str, want))}) samples for "
            f"graph input '{name}', got shape {tuple(x.shape)}"
        )
    return x.to(torch.float32) if not x.is_floating_point() else x


def activation_stats(
    graph: Graph, x: torch.Tensor, *, batch: int = 256
) -> dict[str, np.ndarray]:
    """Every node's outputs on the calibration samples, ``(N, *shape)`` float64.

    The ANN is run with one time step per sample, in batches.
    """
    chunks: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for start in range(0, x.shape[0], batch):
            _, rec = interpret(graph, x[start : start + batch, None], record=True)
            for name, values in rec.items():
                chunks.setdefault(name, []).append(
                    values["output"][:, 0].double().numpy()
                )
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def _check_ann(graph: Graph) -> None:
    if len(graph.inputs()) != 1:
        raise ValueError(
            f"ann-to-snn converts graphs with one input; @{graph.name} has "
            f"{len(graph.inputs())} ({', '.join(graph.inputs())})"
        )
    for name in graph.topo_order():
        op = graph.op(name)
        if any(e.recurrent for e in graph.in_edges(name)):
            raise ValueError(f"node '{name}': ann-to-snn takes feed-forward ANNs only")
        if isinstance(op, nn.BatchNorm):
            raise ValueError(
                f"node '{name}': nn.batchnorm is left in the graph; run fold-bn first "
                "(it folds BatchNorm into the preceding linear or conv layer)"
            )
        if isinstance(op, nn.MaxPool2d):
            raise ValueError(
                f"node '{name}': max pooling has no rate-coded equivalent in "
                "ann-to-snn; train with average pooling (nn.AvgPool2d) instead"
            )
        if op.name.split(".")[0] not in ("io", "nn"):
            raise ValueError(
                f"node '{name}': {op.name} is not an ANN op; ann-to-snn converts "
                "graphs of io and nn ops"
            )


def _channel_view(values: np.ndarray, shape: Shape) -> np.ndarray:
    """Shape a per-channel vector (channel = first feature dim) to broadcast to ``shape``."""
    return values.reshape((-1,) + (1,) * (len(shape) - 1)) if shape else values


@dataclass
class _Converter:
    options: AnnToSnnPass
    ann: Graph
    stats: dict[str, np.ndarray] | None

    def __post_init__(self) -> None:
        self.snn = Graph(self.ann.name, dt=self.ann.dt or self.options.dt)
        self.units: dict[str, np.ndarray] = {}  # value in the SNN = activation / unit
        self.names: dict[str, str] = {}  # ANN node -> SNN node that carries its value

    @property
    def dt(self) -> float:
        dt = self.snn.dt
        assert dt is not None  # set in __post_init__
        return dt

    def convert(self) -> Graph:
        for name in self.ann.topo_order():
            op = self.ann.op(name)
            sources = self.ann.producers(name)
            handler = _HANDLERS.get(type(op))
            if handler is None:
                raise ValueError(f"node '{name}': ann-to-snn cannot convert {op.name}")
            handler(self, name, op, sources)
        return self.snn

    # -- helpers -----------------------------------------------------------------------
    def emit(
        self, name: str, op: Op, inputs: list[str], unit: np.ndarray | float = 1.0
    ) -> str:
        node = self.snn.add(self.snn.fresh_name(name), op, inputs)
        self.units[node] = np.asarray(unit, dtype=np.float64)
        return node

    def in_original_units(self, src: str, consumer: str) -> str:
        """The SNN node carrying ``src``'s value in the ANN's own units."""
        node = self.names[src]
        unit = self.units[node]
        if np.all(unit == 1.0):
            return node
        scale = nn.Scale(scale=unit.astype(np.float32))
        return self.emit(f"{consumer}.unit", scale, [node])

    def threshold(self, name: str) -> np.ndarray:
        """``lambda`` for the activation node ``name``, shaped to broadcast to it."""
        shape = self.ann.shape(name)
        if self.options.normalization == "none" or self.stats is None:
            return np.ones((), np.float64)
        acts = self.stats[name]
        if self.options.thresholds == "layer":
            return np.asarray(self._level(acts.reshape(-1)), np.float64)
        per_channel = np.moveaxis(acts, 1, 0).reshape(shape[0], -1) if shape else acts
        levels = np.array([self._level(row) for row in per_channel], np.float64)
        return _channel_view(levels, shape)

    def _level(self, values: np.ndarray) -> float:
        positive = values[values > 0]
        if positive.size == 0:
            return 1.0  # a dead unit never fires; any threshold does
        if self.options.normalization == "max":
            return float(positive.max())
        return float(np.percentile(positive, self.options.percentile))

    def if_neuron(
        self, theta: np.ndarray, v_init: np.ndarray, max_spikes: int = 1
    ) -> snn.IF:
        return snn.IF(
            r=np.float32(1.0 / self.dt),
            v_threshold=theta.astype(np.float32),
            reset="subtract",
            max_spikes=max_spikes,
            v_init=v_init.astype(np.float32),
        )


def _input(c: _Converter, name: str, op: Op, sources: list[str]) -> None:
    node = c.emit(name, op, [])
    c.names[name] = node
    if c.options.encoding == "current":
        return
    assert c.stats is not None  # checked in run()
    peak = float(np.max(c.stats[name])) if c.stats[name].size else 1.0
    gain = 1.0 / peak if peak > 0 else 1.0
    encoder = snn.RateEncode(gain=gain, seed=c.options.seed)
    c.names[name] = c.emit(f"{name}.spikes", encoder, [node], unit=1.0 / gain)


def _dense(c: _Converter, name: str, op: Op, sources: list[str]) -> None:
    (src,) = sources
    node = c.names[src]
    unit = np.broadcast_to(c.units[node], c.ann.shape(src))
    # Fold the input's unit into the weights along the input features / channels.
    if isinstance(op, (nn.Linear, nn.Affine)):
        per_input = unit.reshape(-1, unit.shape[-1])[0] if unit.ndim else unit
        weight = op.weight.astype(np.float64) * per_input
    else:
        assert isinstance(op, (nn.Conv1d, nn.Conv2d))
        per_channel = unit.reshape(unit.shape[0], -1)[:, 0]
        groups = op.groups
        cin = op.weight.shape[1]
        scale = per_channel.reshape(groups, cin)  # weight[:, k] reads channel g*cin + k
        out_per_group = op.weight.shape[0] // groups
        factor = np.repeat(scale, out_per_group, axis=0)
        weight = op.weight.astype(np.float64) * factor.reshape(
            factor.shape + (1,) * (op.weight.ndim - 2)
        )
    new = op.replace(weight=weight.astype(op.weight.dtype))
    c.names[name] = c.emit(name, new, [node])


def _activation(c: _Converter, name: str, op: Op, sources: list[str]) -> None:
    (src,) = sources
    node = c.in_original_units(src, name)
    if isinstance(op, nn.Clip):
        # QCFS: theta is the trained clip level, and V(0) = theta/2 (Bu et al. 2022).
        theta = np.broadcast_to(op.threshold.astype(np.float64), c.ann.shape(name))
        theta = np.array(theta)
        v_init = theta / 2
    else:
        theta = c.threshold(name)
        v_init = theta / 2 if c.options.v_init == "half" else np.zeros_like(theta)
    neuron = c.if_neuron(theta, v_init, c.options.max_spikes)
    c.names[name] = c.emit(name, neuron, [node], unit=theta)


def _avgpool(c: _Converter, name: str, op: Op, sources: list[str]) -> None:
    (src,) = sources
    assert isinstance(op, nn.AvgPool2d)
    node = c.names[src]
    area = op.kernel_size[0] * op.kernel_size[1]
    pool = nn.SumPool2d(
        kernel_size=op.kernel_size, stride=op.stride, padding=op.padding
    )
    # sumpool(a / u) = avgpool(a) / (u / area): the area folds into the next weights.
    c.names[name] = c.emit(name, pool, [node], unit=c.units[node] / area)


def _passthrough(c: _Converter, name: str, op: Op, sources: list[str]) -> None:
    (src,) = sources
    node = c.names[src]
    unit = c.units[node]
    if isinstance(op, nn.Flatten) and unit.ndim:
        unit = _flatten_unit(unit, c.ann.shape(src), op)
    c.names[name] = c.emit(name, op, [node], unit=unit)


def _flatten_unit(unit: np.ndarray, shape: Shape, op: nn.Flatten) -> np.ndarray:
    """The unit of a flattened tensor: the input unit broadcast, then flattened alike."""
    full = np.broadcast_to(unit, shape)
    start, end = op.dims(len(shape))
    return np.array(full.reshape(*shape[:start], -1, *shape[end + 1 :]))


def _add(c: _Converter, name: str, op: Op, sources: list[str]) -> None:
    nodes = [c.names[s] for s in sources]
    units = [np.broadcast_to(c.units[n], c.ann.shape(name)) for n in nodes]
    if all(np.array_equal(units[0], u) for u in units[1:]):
        c.names[name] = c.emit(name, op, nodes, unit=c.units[nodes[0]])
        return
    # Branches in different units: bring each to the ANN's units before summing.
    inputs = [c.in_original_units(s, f"{name}.{i}") for i, s in enumerate(sources)]
    c.names[name] = c.emit(name, op, inputs)


def _output(c: _Converter, name: str, op: Op, sources: list[str]) -> None:
    (src,) = sources
    steps = c.options.timesteps
    value = c.in_original_units(src, name)
    if c.options.readout != "integrate" and not isinstance(c.snn.op(value), snn.IF):
        theta = c.threshold(src)
        value = c.emit(
            f"{name}.spiking", c.if_neuron(theta, np.zeros_like(theta)), [value]
        )
    if c.options.readout == "spike-train":
        c.names[name] = c.emit(name, op, [value])
        return
    # The integrator averages its input over `timesteps` steps: after T steps it holds
    # the mean, which estimates the ANN's output (or the spike rate, for spikes).
    mean = snn.Integrator(r=np.float32(1.0 / (steps * c.dt)))
    readout = c.emit(f"{name}.readout", mean, [value])
    c.names[name] = c.emit(name, op, [readout])


_HANDLERS = {
    io.Input: _input,
    io.Output: _output,
    nn.Linear: _dense,
    nn.Affine: _dense,
    nn.Conv1d: _dense,
    nn.Conv2d: _dense,
    nn.ReLU: _activation,
    nn.Clip: _activation,
    nn.AvgPool2d: _avgpool,
    nn.SumPool2d: _passthrough,
    nn.Flatten: _passthrough,
    nn.Scale: _passthrough,
    nn.Add: _add,
}
