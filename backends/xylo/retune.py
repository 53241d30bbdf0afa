"""Quantization-aware retuning for Xylo: the ``retune`` pass on the ``xylo-*`` targets.

``retune_graph`` takes the float SNN graph (what ``quantize-xylo`` takes, see
``backends/xylo/lower.py``), quantizes it with ``quantize_graph`` and fine-tunes the
integer weight registers against the chip's own integer dynamics on the calibration
data. It returns the ``io.input -> xylo.core -> io.output`` graph, so it stands in for
``quantize-xylo``: ``canonicalize,dce,infer-shapes,retune{target=xylo-audio2},
allocate-xylo``. A graph already holding an unallocated ``xylo.core`` is retuned from
its registers (``quantize-xylo{v-headroom=...},retune{...}``).

**What trains.** Only the weights (``weights_in``, ``weights_rec``, ``weights_out``);
dashes, thresholds, biases and shifts keep the values ``quantize-xylo`` chose. The
layer structure is kept: input weights reach the first hidden layer, readout weights
leave the last one, on the synapses the layer uses. NOTE: recurrent registers that are
0 stay 0, so the recurrent fan-out and the recurrent weight-RAM entries never exceed
what ``allocate-xylo`` accepts for the quantized network (xylo.md §1).

**Forward pass.** The chip's step (``XyloCore``, xylo.md §2) in float64 torch, exact
on integers, batched, with straight-through estimators where it is not
differentiable:

* weights: ``q = clip(round(w), -127, 127)`` forward, identity gradient (the shadow
  ``w`` is projected back into ``[-127.5, 127.5]`` after each step so it never drifts
  where rounding cannot follow);
* the decay ``dec(v, dash)`` (a floor shift, at least 1): exact forward, the gradient
  of ``v 2^-dash``;
* the hidden spike loop ``n = clamp(floor(V / theta), 0, 31)``: exact forward,
  surrogate gradient ``1 / (theta (1 + k d)^2)`` with ``d`` the distance of
  ``V / theta`` from ``[1, 31]`` (a fast sigmoid widened over the multi-spike range,
  ``k = 4``). The reset ``V - n theta`` is not detached: in the multi-spike range a
  step's charge goes into that step's count and none stays in ``V``, so a unit of
  charge earns ``1 / theta`` spikes once (the rate code's gradient); below threshold
  ``V`` keeps most of it for later steps. (Detaching the reset credits early charge
  once per later step; on the digits benchmark it trained less steadily.)
* int16 saturation: ``clamp`` (no gradient where saturated). NOTE: the chip saturates
  after every single delivery; this forward saturates the step's total once. They
  differ only when a partial sum leaves int16 with mixed signs, which the thresholds'
  headroom makes rare; the returned graph is exact by construction (it holds the
  registers) and the ``acc`` shown is that of this forward.

The input runs ``hop_delay`` extra silent steps, so the last input step reaches the
readout (the chip's output lags one step per hidden layer), as the examples do.

**Readout and loss.** An output neuron's score is its spike count (the chip's answer;
at most one spike per step) with the gradient of its integrated drive
``sum_t (I_out + b_out) / theta_out``: the two agree while the neuron is neither
silent nor saturated, and the drive keeps a gradient where counts have none (a silent
class, or two classes tied at one spike per step), so the loss is the chip's own
while training reaches every weight. (The drive alone as logits trains a margin the
chip cannot show, above one spike per step; on the digits benchmark it lost
accuracy.) Logits are ``temperature * 100 / T`` times the score (spikes per 100
input steps, the teacher's unit in ``compiler/retune.py``); the loss is
``data.loss`` (labels, or the float network's class probabilities).

**Learning rate.** Adam on shadows in units of each target neuron's largest register
in that matrix (``max |q|``, at least 1): ``lr`` moves a weight by about ``lr`` of its
neuron's range per step (0.02: ~2.5 LSB at the full int8 range), a relative step as
``lr`` is for the analog targets, whatever the neuron's scale; cosine-annealed to 0
over the run so the last epochs settle on the integer grid instead of hopping
between neighbouring registers.

**Result.** After each epoch the whole calibration set runs through the rounded
registers; the registers of the best epoch (accuracy, then loss; the quantized start
is epoch 0) are written back, so retuning never lowers the calibration accuracy. The
core's ``meta`` gains ``retune_epochs``, ``retune_best_epoch``, ``retune_changed``
(weight registers that differ from ``quantize-xylo``'s), ``retune_accuracy`` and
``retune_loss`` (per epoch, from 0). The ``quant_*`` keys still describe the
``quantize-xylo`` starting point. Deterministic: the only randomness is the batch
order, from ``numpy.random.default_rng(seed)`` (torch's global generator is not
touched), and training runs on one thread (restored afterwards).

Refused options (``ANALOG_ONLY``): ``chips``, ``restarts``, ``relative_std``,
``beta``, ``attack_*`` away from their defaults: Xylo is digital, every chip computes
the same integers, so there is no mismatch to train against or to choose a run on,
and an option that would do nothing is an error rather than silently ignored.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

from backends.xylo.lower import _core_node, _layers_meta, hop_delay, quantize_graph
from backends.xylo.ops import INT16_MAX, INT16_MIN, XyloCore
from backends.xylo.variants import VARIANTS, XyloVariant
from compiler.retune import Progress, RetuneData, RetuneOptions
from ir import Graph, verify

ANALOG_ONLY = (
    "chips",
    "restarts",
    "relative_std",
    "beta",
    "attack_steps",
    "attack_strength",
)
"""``RetuneOptions`` fields about mismatch: refused on Xylo away from their defaults."""

__all__ = ["retune_graph"]

SURROGATE_SLOPE = 4.0
"""``k`` of the spike-count surrogate ``1 / (1 + k d)^2`` (``d`` in thresholds)."""

EVAL_BATCH = 256
"""Samples per forward pass when scoring the whole calibration set."""

_WEIGHTS = ("weights_in", "weights_rec", "weights_out")


def retune_graph(
    graph: Graph,
    data: RetuneData,
    options: RetuneOptions,
    progress: Progress,
    variant: str | XyloVariant,
) -> Graph:
    """Quantize ``graph`` for ``variant`` and fine-tune its integer weights on ``data``.

    Args:
        graph: the float SNN graph (``quantize_graph``'s input), or a graph with one
            unallocated ``xylo.core`` of ``variant``.
        data: calibration inputs ``(N, T, n_in)`` and labels or teacher probabilities.
        options: ``epochs``, ``lr``, ``batch``, ``seed``, ``temperature`` (the
            mismatch options do not apply to a digital chip).
        progress: advanced once per step, one line per epoch.
        variant: the Xylo variant.

    Returns:
        ``io.input -> xylo.core -> io.output`` with retuned int8 weights and every
        other register as ``quantize-xylo`` sets it (module docstring).

    Raises:
        ValueError: an unsupported graph (as ``quantize-xylo``), an allocated core
            or one of another variant, aliases, data that do not fit the core, or
            an ``ANALOG_ONLY`` option away from its default.
    """
    given = [
        f"{name.replace('_', '-')}={getattr(options, name)}"
        for name in ANALOG_ONLY
        if getattr(options, name) != getattr(RetuneOptions, name)
    ]
    if given:
        raise ValueError(
            f"retune: {' '.join(given)}: analog targets only (mismatched chips to "
            "train for or to choose a run on); a Xylo chip is digital, with no "
            "mismatch: drop them"
        )
    spec = VARIANTS[variant] if isinstance(variant, str) else variant
    # NOTE: a step's tensors are (batch x neurons), far below where intra-op threads
    # pay; with thousands of small ops per epoch their spin-waits cost up to 30x on a
    # busy machine (digits benchmark: 2 s vs 33 s). One thread also makes the
    # gradients' float rounding, hence the integers, independent of the core count.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _retune(graph, data, options, progress, spec)
    finally:
        torch.set_num_threads(threads)


def _retune(
    graph: Graph,
    data: RetuneData,
    options: RetuneOptions,
    progress: Progress,
    spec: XyloVariant,
) -> Graph:
    quantized = _quantized(graph, spec)
    core = _core_node(quantized)
    assert core is not None  # _quantized returns a graph with one core
    op = quantized.op(core)
    assert isinstance(op, XyloCore)
    if np.any(np.asarray(op.aliases) >= 0):
        raise ValueError(
            f"node '{core}': retune does not train cores with aliases; "
            "quantize-xylo never sets them"
        )
    n_in = op.weights_in.shape[0]
    if data.inputs.ndim != 3 or data.inputs.shape[2] != n_in:
        raise ValueError(
            f"retune on {spec.name}: calibration must be (N, T, {n_in}) event counts, "
            f"got shape {data.inputs.shape}"
        )
    steps = int(data.inputs.shape[1])
    delay = hop_delay(quantized)
    counts = np.clip(np.round(data.inputs.astype(np.float64)), 0, spec.max_input_events)
    x = torch.as_tensor(np.pad(counts, ((0, 0), (0, delay), (0, 0))))
    chip = _Chip(op, spec)
    weights = _Shadows(op, _trainable(quantized, core, op), spec.weight_bits)
    logit_scale = options.temperature * 100.0 / max(steps, 1)

    def evaluate() -> tuple[float, float, dict[str, np.ndarray]]:
        """Loss and accuracy of the rounded registers on the whole calibration set."""
        with torch.no_grad():
            regs = weights.registers(rounded=True)
            score = torch.cat(
                [
                    chip.run(x[start : start + EVAL_BATCH], regs)[0]
                    for start in range(0, data.size, EVAL_BATCH)
                ]
            )
            index = np.arange(data.size)
            loss = float(data.loss(score * logit_scale, index))
            acc = data.accuracy(score.numpy(), index)
        return loss, acc, {k: v.numpy().astype(np.int64) for k, v in regs.items()}

    optimizer = torch.optim.Adam(weights.parameters(), lr=options.lr)
    rng = np.random.default_rng(options.seed)
    per_epoch = math.ceil(data.size / options.batch)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, options.epochs * per_epoch
    )
    progress.total = options.epochs * per_epoch
    loss, acc, best = evaluate()
    losses, accuracies = [loss], [acc]
    best_key, best_epoch = (acc, -loss), 0
    for epoch in range(1, options.epochs + 1):
        order = rng.permutation(data.size)
        for start in range(0, data.size, options.batch):
            index = order[start : start + options.batch]
            score, drive = chip.run(x[index], weights.registers(rounded=False))
            # Value: the spike counts; gradient: the integrated drive's.
            readout = score + (drive - drive.detach())
            batch_loss = data.loss(readout * logit_scale, index)
            optimizer.zero_grad()
            batch_loss.backward()
            optimizer.step()
            schedule.step()
            weights.project()
            progress.update(
                loss=float(batch_loss.detach()),
                acc=data.accuracy(score.numpy(), index),
            )
        loss, acc, regs = evaluate()
        losses.append(loss)
        accuracies.append(acc)
        progress.line(f"epoch {epoch}: loss {loss:.4g}, train acc {acc:.1%}")
        if (acc, -loss) > best_key:
            best_key, best_epoch, best = (acc, -loss), epoch, regs

    changed = sum(
        int(np.count_nonzero(best[k] != np.asarray(getattr(op, k)))) for k in _WEIGHTS
    )

    def written(name: str) -> np.ndarray:
        return best[name].astype(np.asarray(getattr(op, name)).dtype)

    retuned = dataclasses.replace(
        op,
        weights_in=written("weights_in"),
        weights_rec=written("weights_rec"),
        weights_out=written("weights_out"),
    )
    result = quantized.copy()
    result.replace(core, retuned)
    result.meta(core).update(
        retune_epochs=options.epochs,
        retune_best_epoch=best_epoch,
        retune_changed=changed,
        retune_accuracy=np.array(accuracies),
        retune_loss=np.array(losses),
    )
    verify(result)
    return result


def _quantized(graph: Graph, spec: XyloVariant) -> Graph:
    """``quantize_graph(graph)``, or ``graph`` itself when it already holds a core."""
    core = _core_node(graph, required=False)
    if core is None:
        return quantize_graph(graph, spec)
    op = graph.op(core)
    assert isinstance(op, XyloCore)
    if "hidden_ids" in graph.meta(core):
        raise ValueError(
            f"node '{core}': the xylo.core is already allocated; run retune before "
            "allocate-xylo (in place of quantize-xylo, or right after it)"
        )
    if op.variant != spec.name:
        raise ValueError(
            f"node '{core}': a {op.variant} core cannot be retuned for {spec.name}"
        )
    return graph


def _trainable(graph: Graph, core: str, op: XyloCore) -> dict[str, torch.Tensor]:
    """Boolean masks of the weight registers retune may change (module docstring)."""
    layers = _layers_meta(graph, core)
    sizes = [size for _, kind, size in layers if kind == "hidden"]
    bounds = np.cumsum([0, *sizes])
    first = slice(int(bounds[0]), int(bounds[1]))
    last = slice(int(bounds[-2]), int(bounds[-1]))
    w_in = np.asarray(op.weights_in)
    mask_in = np.zeros(w_in.shape, bool)
    # Synapses the first layer uses: those with any nonzero input register.
    used = np.any(w_in[:, first] != 0, axis=(0, 1))
    mask_in[:, first, :] = used[None, None, :]
    mask_out = np.zeros(op.weights_out.shape, bool)
    mask_out[last, :] = True
    return {
        "weights_in": torch.as_tensor(mask_in),
        "weights_rec": torch.as_tensor(np.asarray(op.weights_rec) != 0),
        "weights_out": torch.as_tensor(mask_out),
    }


class _Shadows:
    """Float shadows of the trainable weight registers (Adam's parameters), in units
    of each target neuron's largest register (module docstring, learning rate)."""

    def __init__(
        self, op: XyloCore, masks: dict[str, torch.Tensor], weight_bits: int
    ) -> None:
        self.w_max = float(2 ** (weight_bits - 1) - 1)
        self.masks = masks
        self.fixed = {
            k: torch.as_tensor(np.asarray(getattr(op, k), np.float64)) for k in _WEIGHTS
        }
        self.units = {k: _unit(np.asarray(getattr(op, k)), masks[k]) for k in _WEIGHTS}
        # NOTE: the readout weights always train (the last layer's rows), so the
        # optimizer always has parameters.
        self.shadows = {
            k: (self.fixed[k] / self.units[k]).requires_grad_(True)
            for k in _WEIGHTS
            if masks[k].any()
        }

    def parameters(self) -> list[torch.Tensor]:
        return list(self.shadows.values())

    def registers(self, *, rounded: bool) -> dict[str, torch.Tensor]:
        """The weight registers: ``clip(round(w))``, straight-through unless
        ``rounded`` (then detached); untrainable entries keep their values."""
        out = dict(self.fixed)
        for k, u in self.shadows.items():
            w = u * self.units[k]
            q = torch.clamp(torch.round(w), -self.w_max, self.w_max)
            q = q.detach() if rounded else w + (q - w).detach()
            out[k] = torch.where(self.masks[k], q, self.fixed[k])
        return out

    def project(self) -> None:
        """Keep every shadow within half a step of the int8 range."""
        with torch.no_grad():
            for k, u in self.shadows.items():
                bound = (self.w_max + 0.5) / self.units[k]
                u.copy_(torch.minimum(torch.maximum(u, -bound), bound))


def _unit(weights: np.ndarray, mask: torch.Tensor) -> torch.Tensor:
    """Per target neuron (axis 1), its largest trainable ``|register|`` (>= 1)."""
    trainable = np.where(mask.numpy(), np.abs(weights), 0)
    axes = tuple(i for i in range(weights.ndim) if i != 1)
    largest = np.maximum(trainable.max(axis=axes, keepdims=True, initial=0), 1)
    return torch.as_tensor(largest.astype(np.float64))


class _SpikeCount(torch.autograd.Function):
    """``clamp(floor(V / theta), 0, cap)`` (the subtractive spike loop's count), with
    the surrogate gradient ``1 / (theta (1 + k d)^2)``, ``d`` the distance of
    ``V / theta`` from ``[1, cap]``."""

    @staticmethod
    def forward(ctx: Any, v: torch.Tensor, theta: torch.Tensor, cap: int) -> Any:
        ctx.save_for_backward(v, theta)
        ctx.cap = cap
        return torch.clamp(torch.floor(v / theta), 0, cap)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        v, theta = ctx.saved_tensors
        u = v / theta
        distance = torch.relu(1.0 - u) + torch.relu(u - ctx.cap)
        return grad / (theta * (1.0 + SURROGATE_SLOPE * distance) ** 2), None, None


def _sat(v: torch.Tensor) -> torch.Tensor:
    return torch.clamp(v, INT16_MIN, INT16_MAX)


def _dec(v: torch.Tensor, dash: torch.Tensor) -> torch.Tensor:
    """One decay step's decrement ``v >> dash`` (at least 1 for ``v > 0``), with the
    gradient of ``v 2^-dash``."""
    factor = 2.0**-dash
    smooth = v * factor
    # NOTE: scaling by a power of two is exact, so floor matches the arithmetic shift.
    exact = torch.floor(v.detach() * factor)
    exact = torch.where((exact == 0) & (v.detach() > 0), 1.0, exact)
    return smooth + (exact - smooth.detach())


class _Chip:
    """The Xylo core's step (``XyloCore.step``) on float64 tensors, differentiable
    through straight-through estimators (module docstring)."""

    def __init__(self, op: XyloCore, spec: XyloVariant) -> None:
        def reg(name: str) -> torch.Tensor:
            return torch.as_tensor(np.asarray(getattr(op, name), np.float64))

        self.nsyn = int(op.weights_in.shape[2])
        self.shifts = {
            "weights_in": 2.0**op.weight_shift_in,
            "weights_rec": 2.0**op.weight_shift_rec,
            "weights_out": 2.0**op.weight_shift_out,
        }
        self.dash_syn = torch.stack([reg("dash_syn"), reg("dash_syn_2")], 1)[
            :, : self.nsyn
        ]
        self.dash_mem = reg("dash_mem")
        self.theta = reg("threshold")
        self.bias = reg("bias")
        self.dash_syn_out = reg("dash_syn_out")
        self.dash_mem_out = reg("dash_mem_out")
        self.theta_out = reg("threshold_out")
        self.bias_out = reg("bias_out")
        self.recurrent = bool(np.any(np.asarray(op.weights_rec) != 0))
        self.v2 = spec.sim_version == 2
        self.hidden_cap = spec.max_hidden_spikes
        self.output_cap = spec.max_output_spikes

    def _integrate(
        self,
        v: torch.Tensor,
        isyn: torch.Tensor,
        dash: torch.Tensor,
        bias: torch.Tensor,
    ) -> torch.Tensor:
        if not self.v2:
            # NOTE: xylosim.v1 decays V first, then adds the currents; no bias (§2 v1).
            return _sat(v - _dec(v, dash) + isyn)
        dv = _sat(isyn - _dec(v, dash))
        return _sat(v + _sat(dv + bias))

    def run(
        self, x: torch.Tensor, weights: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Output spike counts ``(B, Nout)`` and integrated drive in thresholds
        ``sum_t (I_out + b_out) / theta_out``, for event counts ``x (B, S, Nin)``."""
        batch, steps, _ = x.shape
        nhid, nout = weights["weights_out"].shape
        w_in = (weights["weights_in"] * self.shifts["weights_in"]).flatten(1)
        w_rec = (weights["weights_rec"] * self.shifts["weights_rec"]).flatten(1)
        w_out = weights["weights_out"] * self.shifts["weights_out"]
        isyn = x.new_zeros((batch, nhid, self.nsyn))
        vmem = x.new_zeros((batch, nhid))
        spikes = x.new_zeros((batch, nhid))
        isyn_out = x.new_zeros((batch, nout))
        vmem_out = x.new_zeros((batch, nout))
        counts = x.new_zeros((batch, nout))
        drive = x.new_zeros((batch, nout))
        for t in range(steps):
            # 1-3. deliveries: this step's input events, last step's hidden spikes
            delivered = x[:, t] @ w_in
            if self.recurrent:
                delivered = delivered + spikes @ w_rec
            isyn = _sat(isyn + delivered.view(batch, nhid, self.nsyn))
            isyn_out = _sat(isyn_out + spikes @ w_out)
            # 5. hidden neurons
            isyn = isyn - _dec(isyn, self.dash_syn)
            vmem = self._integrate(vmem, isyn.sum(2), self.dash_mem, self.bias)
            spikes = _SpikeCount.apply(vmem, self.theta, self.hidden_cap)
            vmem = vmem - spikes * self.theta
            # 6. output neurons
            isyn_out = isyn_out - _dec(isyn_out, self.dash_syn_out)
            vmem_out = self._integrate(
                vmem_out, isyn_out, self.dash_mem_out, self.bias_out
            )
            fired = torch.clamp(
                torch.floor(vmem_out.detach() / self.theta_out), 0, self.output_cap
            )
            vmem_out = vmem_out - fired * self.theta_out
            counts = counts + fired
            drive = drive + (isyn_out + self.bias_out) / self.theta_out
        return counts, drive
