"""The ``snn`` dialect: spiking and leaky neurons in discrete time, NIR vocabulary.

Parameters keep NIR's names and units (seconds for time constants, the graph's ``dt``
for the step). NIR neurons are continuous-time; this dialect fixes the discretization:

* **Exact exponential decay, input held over the step** (zero-order hold). For
  ``tau v' = (v_leak - v) + r I`` the step is
  ``v[t] = a v[t-1] + (1 - a) (v_leak + r I[t])`` with ``a = exp(-dt / tau)``.
  An integrator ``v' = r I`` steps as ``v[t] = v[t-1] + dt r I[t]``.
* A step's input acts in the same step: input, then decay/integration, then spike and
  reset; the spike is the op's output for that step (no hidden delay).
* **Spike**: ``v >= v_threshold`` (NIR's Heaviside, with the equality case spiking, as
  on Xylo). What NIR lacks is explicit here: ``reset`` is ``"zero"`` (``v <- v_reset``,
  NIR's rule) or ``"subtract"`` (``v <- v - n s``, keeping the surplus; ``s`` is
  ``v_subtract``, by default ``v_threshold``; ``v_reset`` is not used), and
  ``max_spikes`` caps the spikes ``n`` per step (with subtraction
  ``n = min(max_spikes, floor((v - v_threshold) / s) + 1)`` for ``v >= v_threshold``,
  which is ``floor(v / v_threshold)`` when ``s = v_threshold``). A ``v_subtract`` other
  than the threshold expresses a reset applied after the next decay, as snnTorch's
  default does (``s = v_threshold / beta``).
* ``v_min`` (optional) floors the membrane after the spike and reset of every step,
  ``v <- max(v, v_min)`` (Sinabs' ``min_v_mem``); ``None`` means no floor.
* ``refire_offset`` (optional, subtract reset with ``max_spikes = 1``) raises the
  threshold by that amount for a step that starts with the membrane still at or above
  ``v_threshold`` (the previous reset left it there): spike when
  ``v >= v_threshold + refire_offset * [v_prev >= v_threshold]``; the amount removed
  stays ``v_subtract``. snnTorch's same-step reset (``reset_delay=False``) is
  ``refire_offset = v_threshold`` (its spike test still subtracts the delayed reset
  that its "avoid double reset" then adds back); ``None`` means no raise.
* The spike has a surrogate gradient (fast sigmoid of ``(v - theta) / |theta|``,
  slope 10), so graphs can be trained through the interpreter.

Parameter arrays broadcast to the layer's shape (NumPy rules), which the incoming
edges decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from ir.errors import VerifyError
from ir.op import FloatTensor, Op, Params, Shape, register_op
from ir.ops.checks import (
    check_broadcast,
    check_no_nan,
    check_nonnegative,
    check_positive,
)

__all__ = [
    "IF",
    "LI",
    "LIF",
    "CubaLI",
    "CubaLIF",
    "Delay",
    "Integrator",
    "RateEncode",
    "Threshold",
    "spike",
]

RESET_MODES = ("subtract", "zero")
MAX_DELAY_STEPS = 1_000_000
"""Longest ``snn.delay``, in steps of ``dt``."""
SURROGATE_SLOPE = 10.0


class _SpikeSurrogate(torch.autograd.Function):
    """Heaviside forward, fast-sigmoid derivative backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad / (1.0 + SURROGATE_SLOPE * x.abs()) ** 2


def spike(
    v: torch.Tensor,
    v_threshold: torch.Tensor,
    *,
    subtract: bool,
    max_spikes: int,
    v_subtract: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return the spike count per neuron for membrane ``v`` (surrogate gradient).

    With subtraction the count is how often ``v_subtract`` can be removed while ``v``
    stays at or above threshold: ``n = min(max_spikes, floor((v - theta) / s) + 1)``
    for ``v >= theta`` (``floor(v / theta)`` when ``s = theta``), else 0.

    Args:
        v: membrane potential.
        v_threshold: threshold ``theta``, broadcast to ``v``.
        subtract: whether reset is by subtraction (allows several spikes per step).
        max_spikes: cap on the spikes per step.
        v_subtract: potential ``s`` removed per spike; ``None`` means ``theta``.
    """
    width = v_threshold.abs().clamp_min(1e-12)
    first = _SpikeSurrogate.apply((v - v_threshold) / width)
    if not subtract or max_spikes == 1:
        return first
    if v_subtract is None:
        count = torch.floor(v / v_threshold)
    else:
        count = torch.floor((v - v_threshold) / v_subtract) + 1
    count = torch.clamp(count, 0, max_spikes)
    return first + (count - first).detach()


def _check_params(op: Op, fields: tuple[str, ...]) -> None:
    for param in fields:
        check_no_nan(param, getattr(op, param), element="neuron")


def _broadcast_shape(
    op: Op, fields: tuple[str, ...], inputs: Mapping[str, Shape]
) -> Shape:
    shape = inputs["input"]
    for param in fields:
        arr = getattr(op, param)
        if arr is not None:
            check_broadcast(param, arr, shape, what="layer shape")
    return shape


def _zero() -> np.ndarray:
    """Default factory: a 0-d float32 zero."""
    return np.zeros((), np.float32)


def _one() -> np.ndarray:
    """Default factory: a 0-d float32 one."""
    return np.ones((), np.float32)


def _relax(
    p: Params, tau: str, state: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """One exact step of ``tau x' = target - x`` with ``target`` held over the step."""
    a = torch.exp(-p.require_dt() / p[tau])
    return a * state + (1 - a) * target


@dataclass(frozen=True, kw_only=True, eq=False)
class _Neuron(Op):
    """Shared checks for neurons: parameter shapes, NaN, reset mode."""

    stateful = True
    needs_dt = True
    _positive: ClassVar[tuple[str, ...]] = ()
    _spiking: ClassVar[bool] = False
    """Whether the membrane spikes and resets (output: spikes) or not (output: ``v``)."""

    @property
    def _arrays(self) -> tuple[str, ...]:
        """The parameter arrays (the tensor fields), in field order."""
        return tuple(f for f, kind in self.fields_.items() if kind.kind == "tensor")

    def verify_(self) -> None:
        _check_params(self, self._arrays)
        for param in self._positive:
            check_positive(param, getattr(self, param))
        reset = getattr(self, "reset", None)
        if reset is None:
            return
        if reset not in RESET_MODES:
            raise VerifyError(
                f"reset must be one of {', '.join(RESET_MODES)}, got {reset!r}"
            )
        max_spikes = getattr(self, "max_spikes", 1)
        if max_spikes < 1:
            raise VerifyError(f"max_spikes must be >= 1, got {max_spikes}")
        if reset == "zero" and max_spikes != 1:
            raise VerifyError('max_spikes > 1 needs reset = "subtract"')
        v_subtract = getattr(self, "v_subtract", None)
        if reset == "zero" and v_subtract is not None:
            raise VerifyError('v_subtract applies only with reset = "subtract"')
        if reset == "subtract":
            check_positive("v_threshold", self.v_threshold)  # type: ignore[attr-defined]
            if v_subtract is not None:
                check_positive("v_subtract", v_subtract)
        offset = getattr(self, "refire_offset", None)
        if offset is not None:
            if reset != "subtract" or max_spikes != 1:
                raise VerifyError(
                    'refire_offset needs reset = "subtract" and max_spikes = 1, got '
                    f"reset = {reset!r}, max_spikes = {max_spikes}"
                )
            check_nonnegative("refire_offset", offset)
        v_min = getattr(self, "v_min", None)
        if v_min is not None:
            _check_floor(self, v_min)

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return _broadcast_shape(self, self._arrays, inputs)

    def init_state(self, p: Params, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"v": _zeros(x, p["v_init"])}

    def _integrate(
        self, p: Params, x: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Return the state after one step's sub-threshold dynamics (before a spike)."""
        raise NotImplementedError(self.name)

    def step(
        self, p: Params, x: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        new = self._integrate(p, x, state)
        if not self._spiking:
            return new["v"], new
        n, new["v"] = _fire(self, p, new["v"], state["v"])
        return n, new


@dataclass(frozen=True, kw_only=True, eq=False)
class _Leaky(_Neuron):
    """``tau v' = (v_leak - v) + r I`` (``snn.lif``, ``snn.li``)."""

    def _integrate(
        self, p: Params, x: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        return {"v": _relax(p, "tau", state["v"], p["v_leak"] + p["r"] * x)}


@dataclass(frozen=True, kw_only=True, eq=False)
class _CurrentBased(_Neuron):
    """A synaptic current ``i`` into a leaky membrane (``snn.cubalif``, ``snn.cubali``)."""

    def init_state(self, p: Params, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"i": torch.zeros_like(x), "v": _zeros(x, p["v_init"])}

    def _integrate(
        self, p: Params, x: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        i = _relax(p, "tau_syn", state["i"], p["w_in"] * x)
        v = _relax(p, "tau_mem", state["v"], p["v_leak"] + p["r"] * i)
        return {"i": i, "v": v}


@dataclass(frozen=True, kw_only=True, eq=False)
class _Integrating(_Neuron):
    """``v' = r I`` without leak (``snn.if``, ``snn.integrator``)."""

    def _integrate(
        self, p: Params, x: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        return {"v": state["v"] + p.require_dt() * p["r"] * x}


def _check_floor(op: Any, v_min: np.ndarray) -> None:
    """``v_min`` must lie below the threshold (and the zero reset's target)."""
    bounds = [("v_threshold", op.v_threshold)]
    if op.reset == "zero":
        bounds.append(("v_reset", op.v_reset))
    for name, bound in bounds:
        try:
            low, high = np.broadcast_arrays(np.asarray(v_min), np.asarray(bound))
        except ValueError:
            return  # shape errors are reported by infer_shape
        mask = ~(low < high) if name == "v_threshold" else ~(low <= high)
        bad = np.flatnonzero(mask)
        if bad.size:
            where = tuple(int(i) for i in np.unravel_index(int(bad[0]), mask.shape))
            raise VerifyError(
                f"v_min must be {'<' if name == 'v_threshold' else '<='} {name}; "
                f"neuron {where}: v_min = {float(low[where]):.6g}, "
                f"{name} = {float(high[where]):.6g}"
            )


def _fire(
    op: Any, p: Params, v: torch.Tensor, v_prev: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spike count and membrane after reset and floor; ``v_prev`` began the step."""
    subtract = op.reset == "subtract"
    step = p["v_subtract"]
    threshold = p["v_threshold"]
    offset = p["refire_offset"]
    if offset is not None:
        # snnTorch reset_delay=False: a membrane left at or above threshold by the
        # last reset makes this step's spike test subtract `offset` first.
        held = (v_prev >= threshold).to(v.dtype)
        n = spike(v - offset * held, threshold, subtract=False, max_spikes=1)
    else:
        n = spike(
            v, threshold, subtract=subtract, max_spikes=op.max_spikes, v_subtract=step
        )
    if subtract:
        v = v - n * (threshold if step is None else step)
    else:
        v = v * (1 - n) + p["v_reset"] * n
    v_min = p["v_min"]
    return n, v if v_min is None else torch.maximum(v, v_min.to(v.dtype))


def _zeros(x: torch.Tensor, init: torch.Tensor | float = 0.0) -> torch.Tensor:
    return torch.zeros_like(x) + init


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class LIF(_Leaky):
    """Leaky integrate-and-fire neuron (NIR ``LIF``).

    .. math::
        \\tau \\dot v = (v_{leak} - v) + r I, \\quad
        v[t] = a\\,v[t-1] + (1 - a)(v_{leak} + r I[t]),\\ a = e^{-dt/\\tau}

    then spike ``n = [v >= v_threshold]`` (up to ``max_spikes`` with subtraction) and
    reset. State ``v`` starts at ``v_init``. Output: spike counts.

    IR: ``%l = snn.lif(%fc) {tau = tensor<f32[]>[0.02], r = tensor<f32[]>[1],
    v_leak = tensor<f32[]>[0], v_threshold = tensor<f32[]>[1],
    v_reset = tensor<f32[]>[0], reset = "zero", max_spikes = 1, v_init = tensor<f32[]>[0]}``
    """

    name = "snn.lif"
    _spiking = True
    _positive = ("tau",)

    tau: FloatTensor
    """Membrane time constant (seconds)."""
    r: FloatTensor
    """Input resistance."""
    v_leak: FloatTensor
    """Resting potential."""
    v_threshold: FloatTensor
    """Firing threshold."""
    v_reset: FloatTensor = field(default_factory=_zero)
    """Potential after a spike in ``zero`` reset mode."""
    reset: str = "zero"
    """``zero`` or ``subtract``."""
    max_spikes: int = 1
    """Most spikes per neuron per step."""
    v_init: FloatTensor = field(default_factory=_zero)
    """Membrane potential before the first step."""
    v_subtract: FloatTensor | None = None
    """With ``subtract`` reset: potential removed per spike (none: ``v_threshold``)."""
    v_min: FloatTensor | None = None
    """Floor of the membrane after each step's reset (none: no floor)."""
    refire_offset: FloatTensor | None = None
    """Threshold raise for a step that starts at or above threshold (none: 0)."""


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class CubaLIF(_CurrentBased):
    """Current-based LIF: an exponential synapse feeding a LIF (NIR ``CubaLIF``).

    .. math::
        \\tau_{syn} \\dot I = -I + w_{in} S, \\quad
        \\tau_{mem} \\dot v = (v_{leak} - v) + r I

    discretized stage by stage (synapse first, the membrane sees the new current):
    ``I[t] = b I[t-1] + (1 - b) w_in S[t]``, ``v[t] = a v[t-1] + (1 - a)(v_leak + r I[t])``
    with ``b = exp(-dt/tau_syn)``, ``a = exp(-dt/tau_mem)``; then spike and reset as
    ``snn.lif``. States ``i`` (from 0) and ``v`` (from ``v_init``). Output: spikes.

    IR: ``%l = snn.cubalif(%fc) {tau_syn = ..., tau_mem = ..., r = ..., v_leak = ...,
    v_threshold = ..., v_reset = ..., w_in = ..., reset = "zero", max_spikes = 1,
    v_init = ...}``
    """

    name = "snn.cubalif"
    _spiking = True
    _positive = ("tau_syn", "tau_mem")

    tau_syn: FloatTensor
    """Synaptic time constant (seconds)."""
    tau_mem: FloatTensor
    """Membrane time constant (seconds)."""
    r: FloatTensor
    v_leak: FloatTensor
    v_threshold: FloatTensor
    v_reset: FloatTensor = field(default_factory=_zero)
    w_in: FloatTensor = field(default_factory=_one)
    """Input weight onto the synaptic current."""
    reset: str = "zero"
    max_spikes: int = 1
    v_init: FloatTensor = field(default_factory=_zero)
    v_subtract: FloatTensor | None = None
    v_min: FloatTensor | None = None
    refire_offset: FloatTensor | None = None


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class IF(_Integrating):
    """Integrate-and-fire neuron (NIR ``IF``).

    .. math:: \\dot v = r I, \\quad v[t] = v[t-1] + dt\\, r\\, I[t]

    then spike and reset as ``snn.lif``. With ``r = 1/dt`` the step adds the input
    itself (the usual ANN-to-SNN neuron). Output: spike counts.

    IR: ``%n = snn.if(%fc) {r = tensor<f32[]>[1000], v_threshold = tensor<f32[]>[1],
    v_reset = tensor<f32[]>[0], reset = "subtract", max_spikes = 1,
    v_init = tensor<f32[]>[0]}``
    """

    name = "snn.if"
    _spiking = True

    r: FloatTensor
    v_threshold: FloatTensor
    v_reset: FloatTensor = field(default_factory=_zero)
    reset: str = "zero"
    max_spikes: int = 1
    v_init: FloatTensor = field(default_factory=_zero)
    v_subtract: FloatTensor | None = None
    v_min: FloatTensor | None = None
    refire_offset: FloatTensor | None = None


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class LI(_Leaky):
    """Leaky integrator, no spikes (NIR ``LI``). Output: the membrane ``v``.

    .. math:: \\tau \\dot v = (v_{leak} - v) + r I, \\quad
        v[t] = a\\,v[t-1] + (1 - a)(v_{leak} + r I[t])

    IR: ``%o = snn.li(%fc) {tau = ..., r = ..., v_leak = ..., v_init = ...}``
    """

    name = "snn.li"
    _positive = ("tau",)

    tau: FloatTensor
    r: FloatTensor
    v_leak: FloatTensor
    v_init: FloatTensor = field(default_factory=_zero)


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class CubaLI(_CurrentBased):
    """Current-based leaky integrator, no spikes (NIR ``CubaLI``). Output: ``v``.

    Discretized as ``snn.cubalif`` without the spike.

    IR: ``%o = snn.cubali(%fc) {tau_syn = ..., tau_mem = ..., r = ..., v_leak = ...,
    w_in = ..., v_init = ...}``
    """

    name = "snn.cubali"
    _positive = ("tau_syn", "tau_mem")

    tau_syn: FloatTensor
    tau_mem: FloatTensor
    r: FloatTensor
    v_leak: FloatTensor
    w_in: FloatTensor = field(default_factory=_one)
    v_init: FloatTensor = field(default_factory=_zero)


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class Integrator(_Integrating):
    """Pure integrator (NIR ``I``). Output: the accumulated ``v``.

    .. math:: \\dot v = r I, \\quad v[t] = v[t-1] + dt\\, r\\, I[t]

    IR: ``%acc = snn.integrator(%fc) {r = tensor<f32[]>[1000], v_init = tensor<f32[]>[0]}``
    """

    name = "snn.integrator"

    r: FloatTensor
    v_init: FloatTensor = field(default_factory=_zero)


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class Threshold(Op):
    """Stateless spike: 1 where the input reaches the threshold (NIR ``Threshold``).

    .. math:: z = H(x - \\theta), \\quad H(0) = 1

    IR: ``%z = snn.threshold(%x) {threshold = tensor<f32[]>[0.5]}``
    """

    name = "snn.threshold"

    threshold: FloatTensor

    def verify_(self) -> None:
        _check_params(self, ("threshold",))

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return _broadcast_shape(self, ("threshold",), inputs)

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        return spike(x, p["threshold"], subtract=False, max_spikes=1)


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class Delay(Op):
    """Per-element transmission delay (NIR ``Delay``).

    .. math:: y[t] = x[t - d / dt], \\quad y[t] = 0 \\text{ for } t < d / dt

    ``delay`` (seconds) must be a whole number of steps of the graph's ``dt``.

    IR: ``%d = snn.delay(%x) {delay = tensor<f32[]>[0.002]}``
    """

    name = "snn.delay"
    stateful = True
    needs_dt = True

    delay: FloatTensor
    """Delay per element (seconds)."""

    def verify_(self) -> None:
        _check_params(self, ("delay",))
        if np.any(self.delay < 0):
            raise VerifyError("delay must be >= 0")

    def verify_dt_(self, dt: float) -> None:
        self.steps(dt)

    def steps(self, dt: float) -> np.ndarray:
        """Return the delay in whole steps, or raise if it is not a multiple of ``dt``."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ratio = np.asarray(self.delay, np.float64) / dt
        if not np.all(np.isfinite(ratio)):
            raise VerifyError(f"delay {self.delay.tolist()} must be finite")
        longest = float(ratio.max(initial=0.0))
        if longest > MAX_DELAY_STEPS:
            # The interpreter keeps a buffer of this many steps per element.
            raise VerifyError(
                f"delay of {longest:.4g} steps (dt={dt}) exceeds the limit "
                f"{MAX_DELAY_STEPS:,} steps"
            )
        steps = np.rint(ratio)
        if np.any(np.abs(ratio - steps) > 1e-6 * np.maximum(1.0, steps)):
            raise VerifyError(
                f"delay {self.delay.tolist()} is not a multiple of dt={dt}"
            )
        return steps.astype(np.int64)

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return _broadcast_shape(self, ("delay",), inputs)

    def init_state(self, p: Params, x: torch.Tensor) -> dict[str, torch.Tensor]:
        depth = int(self.steps(p.require_dt()).max(initial=0)) + 1
        return {"buffer": torch.zeros((x.shape[0], depth, *x.shape[1:]), dtype=x.dtype)}

    def step(
        self, p: Params, x: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        buffer = torch.cat([x.unsqueeze(1), state["buffer"][:, :-1]], dim=1)
        steps = torch.as_tensor(self.steps(p.require_dt()))
        index = steps.expand(x.shape[1:]).unsqueeze(0).unsqueeze(0)
        index = index.expand(x.shape[0], 1, *x.shape[1:])
        return buffer.gather(1, index).squeeze(1), {"buffer": buffer}


class _StraightThrough(torch.autograd.Function):
    """Forward: the sample; backward: the gradient of its probability."""

    @staticmethod
    def forward(ctx: Any, sample: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return sample

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, grad


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class RateEncode(Op):
    """Rate (Bernoulli) encoding of an analog input into spikes, seeded.

    .. math:: z[t] \\sim \\mathrm{Bernoulli}(\\mathrm{clip}(g\\, x[t], 0, 1))

    Each step and element draws independently from a generator seeded with ``seed``,
    so the same input always gives the same spikes. It encodes a graph input and
    belongs outside recurrent loops. The gradient passes straight through to the
    probability.

    IR: ``%z = snn.rate_encode(%x) {gain = 1.0, seed = 0}``
    """

    name = "snn.rate_encode"

    gain: float = 1.0
    """Scale from input value to spike probability per step."""
    seed: int = 0
    """Seed of the random draws."""

    def verify_(self) -> None:
        if not self.gain > 0 or not np.isfinite(self.gain):
            raise VerifyError(f"gain must be a positive number, got {self.gain}")

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        return inputs["input"]

    def apply(self, p: Params, x: torch.Tensor) -> torch.Tensor:
        prob = torch.clamp(x * self.gain, 0.0, 1.0)
        generator = torch.Generator().manual_seed(self.seed)
        draws = torch.rand(prob.shape, generator=generator, dtype=prob.dtype)
        sample = (draws < prob.detach()).to(prob.dtype)
        out: torch.Tensor = _StraightThrough.apply(sample, prob)
        return out
