"""Float Xylo parameters to integer registers: per-neuron scaling, weight shifts, report.

Input is a network already in the Xylo equation's form (reference ``xylo.md`` §2,
"Compact form"), in float: ``I_s += w`` per input event or spike, ``V += sum_s I_s + b``
per step, spike and subtract ``theta`` while ``V >= theta``. The lowering has already
folded the float IR's ``(1 - a)`` input gains and ``r`` into ``w`` and ``b``.

**Per-target-neuron scaling.** Multiplying a neuron's incoming weights (input and
recurrent for a hidden neuron, readout for an output neuron), its threshold and its bias
by one positive factor ``s`` multiplies its ``I`` and ``V`` by ``s`` and leaves its spike
counts unchanged, apart from int16 saturation and rounding (xylo.md §4, last paragraph
of ``channel_quantize``). So each neuron ``j`` gets its own scale ``s_j``; registers are

* weights: ``q = clip(round(s_j w / 2^shift), -127, 127)`` (int8, saturating, never
  wrapping: rockpool's int8 cast wraps 200 to -56, xylo.md §3), with one left shift
  per matrix (``weight_shift_in``, ``weight_shift_rec``, ``weight_shift_out``; the
  effective weight is ``q 2^shift``, xylo.md §1);
* threshold: ``round(s_j theta)`` in ``1..32767`` (theta <= 0 breaks spiking, §1);
* bias: ``round(s_j b)`` in ``-127..127`` (int8, not shifted).

**Choosing scales and shifts.** Caps per neuron: the threshold and the bias must fit
(``s theta <= 32767``, ``s |b| <= 127``, hard), and the threshold should leave room for
``V`` and ``I`` to exceed it without saturating int16 (``s theta <= 32767 / v_headroom``,
soft). Each matrix gets the largest shift with which every neuron it feeds can use the
full int8 range for its largest weight (``s_j max|w| = 127 2^shift``) within its soft
cap; shift 0 is always allowed, so the headroom never costs weight precision, and a
larger shift is taken when needed so that a threshold of 1 still holds the weights
without clipping. Then ``s_j`` is the largest scale within the neuron's weight caps
(for the chosen shifts) and hard caps; a neuron without weights takes its soft cap.
Weights clip only when ``max|w| / theta`` exceeds ``127 2^max_weight_shift`` (a single
event then drives more than 32,000 thresholds; the report counts them).

Errors (``ResourceError``, naming the neuron): a threshold that is not positive, a
bias so large against its threshold that no threshold >= 1 keeps it in int8, a
nonzero bias on a variant without bias registers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from backends.xylo.allocate import ResourceError, _namer, _shapes
from backends.xylo.variants import XyloVariant

__all__ = [
    "DEFAULT_V_HEADROOM",
    "MatrixError",
    "QuantizationReport",
    "QuantizedNetwork",
    "quantize",
]

DEFAULT_V_HEADROOM = 32.0
"""Default ratio of the int16 range to the largest threshold the shifts aim for: a
membrane at 32 thresholds (31 spikes, the hidden cap) does not saturate."""


@dataclass(frozen=True, kw_only=True)
class MatrixError:
    """Quantization error of one weight matrix, in float weight units.

    Attributes:
        relative_rms: ``||w_eff - w|| / ||w||`` with ``w_eff = q 2^shift / s_target``
            (0 for an all-zero matrix).
        max_abs_error: largest ``|w_eff - w|``.
        n_clipped: weights that saturated at the int8 limit.
        n_flushed: nonzero weights that became 0.
        max_abs_register: largest ``|q|`` (127 when the int8 range is used).
    """

    relative_rms: float
    max_abs_error: float
    n_clipped: int
    n_flushed: int
    max_abs_register: int


@dataclass(frozen=True, kw_only=True)
class QuantizationReport:
    """Per-layer quantization errors.

    Attributes:
        weights: ``"in"``, ``"rec"``, ``"out"`` -> ``MatrixError``.
        threshold_error: ``"hidden"``, ``"output"`` -> largest relative threshold
            error ``|theta_eff / theta - 1|``.
        bias_error: ``"hidden"``, ``"output"`` -> largest bias error in thresholds,
            ``|b_eff - b| / theta``.
    """

    weights: Mapping[str, MatrixError]
    threshold_error: Mapping[str, float]
    bias_error: Mapping[str, float]

    def summary(self) -> str:
        """One line per matrix and population, for logs and the CLI."""
        lines = [
            f"weights_{k}: rel RMS {e.relative_rms:.3g}, max |q| {e.max_abs_register}"
            f", clipped {e.n_clipped}, flushed to 0 {e.n_flushed}"
            for k, e in self.weights.items()
        ]
        lines += [
            f"{k}: threshold rel error {self.threshold_error[k]:.3g}, bias error "
            f"{self.bias_error[k]:.3g} thresholds"
            for k in self.threshold_error
        ]
        return "\n".join(lines)


@dataclass(frozen=True, kw_only=True, eq=False)
class QuantizedNetwork:
    """Integer registers (logical neuron order) and how they were obtained.

    Attributes:
        weights_in: ``(Nin, N, nsyn)`` int8.
        weights_rec: ``(N, N, nsyn)`` int8.
        weights_out: ``(N, Nout)`` int8.
        threshold: ``(N,)`` int16 in ``1..32767``; ``threshold_out`` ``(Nout,)``.
        bias: ``(N,)`` int8; ``bias_out`` ``(Nout,)``.
        weight_shift_in, weight_shift_rec, weight_shift_out: left shifts.
        scale: ``(N,)`` float scale ``s_j`` of each hidden neuron; ``scale_out``
            ``(Nout,)`` of each output neuron.
        report: the quantization errors.
    """

    weights_in: np.ndarray
    weights_rec: np.ndarray
    weights_out: np.ndarray
    threshold: np.ndarray
    threshold_out: np.ndarray
    bias: np.ndarray
    bias_out: np.ndarray
    weight_shift_in: int
    weight_shift_rec: int
    weight_shift_out: int
    scale: np.ndarray
    scale_out: np.ndarray
    report: QuantizationReport

    def registers(self) -> dict[str, Any]:
        """The register arrays and shifts under ``XyloConfig.from_registers`` names."""
        names = (
            "weights_in",
            "weights_rec",
            "weights_out",
            "threshold",
            "threshold_out",
            "bias",
            "bias_out",
            "weight_shift_in",
            "weight_shift_rec",
            "weight_shift_out",
        )
        return {name: getattr(self, name) for name in names}


def _signed_max(bits: int) -> int:
    return int(2 ** (bits - 1) - 1)


def _check_neurons(
    theta: np.ndarray,
    bias: np.ndarray,
    b_max: int,
    has_bias: bool,
    name: Callable[[int], str],
    where: str,
) -> None:
    bad = np.flatnonzero(~(np.isfinite(theta) & (theta > 0)))
    if bad.size:
        j = int(bad[0])
        raise ResourceError(
            f"{name(j)} has threshold {theta[j]:g} {where}: thresholds must be "
            f"positive and finite (registers hold 1..32767)"
        )
    bad = np.flatnonzero(~np.isfinite(bias))
    if bad.size:
        raise ResourceError(f"{name(int(bad[0]))} has bias {bias[bad[0]]:g} {where}")
    if not has_bias and np.any(bias != 0):
        j = int(np.flatnonzero(bias)[0])
        raise ResourceError(
            f"{name(j)} has bias {bias[j]:g} {where}, which has no bias registers"
        )
    ratio = np.abs(bias) / theta
    bad = np.flatnonzero(ratio > b_max)
    if bad.size:
        j = int(bad[0])
        raise ResourceError(
            f"{name(j)} has bias {bias[j]:g} = {ratio[j]:.4g} thresholds {where}: "
            f"with a threshold of at least 1 its bias would exceed the int8 limit "
            f"{b_max}"
        )


def _weight_shift(
    max_w: np.ndarray,
    theta: np.ndarray,
    soft_cap: np.ndarray,
    w_max: int,
    max_shift: int,
) -> int:
    """Shift of one matrix, from the largest incoming weight of each target."""
    used = max_w > 0
    if not np.any(used):
        return 0
    # Largest shift at which every target's full-range scale stays within its soft cap.
    upper = np.min(np.floor(np.log2(soft_cap[used] * max_w[used] / w_max)))
    # Smallest shift at which a threshold of 1 (scale 1/theta) holds every weight.
    lower = np.max(np.ceil(np.log2(max_w[used] / (w_max * theta[used]))))
    return int(np.clip(max(upper, lower), 0, max_shift))


def _scales(
    matrices: Sequence[tuple[np.ndarray, int]],
    theta: np.ndarray,
    hard_cap: np.ndarray,
    soft_cap: np.ndarray,
    w_max: int,
) -> np.ndarray:
    """Per-target scale: full int8 range for the tightest matrix, within the caps."""
    weight_cap = np.full(theta.shape, np.inf)
    for max_w, shift in matrices:
        with np.errstate(divide="ignore"):
            weight_cap = np.minimum(weight_cap, w_max * 2.0**shift / max_w)
    scale = np.where(
        np.isfinite(weight_cap), np.minimum(weight_cap, hard_cap), soft_cap
    )
    return np.maximum(scale, 1.0 / theta)


def _target_max(w: np.ndarray) -> np.ndarray:
    """Largest ``|w|`` per target; targets are axis 1."""
    axes = tuple(i for i in range(w.ndim) if i != 1)
    return np.max(np.abs(w), axis=axes, initial=0.0)


def _quantize_matrix(
    w: np.ndarray, scale: np.ndarray, shift: int, w_max: int
) -> tuple[np.ndarray, MatrixError]:
    target_scale = scale.reshape((1, -1) + (1,) * (w.ndim - 2))
    raw = np.rint(w * target_scale / 2.0**shift)
    q = np.clip(raw, -w_max, w_max)
    w_eff = q * 2.0**shift / target_scale
    norm = float(np.sqrt(np.sum(w**2)))
    diff = w_eff - w
    error = MatrixError(
        relative_rms=float(np.sqrt(np.sum(diff**2))) / norm if norm else 0.0,
        max_abs_error=float(np.max(np.abs(diff), initial=0.0)),
        n_clipped=int(np.count_nonzero(np.abs(raw) > w_max)),
        n_flushed=int(np.count_nonzero((q == 0) & (w != 0))),
        max_abs_register=int(np.max(np.abs(q), initial=0)),
    )
    return q.astype(np.int8), error


def _population(
    matrices: Sequence[np.ndarray],
    theta: np.ndarray,
    bias: np.ndarray,
    variant: XyloVariant,
    v_headroom: float,
    name: Callable[[int], str],
) -> tuple[list[np.ndarray], list[MatrixError], list[int], dict[str, Any]]:
    w_max = _signed_max(variant.weight_bits)
    t_max = _signed_max(variant.threshold_bits)
    b_max = _signed_max(variant.bias_bits)
    where = f"on {variant.name}"
    _check_neurons(theta, bias, b_max, variant.has_bias, name, where)
    with np.errstate(divide="ignore"):
        bias_cap = b_max / np.abs(bias)
    hard_cap = np.minimum(t_max / theta, bias_cap)
    soft_cap = np.minimum(t_max / (v_headroom * theta), bias_cap)
    max_ws = [_target_max(w) for w in matrices]
    shifts = [
        _weight_shift(m, theta, soft_cap, w_max, variant.max_weight_shift)
        for m in max_ws
    ]
    scale = _scales(
        list(zip(max_ws, shifts, strict=True)), theta, hard_cap, soft_cap, w_max
    )
    quantized = [
        _quantize_matrix(w, scale, s, w_max)
        for w, s in zip(matrices, shifts, strict=True)
    ]
    threshold = np.clip(np.rint(scale * theta), 1, t_max)
    bias_q = np.clip(np.rint(scale * bias), -b_max, b_max)
    neurons = {
        "threshold": threshold.astype(np.int16),
        "bias": bias_q.astype(np.int8),
        "scale": scale,
        "threshold_error": float(
            np.max(np.abs(threshold / scale / theta - 1.0), initial=0.0)
        ),
        "bias_error": float(np.max(np.abs(bias_q / scale - bias) / theta, initial=0.0)),
    }
    return [q for q, _ in quantized], [e for _, e in quantized], shifts, neurons


def quantize(
    variant: XyloVariant,
    w_in: np.ndarray,
    w_rec: np.ndarray,
    w_out: np.ndarray,
    threshold: np.ndarray,
    threshold_out: np.ndarray,
    bias: np.ndarray | None = None,
    bias_out: np.ndarray | None = None,
    *,
    v_headroom: float = DEFAULT_V_HEADROOM,
    layers: Sequence[tuple[str, int]] | None = None,
    output_layer: str = "output",
) -> QuantizedNetwork:
    """Quantize a float Xylo network to registers with per-target-neuron scaling.

    Args:
        variant: number formats (``weight_bits``, ``threshold_bits``, ``bias_bits``,
            ``max_weight_shift``, ``has_bias``).
        w_in: ``(Nin, N, nsyn)`` input weights ``[channel, target, synapse]``.
        w_rec: ``(N, N, nsyn)`` recurrent weights ``[source, target, synapse]``.
        w_out: ``(N, Nout)`` readout weights ``[source, output]``.
        threshold: ``(N,)`` positive hidden thresholds.
        threshold_out: ``(Nout,)`` positive output thresholds.
        bias: ``(N,)`` hidden biases (added to ``V`` each step); default 0.
        bias_out: ``(Nout,)`` output biases; default 0.
        v_headroom: the shifts keep thresholds at most ``32767 / v_headroom`` (soft;
            see the module docstring); ``>= 1``.
        layers: ordered ``(name, size)`` of the hidden layers, for messages.
        output_layer: name of the output layer, for messages.

    Returns:
        Registers in logical neuron order, scales and the error report; the same
        inputs always give the same result.

    Raises:
        ResourceError: a threshold or bias no scaling fits (message names the neuron).
    """
    if not v_headroom >= 1:
        raise ValueError(f"v_headroom must be >= 1, got {v_headroom}")
    w_in = np.asarray(w_in, dtype=np.float64)
    w_rec = np.asarray(w_rec, dtype=np.float64)
    w_out = np.asarray(w_out, dtype=np.float64)
    _, n, _, n_out = _shapes(w_in, w_rec, w_out)
    for label, w in (("w_in", w_in), ("w_rec", w_rec), ("w_out", w_out)):
        if not np.all(np.isfinite(w)):
            raise ValueError(f"{label} holds a value that is not finite")
    theta = _vector("threshold", threshold, n)
    theta_out = _vector("threshold_out", threshold_out, n_out)
    b = _vector("bias", bias, n)
    b_out = _vector("bias_out", bias_out, n_out)

    hidden_name = _namer(layers, n, "hidden")
    (q_in, q_rec), (e_in, e_rec), (sh_in, sh_rec), hidden = _population(
        [w_in, w_rec], theta, b, variant, v_headroom, hidden_name
    )
    out_name = _namer([(output_layer, n_out)], n_out, output_layer)
    (q_out,), (e_out,), (sh_out,), output = _population(
        [w_out], theta_out, b_out, variant, v_headroom, out_name
    )
    report = QuantizationReport(
        weights={"in": e_in, "rec": e_rec, "out": e_out},
        threshold_error={
            "hidden": hidden["threshold_error"],
            "output": output["threshold_error"],
        },
        bias_error={"hidden": hidden["bias_error"], "output": output["bias_error"]},
    )
    return QuantizedNetwork(
        weights_in=q_in,
        weights_rec=q_rec,
        weights_out=q_out,
        threshold=hidden["threshold"],
        threshold_out=output["threshold"],
        bias=hidden["bias"],
        bias_out=output["bias"],
        weight_shift_in=sh_in,
        weight_shift_rec=sh_rec,
        weight_shift_out=sh_out,
        scale=hidden["scale"],
        scale_out=output["scale"],
        report=report,
    )


def _vector(label: str, value: np.ndarray | None, n: int) -> np.ndarray:
    if value is None:
        return np.zeros(n)
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (n,):
        raise ValueError(f"{label} has shape {arr.shape}, expected ({n},)")
    return arr
