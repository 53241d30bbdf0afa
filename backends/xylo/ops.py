"""The ``xylo`` dialect: one Xylo SNN core as an IR op, with integer semantics.

``xylo.core`` holds the registers of a ``XyloConfig`` as fields; its ``step`` is the
reference's integer dynamics (``shared/reference/xylo.md`` §2), written out
straightforwardly in torch ``int64`` one source and one stage at a time. It is the
interpreter's definition of a lowered graph and is deliberately independent of
``XyloEmulator`` (a vectorized re-implementation), which the tests compare with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from backends.xylo.variants import VARIANTS
from ir.errors import VerifyError
from ir.op import IntTensor, Op, Params, Shape, register_op

if TYPE_CHECKING:
    from backends.xylo.config import XyloConfig

__all__ = ["XyloCore"]

INT16_MIN = -32768
INT16_MAX = 32767

_HIDDEN = ("dash_mem", "dash_syn", "dash_syn_2", "threshold", "bias", "aliases")
_OUTPUT = ("dash_mem_out", "dash_syn_out", "threshold_out", "bias_out")
_DASHES = ("dash_mem", "dash_syn", "dash_syn_2", "dash_mem_out", "dash_syn_out")


def _sat(v: torch.Tensor) -> torch.Tensor:
    return torch.clamp(v, INT16_MIN, INT16_MAX)


def _dec(v: torch.Tensor, dash: torch.Tensor) -> torch.Tensor:
    """Amount one decay step subtracts: ``v >> dash``, but ``sign(v)`` if that is 0."""
    q = torch.bitwise_right_shift(v, dash)
    return torch.where((q == 0) & (v != 0), torch.sign(v), q)


@register_op
@dataclass(frozen=True, kw_only=True, eq=False)
class XyloCore(Op):
    """One Xylo SNN core (hidden + readout neurons) running integer registers.

    Per step (reference §2): input counts ``n = min(x, 15)`` are delivered channel by
    channel, then last step's hidden spike counts through ``weights_rec`` and
    ``weights_out``, each addition of ``w << weight_shift`` saturating to int16; then
    ``I <- I - dec(I, dash_syn)``, ``V <- sat(V + sat(sat(-dec(V, dash_mem) + sum I)
    + b))`` (v1: ``V <- sat(V - dec(V) + sum I)``), and the spike loop subtracts
    ``threshold`` while ``V >= threshold`` up to 31 times (hidden, aliases in
    ascending id order) or once (output). Input ``(Nin,)`` event counts; output
    ``(Nout,)`` output spikes. States: ``isyn (Nhid, nsyn)``, ``vmem``, ``spikes``
    (hidden counts), ``isyn_out``, ``vmem_out``.

    IR: ``%core = xylo.core(%x) {variant = "xylo-audio2", weights_in =
    tensor<i8[2,3,1]>[...], ..., weight_shift_in = 0, ...}``
    """

    name = "xylo.core"
    stateful = True

    variant: str
    """Variant name (``backends.xylo.variants.VARIANTS``)."""
    weights_in: IntTensor
    """``(Nin, Nhid, nsyn)`` input weights ``[channel, target, synapse]``."""
    weights_rec: IntTensor
    """``(Nhid, Nhid, nsyn)`` recurrent weights ``[source, target, synapse]``."""
    weights_out: IntTensor
    """``(Nhid, Nout)`` readout weights."""
    dash_mem: IntTensor
    dash_syn: IntTensor
    dash_syn_2: IntTensor
    dash_mem_out: IntTensor
    dash_syn_out: IntTensor
    threshold: IntTensor
    threshold_out: IntTensor
    bias: IntTensor
    bias_out: IntTensor
    aliases: IntTensor
    """``(Nhid,)`` alias target id, -1 for none."""
    weight_shift_in: int = 0
    weight_shift_rec: int = 0
    weight_shift_out: int = 0

    @classmethod
    def from_config(cls, config: XyloConfig) -> XyloCore:
        """The op running ``config``'s registers."""
        regs = {
            name: np.asarray(getattr(config, name))
            for name in ("weights_in", "weights_rec", "weights_out", *_HIDDEN, *_OUTPUT)
        }
        return cls(
            variant=config.variant,
            weight_shift_in=config.weight_shift_in,
            weight_shift_rec=config.weight_shift_rec,
            weight_shift_out=config.weight_shift_out,
            **regs,
        )

    # -- structure -----------------------------------------------------------------
    def verify_(self) -> None:
        if self.variant not in VARIANTS:
            raise VerifyError(
                f"unknown Xylo variant '{self.variant}'; known: {', '.join(VARIANTS)}"
            )
        spec = VARIANTS[self.variant]
        w_in, w_rec, w_out = self.weights_in, self.weights_rec, self.weights_out
        if w_in.ndim != 3 or w_rec.ndim != 3 or w_out.ndim != 2:
            raise VerifyError(
                "weights_in and weights_rec must be 3-D, weights_out 2-D; got "
                f"{w_in.shape}, {w_rec.shape}, {w_out.shape}"
            )
        nhid, nsyn = w_in.shape[1], w_in.shape[2]
        if w_rec.shape != (nhid, nhid, nsyn) or w_out.shape[0] != nhid:
            raise VerifyError(
                f"weight shapes disagree: weights_in {w_in.shape}, weights_rec "
                f"{w_rec.shape}, weights_out {w_out.shape}"
            )
        if nsyn not in (1, 2):
            raise VerifyError(f"nsyn must be 1 or 2, got {nsyn}")
        for name, n in [(k, nhid) for k in _HIDDEN] + [
            (k, w_out.shape[1]) for k in _OUTPUT
        ]:
            if getattr(self, name).shape != (n,):
                raise VerifyError(
                    f"{name} has shape {getattr(self, name).shape}, expected ({n},)"
                )
        for name in ("threshold", "threshold_out"):
            if np.any(getattr(self, name) < 1):
                raise VerifyError(f"{name} must be >= 1")
        top = 2**spec.dash_bits - 1
        for name in _DASHES:
            arr = getattr(self, name)
            if np.any((arr < 0) | (arr > top)):
                raise VerifyError(f"{name} must be 0..{top}")
        if np.any((self.aliases < -1) | (self.aliases >= nhid)):
            raise VerifyError(f"aliases must be -1..{nhid - 1}")
        for name in ("weight_shift_in", "weight_shift_rec", "weight_shift_out"):
            if not 0 <= getattr(self, name) <= spec.max_weight_shift:
                raise VerifyError(f"{name} must be 0..{spec.max_weight_shift}")

    def infer_shape(self, inputs: Mapping[str, Shape]) -> Shape:
        nin = self.weights_in.shape[0]
        if inputs["input"] != (nin,):
            raise VerifyError(
                f"input shape {inputs['input']} must be ({nin},) event counts"
            )
        return (self.weights_out.shape[1],)

    # -- semantics -----------------------------------------------------------------
    def init_state(self, p: Params, x: torch.Tensor) -> dict[str, torch.Tensor]:
        batch = x.shape[0]
        _, nhid, nsyn = self.weights_in.shape
        nout = self.weights_out.shape[1]
        zeros = torch.zeros
        return {
            "isyn": zeros((batch, nhid, nsyn), dtype=torch.int64),
            "vmem": zeros((batch, nhid), dtype=torch.int64),
            "spikes": zeros((batch, nhid), dtype=torch.int64),
            "isyn_out": zeros((batch, nout), dtype=torch.int64),
            "vmem_out": zeros((batch, nout), dtype=torch.int64),
        }

    def step(
        self, p: Params, x: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        spec = VARIANTS[self.variant]
        reg = {k: v.to(torch.int64) for k, v in p.items() if torch.is_tensor(v)}
        w_in = reg["weights_in"] << self.weight_shift_in
        w_rec = reg["weights_rec"] << self.weight_shift_rec
        w_out = reg["weights_out"] << self.weight_shift_out
        nsyn = w_in.shape[2]
        counts = torch.clamp(torch.round(x).to(torch.int64), 0, spec.max_input_events)
        prev = state["spikes"]
        isyn = state["isyn"].clone()
        isyn_out = state["isyn_out"].clone()
        # 1-3. Deliveries, one source at a time in hardware order. NOTE: a source's
        # n additions of one weight saturate monotonically, so they equal one
        # saturating addition of n * w (reference §2 step 1).
        # Sources with no events or no weights add nothing and are skipped.
        for c in _active(counts, w_in):
            isyn = _sat(isyn + counts[:, c, None, None] * w_in[c])
        for i in _active(prev, w_rec):
            isyn = _sat(isyn + prev[:, i, None, None] * w_rec[i])
        for i in _active(prev, w_out):
            isyn_out = _sat(isyn_out + prev[:, i, None] * w_out[i])
        # 5. hidden neurons
        dash_syn = torch.stack([reg["dash_syn"], reg["dash_syn_2"]], 1)[:, :nsyn]
        isyn = isyn - _dec(isyn, dash_syn)
        vmem = _integrate(
            state["vmem"], isyn.sum(2), reg["dash_mem"], reg["bias"], spec.sim_version
        )
        vmem, spikes = _spike_loop(
            vmem, reg["threshold"], reg["aliases"], spec.max_hidden_spikes
        )
        # 6. output neurons: one synapse, one spike at most, no alias
        isyn_out = isyn_out - _dec(isyn_out, reg["dash_syn_out"])
        vmem_out = _integrate(
            state["vmem_out"],
            isyn_out,
            reg["dash_mem_out"],
            reg["bias_out"],
            spec.sim_version,
        )
        fired = (vmem_out >= reg["threshold_out"]).to(torch.int64)
        vmem_out = vmem_out - fired * reg["threshold_out"]
        new = {
            "isyn": isyn,
            "vmem": vmem,
            "spikes": spikes,
            "isyn_out": isyn_out,
            "vmem_out": vmem_out,
        }
        return fired.to(x.dtype), new


def _active(counts: torch.Tensor, weights: torch.Tensor) -> list[int]:
    """Ascending source indices with an event in the batch and a nonzero weight."""
    used = (counts != 0).any(0) & (weights != 0).flatten(1).any(1)
    return [int(i) for i in torch.nonzero(used).flatten()]


def _integrate(
    v: torch.Tensor,
    isyn: torch.Tensor,
    dash_mem: torch.Tensor,
    bias: torch.Tensor,
    sim_version: int,
) -> torch.Tensor:
    if sim_version == 1:
        # NOTE: xylosim.v1 decays V first, then adds the currents; no bias (§2 v1).
        return _sat(v - _dec(v, dash_mem) + isyn)
    # NOTE: the negated decay step is an int16 in xylosim.v2: -(-32768) wraps to
    # -32768, so a membrane at -32768 with dash_mem 0 stays there (§2 step 5.2).
    neg = -_dec(v, dash_mem)
    neg = torch.where(neg == -INT16_MIN, torch.full_like(neg, INT16_MIN), neg)
    dv = _sat(neg + isyn)
    dv = _sat(dv + bias)
    return _sat(v + dv)


def _spike_loop(
    v: torch.Tensor, theta: torch.Tensor, aliases: torch.Tensor, cap: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Subtractive spike loop, neurons in ascending id order; returns (v, counts)."""
    if bool(torch.all(aliases < 0)):
        n = torch.clamp(torch.div(v, theta, rounding_mode="floor"), 0, cap)
        return v - n * theta, n
    v = v.clone()
    buf = torch.zeros_like(v)
    for j in range(v.shape[1]):
        # While V >= theta and n < cap: one spike, V -= theta (theta >= 1).
        room = cap - buf[:, j]
        k = torch.minimum(
            torch.clamp(torch.div(v[:, j], theta[j], rounding_mode="floor"), min=0),
            torch.clamp(room, min=0),
        )
        v[:, j] = v[:, j] - k * theta[j]
        buf[:, j] = buf[:, j] + k
        a = int(aliases[j])
        if a >= 0:
            buf[:, a] = torch.clamp(buf[:, a] + buf[:, j], max=cap)
    return v, buf
