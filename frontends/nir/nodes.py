"""NIR nodes to IR ops: one builder per NIR node type (:data:`BUILDERS`), each
mapping the node's parameters through the import's :class:`Convention`, the import
state they share (:class:`Context`: a spiking neuron's reset fields) and the value
checks they share (real numbers, whole-number shapes, padding)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

import ir
from frontends.errors import FrontendError
from frontends.nir.common import (
    META_PREFIX,
    NEURONS,
    PORTS,
    Array,
    as_str,
    f64,
    node_meta,
    show,
)
from frontends.nir.conventions.base import Convention
from ir.ops import io, nn, snn

__all__ = [
    "BUILDERS",
    "STATELESS",
    "Builder",
    "Context",
    "arr",
    "broadcast_params",
    "declared_input",
    "f32",
    "init_state",
    "meta_array",
    "whole",
]


class Context:
    """What a builder needs from the import it is part of: the input shapes it
    corrected and each spiking neuron's reset fields (:meth:`spiking`), from the
    user's arguments, the file's spikeforge metadata and the convention.

    Args:
        reset, reset_delay, v_min: ``from_nir``'s arguments (``None``: not given).
    """

    def __init__(
        self,
        *,
        reset: str | None = None,
        reset_delay: bool | None = None,
        v_min: float | str | None = None,
    ) -> None:
        self.reset_arg = reset
        self.reset_delay_arg = reset_delay
        self.v_min_arg = v_min
        self.input_shapes: dict[str, tuple[int, ...]] = {}
        """Graph ``Input`` shapes the reader corrected (an exporter's quirk), by name."""
        self.reset_from: set[str] = set()
        """Where the neurons' reset modes came from (given, metadata, convention)."""
        self.cyclic: set[str] = set()
        """Nodes on a cycle (recurrent), set by the reader before building."""
        self.assumed: dict[str, str] = {}
        """Warning text by topic, for variants the file does not record."""

    def spiking(
        self,
        name: str,
        node: Any,
        conv: Convention,
        decay: Array,
        v_leak: Array | None = None,
    ) -> dict[str, Any]:
        """Reset mode, spike cap, subtracted amount and initial potential of a neuron.

        ``decay`` is the IR membrane's per-step factor ``a`` (1 for ``snn.if``) and
        ``v_leak`` its resting potential (``None`` for ``snn.if``).
        """
        meta = node_meta(node)
        stored = as_str(meta.get(META_PREFIX + "reset"))
        reset = self.reset_arg or stored or conv.reset
        self.reset_from.add(
            "given" if self.reset_arg else "metadata" if stored else "convention"
        )
        if reset not in snn.RESET_MODES:
            raise FrontendError(f"node '{name}': unknown reset mode {reset!r}")
        max_spikes = int(meta.get(META_PREFIX + "max_spikes", conv.max_spikes))
        extra: dict[str, Any] = {}
        delay = self._reset_delay(name, node, conv, reset)
        if reset == "zero":
            max_spikes = 1
        elif META_PREFIX + "v_subtract" in meta:
            extra["v_subtract"] = meta_array(meta[META_PREFIX + "v_subtract"])
        elif conv.subtract is not None and delay is not False:
            extra["v_subtract"] = f32(conv.subtract(arr(node.v_threshold), decay))
        if META_PREFIX + "refire_offset" in meta:
            extra["refire_offset"] = meta_array(meta[META_PREFIX + "refire_offset"])
        elif reset == "subtract" and delay is False:
            # snnTorch's "avoid double reset": the spike test still removes the
            # delayed reset that the same-step subtraction then adds back.
            extra["refire_offset"] = arr(node.v_threshold).copy()
        v_min = self._floor(name, node, conv, meta)
        if v_min is not None:
            extra["v_min"] = v_min
        return {
            "reset": reset,
            "max_spikes": max_spikes,
            **extra,
            **init_state(meta, conv, v_leak),
        }

    def _reset_delay(
        self, name: str, node: Any, conv: Convention, reset: str
    ) -> bool | None:
        """snnTorch's ``reset_delay`` for this neuron (``None``: not snnTorch)."""
        if conv.reset_delay is None:
            return None
        delay = self.reset_delay_arg
        given = self.reset_arg is not None and (reset == "zero" or delay is not None)
        if not given:
            self.assumed["snntorch"] = (
                "snnTorch's exporter writes neither reset_mechanism nor reset_delay; "
                f"assumed reset={reset!r}"
                + (
                    f", reset_delay={conv.reset_delay if delay is None else delay}"
                    if reset == "subtract"
                    else ""
                )
                + " (snnTorch's defaults: 'subtract', reset_delay=True). If the "
                "network used others, pass reset='zero' or reset_delay=False "
                "(spikeforge import --reset zero / --no-reset-delay); pass both to "
                "silence this warning"
            )
        if delay is None:
            delay = conv.reset_delay
        rsynaptic = type(node).__name__ == "CubaLIF" and name in self.cyclic
        if rsynaptic and not delay:
            # snnTorch 1.0.0 RSynaptic.forward applies the same-step reset to a local
            # copy of mem (and fails with init_hidden=True): it runs the delayed one.
            self.assumed[f"rsynaptic {name}"] = (
                f"node '{name}': a recurrent CubaLIF is snnTorch's RSynaptic, which "
                "ignores reset_delay=False in snnTorch 1.0.0 (its forward resets a "
                "local copy of the membrane); imported with the delayed reset it runs"
            )
            delay = True
        recurrent_or_cuba = type(node).__name__ == "CubaLIF" or name in self.cyclic
        if reset == "zero" and delay and recurrent_or_cuba:
            self.assumed[f"zero {name}"] = (
                f"node '{name}': snnTorch's delayed zero reset of Synaptic, RLeaky "
                "and RSynaptic zeroes the whole next step's membrane, input included, "
                "which the IR cannot express; imported with the same-step zero reset "
                "(not exact where a spike is followed by input)"
            )
        return delay

    def _floor(
        self, name: str, node: Any, conv: Convention, meta: Mapping[str, Any]
    ) -> Array | None:
        """The neuron's ``v_min``: the argument, else spikeforge metadata, else none
        (with the convention's warning where its exporter drops the floor)."""
        arg = self.v_min_arg
        if arg is None:
            stored = meta.get(META_PREFIX + "v_min")
            if stored is not None:
                return meta_array(stored)
            if conv.floor_note is not None:
                self.assumed["floor"] = conv.floor_note
            return None
        if arg == "none":
            return None
        if arg == "-threshold":
            return -f32(node.v_threshold)
        return np.asarray(arg, np.float32)


def arr(x: Any) -> Array:
    """A float parameter array: float32 unless it already is float32 or float64."""
    arr = _real(x)
    return arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float32)


def f32(x: Any) -> Array:
    return _real(x).astype(np.float32)


def _real(x: Any) -> Array:
    """``x`` as an array of real numbers; complex or non-numeric values are an error
    (NumPy would drop an imaginary part with only a warning)."""
    arr = np.asarray(x)
    if arr.dtype.kind == "c":
        raise ValueError(f"complex values ({arr.dtype}); parameters must be real")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{arr.dtype} values; parameters must be numbers")
    return arr


def whole(x: Any, what: str) -> tuple[int, ...]:
    """``x`` flattened to integers; fractions, NaN or complex values are an error."""
    arr = np.ravel(_real(x))
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
        raise ValueError(f"{what} {arr.tolist()} must hold whole numbers")
    return tuple(int(v) for v in arr)


def _ints(x: Any, n: int) -> tuple[int, ...]:
    flat = list(whole(x, "value"))
    if len(flat) == 1:
        flat = flat * n
    if len(flat) != n:
        raise ValueError(f"expected {n} integers, got {flat}")
    return tuple(flat)


def _padding(node: Any, n: int) -> tuple[int, ...]:
    padding = as_str(node.padding)
    if padding is None:
        return _ints(node.padding, n)
    if padding == "valid":
        return (0,) * n
    if padding != "same":
        raise ValueError(f"padding {padding!r} must be 'same', 'valid' or integers")
    if any(s != 1 for s in _ints(node.stride, n)):
        raise ValueError("padding 'same' needs stride 1")
    spans = [
        d * (k - 1)
        for d, k in zip(_ints(node.dilation, n), node.weight.shape[2:], strict=True)
    ]
    if any(s % 2 for s in spans):
        raise ValueError(
            "padding 'same' with an even kernel span pads unevenly, which the IR "
            "cannot express"
        )
    return tuple(s // 2 for s in spans)


def _bias(node: Any, meta: Mapping[str, Any]) -> Array | None:
    has_bias = meta.get(META_PREFIX + "bias", 1)  # to_nir's mark of "no bias"
    if node.bias is None or not int(has_bias):
        return None
    return np.broadcast_to(arr(node.bias), (node.weight.shape[0],)).copy()


Builder = Callable[
    [Context, str, Any, Convention, float], tuple[ir.Op, tuple[str, ...]]
]


def _input(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    if name in imp.input_shapes:
        return io.Input(shape=imp.input_shapes[name]), ()
    shape = node.input_type.get("input")
    if shape is None or np.size(shape) == 0:
        raise ValueError("Input has no shape")
    return io.Input(shape=whole(shape, "input shape")), ()


def _output(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    return io.Output(), ()


def _affine(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    _dense(node.weight)
    return nn.Affine(weight=arr(node.weight), bias=arr(node.bias)), ()


def _linear(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    _dense(node.weight)
    return nn.Linear(weight=arr(node.weight)), ()


def _dense(weight: Any) -> None:
    if np.ndim(weight) != 2:
        raise ValueError(
            f"weight of shape {np.shape(weight)}: only 2-D (out, in) weights are supported"
        )


def _scale(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    if as_str(node_meta(node).get(META_PREFIX + "op")) == nn.Add.name:
        return nn.Add(), ()
    return nn.Scale(scale=arr(node.scale)), ()


def _conv(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    rank = np.ndim(node.weight) - 2
    if rank not in (1, 2):
        raise ValueError(f"weight of shape {np.shape(node.weight)}")
    common: dict[str, Any] = {
        "weight": arr(node.weight),
        "bias": _bias(node, node_meta(node)),
        "groups": int(node.groups),
    }
    if rank == 1:
        return nn.Conv1d(
            **common,
            stride=_ints(node.stride, 1)[0],
            padding=_padding(node, 1)[0],
            dilation=_ints(node.dilation, 1)[0],
        ), ()
    return nn.Conv2d(
        **common,
        stride=_ints(node.stride, 2),
        padding=_padding(node, 2),
        dilation=_ints(node.dilation, 2),
    ), ()


def _pool(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    cls = nn.SumPool2d if type(node).__name__ == "SumPool2d" else nn.AvgPool2d
    return cls(
        kernel_size=_ints(node.kernel_size, 2),
        stride=_ints(node.stride, 2),
        padding=_ints(node.padding, 2),
    ), ()


def _flatten_op(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    return nn.Flatten(start_dim=int(node.start_dim), end_dim=int(node.end_dim)), ()


def _delay(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    return snn.Delay(delay=arr(node.delay)), ("delay",)


def _threshold(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    return snn.Threshold(threshold=arr(node.threshold)), ("threshold",)


def _integrator(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    r = _param(node.r, conv.integrate(node.r, dt))
    return snn.Integrator(r=r, **init_state(node_meta(node), conv)), ("r",)


def _if(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    op = snn.IF(
        r=_param(node.r, conv.integrate(node.r, dt)),
        v_threshold=arr(node.v_threshold),
        v_reset=arr(_v_reset(node)),
        **imp.spiking(name, node, conv, np.ones(())),
    )
    return op, ("r", "v_threshold", "v_reset", *_subtract_field(op))


def _leaky(node: Any, conv: Convention, dt: float) -> dict[str, Any]:
    tau = getattr(node, "tau", None)
    tau = node.tau_mem if tau is None else tau
    _check_tau(tau)
    new = conv.leak(tau, node.r, node.v_leak, dt)
    return {
        k: _param(old, v)
        for k, old, v in zip(
            ("tau", "r", "v_leak"), (tau, node.r, node.v_leak), new, strict=True
        )
    }


def _check_tau(tau: Any) -> None:
    t = f64(tau)
    if np.any(~(t > 0)) or np.any(~np.isfinite(t)):
        raise ValueError(f"time constants must be finite and > 0, got {show(t)}")


def _param(original: Any, converted: Any) -> Array:
    """Keep the original array (bit for bit) when the convention left it unchanged."""
    return arr(original) if converted is original else f32(converted)


def _v_reset(node: Any) -> Any:
    v_reset = getattr(node, "v_reset", None)
    return np.zeros_like(arr(node.v_threshold)) if v_reset is None else v_reset


def _decay(tau: Array, dt: float) -> Array:
    """The IR's per-step membrane factor ``a = exp(-dt / tau)`` for ``tau`` as stored."""
    return np.exp(-dt / f64(tau))


def _subtract_field(op: Any) -> tuple[str, ...]:
    """The optional spiking fields ``op`` sets (broadcast to the layer's shape)."""
    optional = ("v_subtract", "v_min", "refire_offset")
    return tuple(f for f in optional if getattr(op, f, None) is not None)


def _li(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    leak = _leaky(node, conv, dt)
    return snn.LI(**leak, **init_state(node_meta(node), conv, leak["v_leak"])), (
        "tau",
        "r",
        "v_leak",
    )


def _lif(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    leak = _leaky(node, conv, dt)
    op = snn.LIF(
        **leak,
        v_threshold=arr(node.v_threshold),
        v_reset=arr(_v_reset(node)),
        **imp.spiking(name, node, conv, _decay(leak["tau"], dt), leak["v_leak"]),
    )
    return op, ("tau", "r", "v_leak", "v_threshold", "v_reset", *_subtract_field(op))


def _cuba(node: Any, conv: Convention, dt: float) -> dict[str, Any]:
    leak = _leaky(node, conv, dt)
    _check_tau(node.tau_syn)
    w_in = getattr(node, "w_in", None)
    w_in = np.ones((), np.float32) if w_in is None else w_in
    tau_syn, w = conv.synapse(node.tau_syn, w_in, dt)
    return {
        "tau_syn": _param(node.tau_syn, tau_syn),
        "tau_mem": leak["tau"],
        "r": leak["r"],
        "v_leak": leak["v_leak"],
        "w_in": _param(w_in, w),
    }


_CUBA = ("tau_syn", "tau_mem", "r", "v_leak", "w_in")


def _cubali(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    cuba = _cuba(node, conv, dt)
    return snn.CubaLI(
        **cuba, **init_state(node_meta(node), conv, cuba["v_leak"])
    ), _CUBA


def _cubalif(imp: Context, name: str, node: Any, conv: Convention, dt: float) -> Any:
    cuba = _cuba(node, conv, dt)
    decay = _decay(cuba["tau_mem"], dt)
    op = snn.CubaLIF(
        **cuba,
        v_threshold=arr(node.v_threshold),
        v_reset=arr(_v_reset(node)),
        **imp.spiking(name, node, conv, decay, cuba["v_leak"]),
    )
    return op, (*_CUBA, "v_threshold", "v_reset", *_subtract_field(op))


BUILDERS: dict[str, Builder] = {
    "Input": _input,
    "Output": _output,
    "Affine": _affine,
    "Linear": _linear,
    "Scale": _scale,
    "Conv1d": _conv,
    "Conv2d": _conv,
    "SumPool2d": _pool,
    "AvgPool2d": _pool,
    "Flatten": _flatten_op,
    "Delay": _delay,
    "Threshold": _threshold,
    "I": _integrator,
    "IF": _if,
    "LI": _li,
    "LIF": _lif,
    "CubaLI": _cubali,
    "CubaLIF": _cubalif,
}
"""NIR node type -> IR op (and the parameter fields that define the layer's shape)."""

STATELESS = tuple(k for k in BUILDERS if k not in (*NEURONS, *PORTS))


def broadcast_params(graph: ir.Graph, name: str, fields: Iterable[str]) -> ir.Op:
    """``name``'s op with ``fields`` broadcast to the layer's shape (NIR issue #176)."""
    op = graph.op(name)
    shape = graph.shape(name)
    changes = {}
    for f in fields:
        value = getattr(op, f)
        if value.shape != shape:
            changes[f] = np.broadcast_to(value, shape).copy()
    return op.replace(**changes) if changes else op


def init_state(
    meta: Mapping[str, Any], conv: Convention, v_leak: Array | None = None
) -> dict[str, Any]:
    """``v_init`` from spikeforge's metadata, else ``v_leak`` where the framework
    starts there (Norse), else nothing (the op's default, 0)."""
    v_init = meta.get(META_PREFIX + "v_init")
    if v_init is not None:
        return {"v_init": meta_array(v_init)}
    if conv.init_at_leak and v_leak is not None:
        return {"v_init": v_leak.copy()}
    return {}


def meta_array(value: Any) -> Array:
    # A scalar is written as a plain number (HDF5 cannot compress a scalar dataset).
    return np.asarray(value, np.float32 if np.ndim(value) == 0 else None)


def declared_input(kind: str, node: Any) -> tuple[int, ...] | None:
    """The input shape a node declares, where NIR stores one (else ``None``)."""
    if kind in ("Conv1d", "Conv2d") and node.input_shape is not None:
        channels = int(node.weight.shape[1]) * int(node.groups)
        return (channels, *whole(node.input_shape, "input_shape"))
    if kind == "Flatten":
        shape = (node.input_type or {}).get("input")
    elif kind == "Output":
        shape = (node.output_type or {}).get("output")
    else:
        return None
    if shape is None or np.size(shape) == 0:
        return None
    return whole(shape, "declared shape")
