"""Batched, differentiable emulator of Dynap-SE2 analog neurons (current mode).

A population of ``N`` AdExp-I&F neurons with DPI synapses, simulated for ``C`` chip
instances (each with its own per-neuron parameters, e.g. mismatch draws) and ``B``
input samples at once: one tensor program, a Python loop over time only.

**Connectivity.** Weights are effective weight currents ``I_w`` in amperes,
nonnegative, one per synapse type (AMPA, NMDA, GABA, SHUNT; the sign is the dendrite's,
reference ``dynapse2.md`` §1): ``weights_in`` ``(N_in, N, 4)`` and ``weights_rec``
``(N, N, 4)``. A spike of source ``i`` drives synapse ``s`` of neuron ``j`` with
``W[i, j, s]`` for one pulse (Rockpool's ``I_w = I_scale W``: a weight of 1 at the
default 10 nA raises ``I_syn`` by 1 nA, reference §2.3). Input spikes act in their own
step; recurrent spikes one step (``dt / substeps``) later (reference §2.2).

**One step** of length ``h = dt / substeps``, per neuron, with every current clipped
below at ``I_0`` as in reference §2.1-2.2 (``I_tau`` and ``I_gain`` too):

* Synapse ``s`` (DPI, exact exponential decay plus one pulse charge, valid because
  ``h >> t_pulse``): with ``tau_s = U_T C_s / (kappa I_tau,s)``,
  ``t_pulse = V_th C_pulse / I_pulse`` and ``I_w,s = sum_i W[i, j, s] n_i``::

      I_s <- max(I_0, exp(-h / tau_s) I_s + (1 - exp(-t_pulse / tau_s)) (I_gain,s / I_tau,s) I_w,s)

* AHP, driven by the neuron's previous spikes ``n``::

      I_ahp <- max(I_0, exp(-h / tau_ahp) I_ahp
                        + (1 - exp(-t_pulse,ahp / tau_ahp)) (I_gain,ahp / I_tau,ahp) I_w,ahp n)

* Membrane (AdExp-I&F in current mode, reference §2.2)::

      I_leak = I_tau,mem + I_gaba + I_ahp
      I_in   = max(I_0, (I_ampa + I_nmda / (1 + I_f,nmda / I_mem) - I_shunt + I_dc) [timer = 0])
      I_inf  = (I_gain,mem / I_tau,mem) (I_in - I_leak)
      I_fb   = I_0^(1 / (kappa + 1)) I_mem,prev^(kappa / (kappa + 1))
      dI/dt  = kappa / (U_T C_mem) I_mem [I_leak (I_inf - I_mem (1 + I_ahp / I_tau,mem))
                                          / (I_mem + I_gain,mem) + I_fb]
      I_mem <- max(I_0, I_mem + h dI/dt)                                   (forward Euler)

  which is reference §2.2's ``I_mem / (tau_mem(I_leak) (I_mem + I_gain)) [I_inf + f -
  I_mem (1 + I_ahp / I_tau)]`` with ``f = I_fb (I_mem + I_gain) / I_leak`` multiplied
  out. ``I_mem,prev`` is the previous step's pre-reset membrane current (Rockpool's
  ``V_mem``, reference §2.2).
* Spike if ``I_mem > I_spkthr``; then ``I_mem <- I_0`` and the refractory timer gates
  ``I_in`` (synaptic and DC input) to 0 for the next ``n_ref = ceil(t_ref / h)`` steps,
  ``t_ref = V_th C_ref / I_ref`` (reference §2.2: the gate reads the previous step's
  timer).

**Modes.** ``mode="dynapse2"`` (default) is the chip's four-dendrite neuron, the
structure of Rockpool's earlier full model (reference §2.4 item 4; its saturating charge
term is not reproduced, the reference does not give it exactly), on the released
simulator's membrane equation above. ``mode="dynapsim"`` reproduces Rockpool 3.1's
released ``DynapSim`` (reference §2.2) with its simplifications (§2.4):

* **one synapse** (§2.4.3): a single DPI per neuron, with the AMPA fields' currents and
  capacitance (with the defaults, Rockpool's 10 ms, gain-100 synapse); NMDA weights act
  as AMPA ones, GABA and SHUNT weights as negative ones;
* **inhibition cannot lower the synapse** (§2.4.2): the DPI charges with
  ``max(I_0, (I_gain / I_tau) I_w,net)``, ``I_w,net`` the signed sum, so inhibition
  only cancels excitation arriving in the same step (and the ``I_0`` floor charges
  every step); ``dynapse2`` has GABA add to the leak and SHUNT subtract from the input;
* **the leak is subtracted twice** (§2.4.1): ``I_in = max(I_0, (I_syn - I_leak + I_dc)
  [timer = 0])`` with ``I_leak = I_tau,mem + I_ahp``, then again in ``I_inf``;
  ``dynapse2`` subtracts it once, in ``I_inf``;
* no NMDA gating; and Rockpool's spike count ``max(0, ceil(ln(I_mem / I_spkthr)))``,
  which can exceed 1 per step, where ``dynapse2`` emits at most one spike per step (the
  reset is followed by at least one refractory step, so a second spike in the same step
  would contradict the refractory model; use ``substeps`` for rates near ``1 / h``).

**Differentiability.** Spikes have a surrogate gradient: forward as above, backward
``d n / d x = 1 / (1 + k |x|)^2`` (fast sigmoid) in ``x = ln(I_mem / I_spkthr)``
(``k = surrogate_slope``). The reset and the refractory gate are not differentiated
(they use the detached spike). Parameters given as torch tensors with
``requires_grad`` receive gradients too. Gradients with respect to currents in amperes
are large (they scale as ``1 / A``, and the exponential membrane can amplify them
through time): parametrize trainable currents in nA or in log space, and clip.

**Engines.** ``engine="fast"`` (default) runs the compiled kernels of
``backends.dynapse.kernel`` (the same equations, float32; event-driven delivery; a
compiled reverse pass for gradients; threads over the (chip, sample) sequences, see
``DynapseEmulator``'s ``threads``); an input raster that requires grad takes the
reference engine. ``engine="reference"`` is the torch step below, the straightforward
implementation the tests compare the fast engine with.

**Inference path** (reference engine). Without any tensor requiring grad (or under
``torch.no_grad``) a run builds no autograd graph, delivers recurrent spikes by a
sparse (COO) matrix product, and updates the neurons in cache-sized blocks written
into preallocated state and output buffers (the same step function as the gradient
path, on row slices), on one thread: it sets ``torch.set_num_threads(1)`` and restores
the previous count when it returns.

**Layout** (reference engine). States are stored neuron-major ``(N, C, B)``; outputs are returned as
``(C, B, T, N)`` views of ``(T, N, C, B)`` buffers (call ``.contiguous()`` if needed).
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import torch

from backends.dynapse.params import SYNAPSE_TYPES, DynapseParams

__all__ = [
    "MODES",
    "reuse_buffers",
    "DELIVERIES",
    "ENGINES",
    "SURROGATE_SLOPE",
    "DynapseRun",
    "DynapseEmulator",
    "simulate",
]

Mode = Literal["dynapse2", "dynapsim"]
Delivery = Literal["auto", "dense", "sparse"]
Engine = Literal["fast", "reference"]
MODES: tuple[str, ...] = ("dynapse2", "dynapsim")
DELIVERIES: tuple[str, ...] = ("auto", "dense", "sparse")
ENGINES: tuple[str, ...] = ("fast", "reference")
SURROGATE_SLOPE = 1.0
"""Default slope ``k`` of the fast-sigmoid surrogate in ``ln(I_mem / I_spkthr)``."""

_AMPA, _NMDA, _GABA, _SHUNT = range(4)
_TIME_CHUNK = 64  # input steps whose currents are computed by one matmul
_BLOCK_ELEMENTS = 65536  # state elements per block on the inference path (cache-sized)
_TRAJECTORIES = ("isyn", "iahp", "imem", "logm", "timer", "spk", "iw")
"""The states a gradient run saves per substep, in ``kernel.forward``'s order."""
_GRAD_CHUNKS = 8  # sequence chunks of a fast gradient run (see _FastRun.forward)
_GRAD_BUDGET = 256 * 2**20  # bytes of the chunks' dense weight gradients
_REF_TOLERANCE = 1e-6  # relative slack in ceil(t_ref / h): 1 ms / 1 ms is 1 step


class _SpikeSurrogate(torch.autograd.Function):
    """Spike count of ``x = ln(I_mem / I_spkthr)``; fast-sigmoid derivative."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, slope: float, multi: bool) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.slope = slope
        return _spike_count(x, multi)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (x,) = ctx.saved_tensors
        return grad / (1.0 + ctx.slope * x.abs()) ** 2, None, None


def _spike_count(x: torch.Tensor, multi: bool) -> torch.Tensor:
    """Spikes in a step: ``[x > 0]``, or Rockpool's ``max(0, ceil(x))`` (§2.2)."""
    # NOTE: one spike at most outside dynapsim mode: after a reset the neuron is
    # refractory for at least one step (n_ref >= 1), so it cannot fire again in this one.
    if multi:
        return torch.ceil(x).clamp_min(0.0)
    return (x > 0).to(x.dtype)


@dataclass(frozen=True, eq=False)
class DynapseRun:
    """The result of one emulator run.

    Attributes:
        spikes: spike counts per step, ``(C, B, T, N)`` float32.
        imem: membrane current after the step (after reset), A, ``(C, B, T, N)``
            (``(C, B, T, M)`` for the ``M`` neurons of a ``record`` slice);
            ``None`` unless recorded.
        isyn: synaptic currents, A, ``(C, B, T, N, S)`` with ``S = 4`` in
            :data:`SYNAPSE_TYPES` order (``dynapse2``) or ``S = 1`` (``dynapsim``).
        iahp: AHP current, A, ``(C, B, T, N)``.
    """

    spikes: torch.Tensor
    imem: torch.Tensor | None = None
    isyn: torch.Tensor | None = None
    iahp: torch.Tensor | None = None


@dataclass(frozen=True, eq=False)
class _Constants:
    """Per-neuron constants of one run, float32, ``(N, C, 1)`` (``syn_*``: ``(S, N, C, 1)``).

    ``types`` are the synapse types simulated (rows of ``syn_*`` and of the state's
    ``isyn``); a type without weights stays at ``I_0``, folded into ``leak_const`` and
    ``drive_const``.
    """

    types: tuple[int, ...]
    dynapsim: bool
    one: torch.Tensor  # 0-d 1.0, for addcmul
    i0: torch.Tensor
    syn_decay: torch.Tensor  # exp(-h / tau_s)
    syn_pulse: torch.Tensor  # 1 - exp(-t_pulse / tau_s)
    syn_charge: torch.Tensor  # (1 - exp(-t_pulse / tau_s)) I_gain,s / I_tau,s
    syn_gain: torch.Tensor  # I_gain,s / I_tau,s
    ahp_decay: torch.Tensor
    ahp_charge: torch.Tensor  # AHP jump per output spike, A
    leak_const: torch.Tensor  # I_tau,mem (+ I_0 of an unused GABA), A
    drive_const: torch.Tensor  # I_dc (+ I_0 of unused AMPA, - I_0 of unused SHUNT), A
    inv_itau_mem: torch.Tensor
    igain_mem: torch.Tensor
    gain_mem: torch.Tensor  # I_gain,mem / I_tau,mem
    if_nmda: torch.Tensor
    euler: torch.Tensor  # h kappa / (U_T C_mem), 1 / A
    fb_offset: torch.Tensor  # ln(I_0) / (kappa + 1)
    fb_slope: torch.Tensor  # kappa / (kappa + 1)
    log_spkthr: torch.Tensor
    n_ref: torch.Tensor  # refractory steps (float, no grad)

    def block(self, lo: int, hi: int, batch: int) -> _Constants:
        """The constants of neurons ``lo:hi``, materialized to ``(hi - lo, C, B)``.

        Broadcasting a ``(..., 1)`` constant over a short innermost batch axis is
        many times slower in torch's CPU kernels than a contiguous operand.
        """
        sliced: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, torch.Tensor) or v.ndim == 0:
                sliced[f.name] = v
            elif f.name.startswith("syn_"):
                sliced[f.name] = _full(v[:, lo:hi], batch)
            else:
                sliced[f.name] = _full(v[lo:hi], batch)
        return _Constants(**sliced)


@dataclass(eq=False)
class _State:
    """Neuron states, ``(N, C, B)`` (``isyn``: ``(S, N, C, B)``)."""

    isyn: torch.Tensor
    iahp: torch.Tensor
    imem: torch.Tensor
    log_mem: torch.Tensor  # ln(I_mem) before the reset: Rockpool's V_mem (§2.2)
    timer: torch.Tensor  # refractory steps left
    spikes: torch.Tensor  # spikes of the last step

    def rows(self, lo: int, hi: int) -> _State:
        """Views of neurons ``lo:hi``."""
        return _State(
            self.isyn[:, lo:hi],
            *(getattr(self, f.name)[lo:hi] for f in fields(self)[1:]),
        )


class WeightShapes:
    """``n_inputs`` and ``n_neurons`` of a network read from its input weights
    ``weights_in`` ``(N_in, N, 4)`` (the emulator and the decoded configuration)."""

    weights_in: torch.Tensor | np.ndarray

    @property
    def n_inputs(self) -> int:
        """Input channels ``N_in``."""
        return int(self.weights_in.shape[0])

    @property
    def n_neurons(self) -> int:
        """Neurons ``N``."""
        return int(self.weights_in.shape[1])


class DynapseEmulator(WeightShapes):
    """Dynap-SE2 analog neurons, batched over chips and samples (see module docstring).

    Args:
        params: per-neuron parameters; fields scalar, ``(N,)`` or ``(C, N)`` (``C``
            chip instances, e.g. from ``mismatch.draw_chips``).
        weights_in: input weight currents ``(N_in, N, 4)``, amperes, >= 0.
        weights_rec: recurrent weight currents ``(N, N, 4)`` (source, target, type),
            amperes, >= 0; ``None`` for none.
        dt: time bin of the input and output rasters, seconds.
        substeps: integration steps per bin (``h = dt / substeps``); input spikes
            charge the synapses at the first substep, output counts sum the substeps.
        mode: ``"dynapse2"`` (four dendrites) or ``"dynapsim"`` (Rockpool 3.1).
        delivery: how recurrent spikes are delivered: ``"dense"`` matmul,
            ``"sparse"`` (COO matrix; inference only, the gradient path is dense) or
            ``"auto"`` (sparse when the recurrent matrix is at most 25 % dense).
        surrogate_slope: slope ``k`` of the surrogate gradient.
        engine: ``"fast"`` (default; the compiled kernels of ``kernel``, both for
            inference and gradients) or ``"reference"`` (the torch step, one tensor
            program per step: the straightforward implementation the tests compare
            the fast engine with; ``delivery`` applies to it only).
        threads: threads the fast engine splits the (chip, sample) sequences over;
            ``None``: the CPUs this process may use, at most one per sequence.
    """

    weights_in: torch.Tensor

    def __init__(
        self,
        params: DynapseParams,
        weights_in: torch.Tensor | np.ndarray,
        weights_rec: torch.Tensor | np.ndarray | None = None,
        *,
        dt: float = 1e-3,
        substeps: int = 1,
        mode: Mode = "dynapse2",
        delivery: Delivery = "auto",
        surrogate_slope: float = SURROGATE_SLOPE,
        engine: Engine = "fast",
        threads: int | None = None,
    ) -> None:
        if not (math.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be finite and > 0 seconds; got {dt!r}")
        if not (isinstance(substeps, int) and substeps >= 1):
            raise ValueError(f"substeps must be an integer >= 1; got {substeps!r}")
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid: {list(MODES)}")
        if delivery not in DELIVERIES:
            raise ValueError(
                f"unknown delivery {delivery!r}; valid: {list(DELIVERIES)}"
            )
        if not (math.isfinite(surrogate_slope) and surrogate_slope >= 0):
            raise ValueError(f"surrogate_slope must be >= 0; got {surrogate_slope!r}")
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; valid: {list(ENGINES)}")
        if threads is not None and not (isinstance(threads, int) and threads >= 1):
            raise ValueError(
                f"threads must be an integer >= 1 or None; got {threads!r}"
            )
        self.weights_in = _as_weights("weights_in", weights_in, None)
        n_neurons = self.weights_in.shape[1]
        self.weights_rec = (
            None
            if weights_rec is None
            else _as_weights("weights_rec", weights_rec, (n_neurons, n_neurons))
        )
        self.params = params
        self.n_chips = _param_chips(params, n_neurons)
        self.dt = dt
        self.substeps = substeps
        self.mode: Mode = mode
        self.delivery: Delivery = delivery
        self.surrogate_slope = surrogate_slope
        self.engine: Engine = engine
        self.threads = threads
        self._csr_cache: tuple[Any, Any] | None = None

    def run(
        self, spikes_in: torch.Tensor | np.ndarray, *, record: bool | slice = False
    ) -> DynapseRun:
        """Simulate an input raster; return output spikes (and states if ``record``).

        Args:
            spikes_in: input spike counts, ``(B, T, N_in)`` (the same for every chip)
                or ``(C, B, T, N_in)`` (one raster per chip), >= 0.
            record: also return ``imem``, ``isyn`` and ``iahp`` per step: of every
                neuron (``True``) or of the neurons of a slice (``slice(64, 74)``:
                those ten; the fast engine then neither writes the others' states
                nor takes gradients for them, e.g. a readout from the outputs).

        Returns:
            :class:`DynapseRun` with ``spikes`` ``(C, B, T, N)``, where ``C`` is the
            chip count of the parameters or of the input (they must agree, or one be 1).
        """
        x = _as_input(spikes_in, self.n_inputs)
        recorded = _recorded(record, self.n_neurons)
        if x.shape[0] not in (1, self.n_chips) and self.n_chips != 1:
            raise ValueError(
                f"spikes_in has {x.shape[0]} chips but the parameters have "
                f"{self.n_chips}; they must agree or one be 1"
            )
        n_chips = max(self.n_chips, int(x.shape[0]))
        tensors = [x, self.weights_in, self.weights_rec]
        tensors += [getattr(self.params, name) for name in self.params.names()]
        grad = torch.is_grad_enabled() and any(
            isinstance(v, torch.Tensor) and v.requires_grad for v in tensors
        )
        fast = self.engine == "fast" and not x.requires_grad
        if fast and grad:
            return self._run_fast(x, n_chips, grad=True, recorded=recorded)
        if fast:
            with torch.no_grad():
                return self._run_fast(x, n_chips, grad=False, recorded=recorded)
        if grad:
            run = self._run(x, n_chips, grad=True, record=recorded is not None)
        else:
            with torch.no_grad(), _single_thread():
                run = self._run(x, n_chips, grad=False, record=recorded is not None)
        if recorded is None or recorded == range(self.n_neurons):
            return run
        return _select(run, recorded)

    # --- the time loop ---------------------------------------------------------------

    def _run(
        self, x: torch.Tensor, n_chips: int, *, grad: bool, record: bool
    ) -> DynapseRun:
        n, steps = self.n_neurons, int(x.shape[2])
        c_in, batch = int(x.shape[0]), int(x.shape[1])
        k = _constants(
            self.params,
            n,
            n_chips,
            self.dt / self.substeps,
            self._types(grad),
            self.mode,
        )
        s = len(k.types)
        w_in = self._projection(self.weights_in, k.types)  # (S N, N_in)
        w_rec = None
        if self.weights_rec is not None:
            w_rec = self._recurrent(self.weights_rec, k.types, grad)
        shape = (n, n_chips, batch)
        state = _State(
            isyn=k.i0.expand((s, *shape)).clone(),
            iahp=k.i0.expand(shape).clone(),
            imem=k.i0.expand(shape).clone(),
            log_mem=torch.log(k.i0).expand(shape).clone(),  # V_mem = 0 (§2.2)
            timer=torch.zeros(shape),
            spikes=torch.zeros(shape),
        )
        # NOTE: gradients need the whole state per step (autograd keeps each one);
        # inference updates cache-sized row blocks of preallocated tensors in place.
        rows = n if grad else max(1, _BLOCK_ELEMENTS // (n_chips * batch))
        blocks = [(lo, min(n, lo + rows)) for lo in range(0, n, rows)]
        block_k = [k.block(lo, hi, batch) for lo, hi in blocks]
        out = _Outputs(steps, state, self.substeps, grad=grad, record=record)
        for t0 in range(0, steps, _TIME_CHUNK):
            chunk = x[:, :, t0 : t0 + _TIME_CHUNK]
            tc = int(chunk.shape[2])
            xt = chunk.permute(2, 3, 0, 1).reshape(tc, self.n_inputs, c_in * batch)
            drive_in = torch.matmul(w_in, xt).view(tc, s, n, c_in, batch)
            for t in range(t0, t0 + tc):
                for sub in range(self.substeps):
                    inp = drive_in[t - t0] if sub == 0 else None
                    rec = None
                    if w_rec is not None:
                        rec = (w_rec @ state.spikes.reshape(n, -1)).view(s, *shape)
                    if grad:
                        state = self._step(state, inp, rec, block_k[0], grad=True)
                        out.add(t, sub, state)
                        continue
                    for (lo, hi), kb in zip(blocks, block_k, strict=True):
                        view = state.rows(lo, hi)
                        self._step(
                            view,
                            None if inp is None else inp[:, lo:hi],
                            None if rec is None else rec[:, lo:hi],
                            kb,
                            grad=False,
                            into=view,
                        )
                        out.add(t, sub, view, lo, hi)
        return out.result(k)

    def _run_fast(
        self, x: torch.Tensor, n_chips: int, *, grad: bool, recorded: range | None
    ) -> DynapseRun:
        """The fast engine (``kernel``); differentiable when ``grad``; the states of
        the neurons ``recorded`` (``None``: none)."""
        n = self.n_neurons
        csr = None
        if grad:
            types = self._grad_types(n_chips)
        else:
            # NOTE: inference never builds the dense (S N, N) projection: the event
            # lists come straight from the weights' nonzeros, once per weights.
            types, *lists = self._event_lists()
            csr = (lists[0], lists[1])
        k = _constants(
            self.params, n, n_chips, self.dt / self.substeps, types, self.mode
        )
        if grad:
            w_in = self._projection(self.weights_in, k.types)  # (S N, N_in)
            w_rec = (
                self._projection(self.weights_rec, k.types)
                if self.weights_rec is not None
                else w_in.new_zeros((w_in.shape[0], n))
            )
        else:
            w_in = w_rec = torch.zeros(0)
        rows = [-1] * len(SYNAPSE_TYPES)
        for r, syn in enumerate(k.types):
            rows[syn] = r
        plan = _Plan(
            x=np.ascontiguousarray(x.detach().numpy()),
            n_batch=int(x.shape[1]),
            n_chips=n_chips,
            n_syn=len(k.types),
            rows=np.asarray([0, -1, -1, -1] if k.dynapsim else rows, np.int64),
            dynapsim=k.dynapsim,
            substeps=self.substeps,
            recorded=range(0) if recorded is None else recorded,
            slope=self.surrogate_slope,
            threads=_thread_count(self.threads, n_chips * int(x.shape[1])),
            csr=csr,
        )
        table = _kernel_table(k)
        outputs = _FastRun.apply(table, w_in, w_rec, plan)
        spikes, imem, isyn, iahp = outputs
        record = recorded is not None
        return DynapseRun(
            spikes=spikes,
            imem=imem if record else None,
            isyn=isyn if record else None,
            iahp=iahp if record else None,
        )

    def _event_lists(self) -> tuple[tuple[int, ...], _Csr, _Csr]:
        """Synapse types to simulate (``_types``) and the input and recurrent fan-out
        lists (``_csr``) of the current weights, cached while they are unchanged."""
        key = tuple(
            (id(w), w._version) if w is not None else None
            for w in (self.weights_in, self.weights_rec)
        )
        if self._csr_cache is None or self._csr_cache[0] != key:
            types = self._types(False)
            w_in, w_rec = (
                _fanout(w, types, self.mode == "dynapsim", self.n_neurons)
                for w in (self.weights_in, self.weights_rec)
            )
            self._csr_cache = (key, (types, w_in, w_rec))
        cached: tuple[tuple[int, ...], _Csr, _Csr] = self._csr_cache[1]
        return cached

    def _step(
        self,
        st: _State,
        inp: torch.Tensor | None,
        rec: torch.Tensor | None,
        k: _Constants,
        *,
        grad: bool,
        into: _State | None = None,
    ) -> _State:
        """One step ``h`` for the neurons in ``st``.

        Returns new tensors, or with ``into`` (inference) writes each result's last op
        into ``into``'s tensors, which may be ``st``'s own: every state is read
        before it is overwritten.
        """

        def o(name: str) -> torch.Tensor | None:
            return None if into is None else getattr(into, name)

        isyn = _synapse_step(st.isyn, inp, rec, k, o("isyn"))
        iahp = torch.clamp_min(
            torch.addcmul(k.ahp_decay * st.iahp, k.ahp_charge, st.spikes),
            k.i0,
            out=o("iahp"),
        )
        imem = _membrane_step(st.imem, isyn, iahp, st.log_mem, st.timer, k)
        log_mem = torch.log(imem, out=o("log_mem"))
        if grad:
            x = log_mem - k.log_spkthr
            spikes = _SpikeSurrogate.apply(x, self.surrogate_slope, k.dynapsim)
        elif k.dynapsim:
            x = log_mem - k.log_spkthr
            spikes = torch.clamp_min(torch.ceil(x), 0.0, out=o("spikes"))
        else:
            spikes = torch.gt(log_mem, k.log_spkthr, out=o("spikes"))
            if into is None:
                spikes = spikes.to(log_mem.dtype)
        fired = spikes.detach().clamp_max(1.0) if k.dynapsim else spikes.detach()
        # lerp(a, b, 1) is exactly b and lerp(a, b, 0) exactly a: a select, fused.
        timer = torch.lerp(
            torch.clamp_min(st.timer - 1.0, 0.0), k.n_ref, fired, out=o("timer")
        )
        imem = torch.lerp(imem, k.i0, fired, out=o("imem"))
        return _State(isyn, iahp, imem, log_mem, timer, spikes)

    # --- connectivity ----------------------------------------------------------------

    def _types(self, grad: bool) -> tuple[int, ...]:
        """Synapse types to simulate: those with any weight (all four with gradients;
        the fast engine's: ``_grad_types``)."""
        if self.mode == "dynapsim":
            return (_AMPA,)
        if grad:
            return tuple(range(len(SYNAPSE_TYPES)))
        used = self.weights_in.detach().ne(0).any(dim=0).any(dim=0)
        if self.weights_rec is not None:
            used |= self.weights_rec.detach().ne(0).any(dim=0).any(dim=0)
        return tuple(i for i in range(len(SYNAPSE_TYPES)) if bool(used[i]))

    def _grad_types(self, n_chips: int) -> tuple[int, ...]:
        """Synapse types a differentiable fast run simulates: those with weights,
        when every other one provably rests at ``I_0`` (all four otherwise).

        Exact: a type without weights decays below ``I_0`` every step (``exp(-h /
        tau) I_0 < I_0`` in float32, checked here), so its clamp holds it at ``I_0``
        and passes no gradient to its weights or constants, as in the reference; its
        ``I_0`` enters the run through the folded constants instead (``_constants``).
        """
        used = self._types(False)
        if self.mode == "dynapsim" or len(used) == len(SYNAPSE_TYPES):
            return used
        unused = tuple(t for t in range(len(SYNAPSE_TYPES)) if t not in used)
        h = self.dt / self.substeps
        with torch.no_grad():
            k = _constants(self.params, self.n_neurons, n_chips, h, unused, self.mode)
            rests = bool((k.syn_decay * k.i0 < k.i0).all())
        return used if rests else self._types(True)

    def _projection(self, w: torch.Tensor, types: tuple[int, ...]) -> torch.Tensor:
        """``(S N, sources)``: row ``s N + j`` holds target ``j``'s type-``s`` weights."""
        if self.mode == "dynapsim":
            # NOTE: Rockpool's single DPI sees the signed sum (reference §2.4.2-3).
            net = w[..., _AMPA] + w[..., _NMDA] - w[..., _GABA] - w[..., _SHUNT]
            return net.t().contiguous()
        if not types:
            return w.new_zeros((0, w.shape[0]))
        sel = w[..., list(types)]
        return sel.permute(2, 1, 0).reshape(len(types) * w.shape[1], w.shape[0])

    def _recurrent(
        self, weights: torch.Tensor, types: tuple[int, ...], grad: bool
    ) -> torch.Tensor:
        """The recurrent projection, as a sparse COO matrix where that pays."""
        w = self._projection(weights, types)
        if grad or self.delivery == "dense" or w.numel() == 0:
            return w
        if self.delivery == "auto" and float(w.ne(0).float().mean()) > 0.25:
            return w
        return w.detach().to_sparse_coo().coalesce()


def simulate(
    params: DynapseParams,
    weights_in: torch.Tensor | np.ndarray,
    spikes_in: torch.Tensor | np.ndarray,
    weights_rec: torch.Tensor | np.ndarray | None = None,
    *,
    dt: float = 1e-3,
    substeps: int = 1,
    mode: Mode = "dynapse2",
    record: bool | slice = False,
) -> DynapseRun:
    """One-call form of ``DynapseEmulator(params, weights_in, weights_rec, ...).run``."""
    emulator = DynapseEmulator(
        params, weights_in, weights_rec, dt=dt, substeps=substeps, mode=mode
    )
    return emulator.run(spikes_in, record=record)


def _recorded(record: bool | slice, n_neurons: int) -> range | None:
    """The neurons ``run``'s ``record`` names, or ``None``; ``ValueError`` for a slice
    with a step or out of ``0 .. n_neurons``."""
    if isinstance(record, slice):
        if record.step not in (None, 1):
            raise ValueError(f"record: a slice of neurons with step 1; got {record}")
        start, stop, _ = record.indices(n_neurons)
        if not 0 <= start < stop <= n_neurons:
            raise ValueError(
                f"record: {record} names no neuron of the {n_neurons} neurons"
            )
        return range(start, stop)
    return range(n_neurons) if record else None


def _select(run: DynapseRun, recorded: range) -> DynapseRun:
    """``run`` with its recorded states cut to the neurons ``recorded``."""
    cut = slice(recorded.start, recorded.stop)

    def part(v: torch.Tensor | None) -> torch.Tensor | None:
        return None if v is None else v[:, :, :, cut]

    return DynapseRun(
        spikes=run.spikes, imem=part(run.imem), isyn=part(run.isyn), iahp=part(run.iahp)
    )


class _Outputs:
    """Per-step outputs: preallocated ``(T, N, C, B)`` buffers on the inference path,
    lists of step tensors on the gradient path (autograd needs every one)."""

    def __init__(
        self, steps: int, state: _State, substeps: int, *, grad: bool, record: bool
    ) -> None:
        self.grad, self.last = grad, substeps - 1
        self.names = ("spikes", "imem", "isyn", "iahp") if record else ("spikes",)
        self.lists: dict[str, list[torch.Tensor]] = {name: [] for name in self.names}
        self.buffers = {
            name: getattr(state, name).new_empty((steps, *getattr(state, name).shape))
            for name in (() if grad else self.names)
        }
        self.count = state.spikes

    def add(
        self, t: int, sub: int, st: _State, lo: int = 0, hi: int | None = None
    ) -> None:
        """Take the state after substep ``sub`` of step ``t`` (neurons ``lo:hi``)."""
        if self.grad:
            self.count = st.spikes if sub == 0 else self.count + st.spikes
            if sub == self.last:
                for name in self.names:
                    value = self.count if name == "spikes" else getattr(st, name)
                    self.lists[name].append(value)
            return
        for name in self.names:
            if name != "spikes" and sub != self.last:
                continue
            target = self.buffers[name][t]
            target = target[:, lo:hi] if name == "isyn" else target[lo:hi]
            if name == "spikes" and sub > 0:
                target.add_(st.spikes)
            else:
                target.copy_(getattr(st, name))

    def result(self, k: _Constants) -> DynapseRun:
        """The recorded tensors as ``(C, B, T, N)`` views (``isyn``: ``(C, B, T, N, S)``)."""
        got = {
            name: self.buffers[name] if not self.grad else torch.stack(self.lists[name])
            for name in self.names
        }
        isyn = got.get("isyn")
        if isyn is not None and not k.dynapsim and len(k.types) < len(SYNAPSE_TYPES):
            full = k.i0.expand(isyn.shape[2:]).repeat(
                isyn.shape[0], len(SYNAPSE_TYPES), 1, 1, 1
            )
            full[:, list(k.types)] = isyn
            isyn = full
        return DynapseRun(
            spikes=got["spikes"].permute(2, 3, 0, 1),
            imem=got["imem"].permute(2, 3, 0, 1) if "imem" in got else None,
            isyn=isyn.permute(3, 4, 0, 2, 1) if isyn is not None else None,
            iahp=got["iahp"].permute(2, 3, 0, 1) if "iahp" in got else None,
        )


# --- one step ----------------------------------------------------------------------


def _synapse_step(
    isyn: torch.Tensor,
    inp: torch.Tensor | None,
    rec: torch.Tensor | None,
    k: _Constants,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """DPI update: exact decay over the step plus one pulse charge (reference §2.2)."""
    iw = rec if inp is None else (inp if rec is None else inp + rec)
    if k.dynapsim:
        # NOTE: Rockpool rectifies the net weighted input before charging, so the DPI
        # gains at least the I_0 floor's pulse every step (reference §2.2, §2.4.2).
        target = k.i0 if iw is None else torch.clamp_min(k.syn_gain * iw, k.i0)
        return torch.addcmul(k.syn_decay * isyn, k.syn_pulse, target, out=out)
    decayed = k.syn_decay * isyn
    if iw is not None:
        decayed = torch.addcmul(decayed, k.syn_charge, iw)
    return torch.clamp_min(decayed, k.i0, out=out)


def _membrane_step(
    imem: torch.Tensor,
    isyn: torch.Tensor,
    iahp: torch.Tensor,
    log_prev: torch.Tensor,
    timer: torch.Tensor,
    k: _Constants,
) -> torch.Tensor:
    """Forward-Euler step of the AdExp-I&F membrane current (reference §2.2)."""
    leak = k.leak_const + iahp
    if k.dynapsim:
        # NOTE: Rockpool subtracts the leak here and again in I_inf (reference §2.4.1).
        drive = isyn[0] - leak + k.drive_const
    else:
        row = {syn: i for i, syn in enumerate(k.types)}
        if _GABA in row:
            leak = leak + isyn[row[_GABA]]
        nmda = isyn[row[_NMDA]] if _NMDA in row else k.i0
        # NMDA gating I_nmda / (1 + I_f,nmda / I_mem) (reference §2.4.4)
        drive = k.drive_const + nmda * imem / (imem + k.if_nmda)
        if _AMPA in row:
            drive = drive + isyn[row[_AMPA]]
        if _SHUNT in row:
            drive = drive - isyn[row[_SHUNT]]
    # timer counts whole steps, so 1 - timer is 1 when open and <= 0 when blocked.
    i_in = torch.clamp_min(drive * torch.clamp_min(1.0 - timer, 0.0), k.i0)
    i_inf = k.gain_mem * (i_in - leak)
    i_fb = torch.exp(torch.addcmul(k.fb_offset, k.fb_slope, log_prev))
    relax = imem * torch.addcmul(k.one, iahp, k.inv_itau_mem)
    rate = leak * (i_inf - relax) / (imem + k.igain_mem) + i_fb
    return torch.clamp_min(imem * torch.addcmul(k.one, k.euler, rate), k.i0)


# --- the fast engine ---------------------------------------------------------------


_Csr = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True, eq=False)
class _Plan:
    """What a fast run needs besides the differentiable tensors."""

    x: np.ndarray  # (C_in, B, T, N_in) float32
    n_batch: int
    n_chips: int
    n_syn: int
    rows: np.ndarray  # row of AMPA, NMDA, GABA, SHUNT in the state's isyn, or -1
    dynapsim: bool
    substeps: int
    recorded: range  # the neurons whose states are recorded (empty: none)
    slope: float
    threads: int
    csr: tuple[_Csr, _Csr] | None  # input and recurrent fan-out; None: from w_in/w_rec


def _fanout(
    w: torch.Tensor | None, types: tuple[int, ...], dynapsim: bool, n: int
) -> _Csr:
    """``_csr`` of the projection of weights ``(sources, N, 4)``, from its nonzeros."""
    if w is None:  # no recurrent weights: N sources without fan-out
        return np.zeros(n + 1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    values = w.detach().numpy()
    if dynapsim:
        net = values[..., _AMPA] + values[..., _NMDA]
        net = net - values[..., _GABA] - values[..., _SHUNT]
        src, dst = np.nonzero(net)
        target, val = dst, net[src, dst]
    else:
        row = np.full(len(SYNAPSE_TYPES), -1, np.int64)
        row[list(types)] = np.arange(len(types))
        src, dst, syn = np.nonzero(values)
        keep = row[syn] >= 0
        src, dst, syn = src[keep], dst[keep], syn[keep]
        target, val = row[syn] * n + dst, values[src, dst, syn]
    ptr = np.zeros(values.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=values.shape[0]), out=ptr[1:])
    return ptr, target.astype(np.int64), val.astype(np.float32)


def _kernel_table(k: _Constants) -> torch.Tensor:
    """The constants as the kernels read them: ``(C, F, N)`` float32 (differentiable)."""
    from backends.dynapse import kernel

    rows = [getattr(k, name)[..., 0].t() for name in kernel.FIELDS]
    for s in range(len(k.types)):
        rows += [getattr(k, name)[s, ..., 0].t() for name in kernel.SYN_FIELDS]
    return torch.stack(rows, dim=1).to(torch.float32).contiguous()


def _csr(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows by source of ``w`` ``(targets, sources)``: ``ptr``, target ``idx``, ``val``."""
    by_source = np.ascontiguousarray(w.T)
    src, idx = np.nonzero(by_source)
    ptr = np.zeros(by_source.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=by_source.shape[0]), out=ptr[1:])
    return ptr, idx.astype(np.int64), by_source[src, idx].astype(np.float32)


def _thread_count(requested: int | None, sequences: int) -> int:
    """Threads for a fast run (``DynapseEmulator``'s ``threads``)."""
    if requested is None:
        # NOTE: sequences share nothing within a run, so threads never wait on each
        # other per step (the cost torch's per-op thread pool paid on this shared
        # 2-core machine); a thread that loses its core only delays its own share.
        try:
            requested = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not on Linux
            requested = os.cpu_count() or 1
    return max(1, min(requested, sequences))


def _chunks(total: int, parts: int) -> list[np.ndarray]:
    return [c for c in np.array_split(np.arange(total), parts) if c.size]


def _map(fn: Any, tasks: list[Any], threads: int) -> list[Any]:
    """``fn`` over ``tasks``, on ``threads`` threads (the kernels release the GIL)."""
    if threads == 1 or len(tasks) == 1:
        return [fn(task) for task in tasks]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(fn, tasks))


class _Pool(threading.local):
    """The trajectory buffers kept for reuse by ``reuse_buffers``, per thread."""

    active = False
    key: tuple[int, ...] = ()
    tr: dict[str, np.ndarray] | None = None


_POOL = _Pool()


@contextmanager
def reuse_buffers() -> Iterator[None]:
    """Within the block, a gradient run of the fast engine reuses the trajectory
    buffers of the previous one of this thread (same shapes) once no autograd graph
    holds them any more (free the last step's loss before the next run), instead of
    allocating fresh ones; the buffers are released when the block exits.

    NOTE: fresh buffers cost retune's steps (74 neurons, 8 chips x 32 samples x 100
    steps: 69 MB of trajectories) about a fifth of their CPU time in page faults,
    measured. Results are the same either way: every element a backward pass reads
    is written by its forward run.
    """
    was = _POOL.active
    _POOL.active = True
    try:
        yield
    finally:
        _POOL.active = was
        if not was:
            _POOL.tr, _POOL.key = None, ()


def _trajectories(q: int, u: int, rows: int, n: int) -> dict[str, np.ndarray]:
    """``kernel.forward``'s trajectory buffers: ``q`` sequences, ``u`` states,
    ``rows`` synapse rows, ``n`` neurons (``reuse_buffers``)."""
    key = (q, u, rows, n)
    pool = _POOL
    # NOTE: referenced by the pool and by getrefcount's argument only: no autograd
    # context (ctx.tr) holds them, so the run that wrote them is over.
    if pool.active and pool.key == key and sys.getrefcount(pool.tr) == 2:
        assert pool.tr is not None
        return pool.tr
    tr = {
        "isyn": np.empty((q, u, rows, n), np.float32),
        "iw": np.empty((q, u, rows, n), np.float32),
        **{
            name: np.empty((q, u, n), np.float32)
            for name in ("iahp", "imem", "logm", "timer", "spk")
        },
    }
    if pool.active and q * u > 1:
        pool.tr, pool.key = tr, key
    return tr


class _FastRun(torch.autograd.Function):
    """One fast run: forward by ``kernel.forward``, gradients by ``kernel.backward``."""

    @staticmethod
    def forward(
        ctx: Any,
        table: torch.Tensor,
        w_in: torch.Tensor,
        w_rec: torch.Tensor,
        plan: _Plan,
    ) -> tuple[torch.Tensor, ...]:
        from backends.dynapse import kernel as compiled

        kernel: Any = compiled
        k_all = table.detach().numpy()
        win, wrec = w_in.detach().numpy(), w_rec.detach().numpy()
        in_csr, rec_csr = plan.csr if plan.csr else (_csr(win), _csr(wrec))
        c, b, steps = plan.n_chips, plan.n_batch, int(plan.x.shape[2])
        n, ns = int(k_all.shape[2]), plan.n_syn
        spikes = np.empty((c, b, steps, n), np.float32)
        record = len(plan.recorded) > 0
        shape = (c, b, steps, len(plan.recorded)) if record else (1, 1, 1, 1)
        imem, iahp = np.empty(shape, np.float32), np.empty(shape, np.float32)
        n_out = (1 if plan.dynapsim else len(SYNAPSE_TYPES)) if record else 1
        isyn = np.empty((*shape, n_out), np.float32)
        save = ctx.needs_input_grad[0] or any(ctx.needs_input_grad[1:3])
        u = steps * plan.substeps + 1 if save else 1
        q = c * b if save else 1
        tr = _trajectories(q, u, max(ns, 1), n) if save else _trajectories(1, 1, 1, n)
        # Threads take sequences from a queue of small chunks (a thread that loses
        # its core delays only its chunk). Each chunk owns its slice of a gradient
        # run's trajectories and sums its own weight gradients (float64, dense): at
        # most _GRAD_CHUNKS of them, as many as that memory budget allows, fixed by
        # the shapes alone so that gradients do not depend on the thread count.
        if save:
            dense = 12 * (win.size + wrec.size)  # bytes per chunk (kernel.backward)
            parts = min(c * b, _GRAD_CHUNKS, max(1, _GRAD_BUDGET // max(dense, 1)))
        else:
            parts = min(c * b, 4 * plan.threads)
        tasks = _chunks(c * b, parts)

        def run(seqs: np.ndarray) -> None:
            window = slice(int(seqs[0]), int(seqs[-1]) + 1) if save else slice(0, 1)
            kernel.forward(
                seqs,
                b,
                k_all,
                plan.x,
                in_csr,
                rec_csr,
                ns,
                plan.rows,
                plan.dynapsim,
                plan.substeps,
                spikes,
                record,
                plan.recorded.start,
                imem,
                isyn,
                iahp,
                save,
                tuple(tr[name][window] for name in _TRAJECTORIES),
            )

        _map(run, tasks, plan.threads)
        if save:
            ctx.plan, ctx.tasks, ctx.tr = plan, tasks, tr
            ctx.k_all, ctx.rec_csr = k_all, rec_csr
            ctx.shapes = (
                tuple(win.shape),
                tuple(wrec.shape),
                tuple(imem.shape),
                tuple(isyn.shape),
            )
            ctx.set_materialize_grads(False)
        return tuple(torch.from_numpy(v) for v in (spikes, imem, isyn, iahp))

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        from backends.dynapse import kernel as compiled

        kernel: Any = compiled
        plan: _Plan = ctx.plan
        k_all = ctx.k_all
        # NOTE: outputs the loss does not use have no gradient (not materialized):
        # retune's loss reads the synaptic currents only.
        g: list[Any] = [
            None if v is None else np.ascontiguousarray(v.detach().numpy(), np.float32)
            for v in grads
        ]
        g_spikes, g_imem, g_isyn, g_iahp = g
        spike_grad = g_spikes is not None
        if g_spikes is None:
            g_spikes = np.zeros((1, 1, 1, 1), np.float32)
        record = len(plan.recorded) > 0 and any(v is not None for v in g[1:])
        if record:
            shape = ctx.shapes[2]
            g_imem = np.zeros(shape, np.float32) if g_imem is None else g_imem
            g_iahp = np.zeros(shape, np.float32) if g_iahp is None else g_iahp
            if g_isyn is None:
                g_isyn = np.zeros(ctx.shapes[3], np.float32)
        else:
            g_imem = g_iahp = np.zeros((1, 1, 1, 1), np.float32)
            g_isyn = np.zeros((1, 1, 1, 1, 1), np.float32)

        def run(seqs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            window = slice(int(seqs[0]), int(seqs[-1]) + 1)
            g_k = np.zeros(k_all.shape)
            g_win = np.zeros(ctx.shapes[0][::-1])  # by source (kernel.backward)
            g_wrec = np.zeros(ctx.shapes[1][::-1])
            kernel.backward(
                seqs,
                plan.n_batch,
                k_all,
                plan.x,
                ctx.rec_csr,
                plan.n_syn,
                plan.rows,
                plan.dynapsim,
                plan.substeps,
                plan.slope,
                spike_grad,
                record,
                plan.recorded.start if record else 0,
                g_spikes,
                g_imem,
                g_isyn,
                g_iahp,
                tuple(ctx.tr[name][window] for name in _TRAJECTORIES),
                g_k,
                g_win,
                g_wrec,
            )
            return g_k, g_win, g_wrec

        parts = _map(run, ctx.tasks, plan.threads)
        total = [sum(p[i] for p in parts[1:]) + parts[0][i] for i in range(3)]
        total[1], total[2] = total[1].T, total[2].T
        # NOTE: the float64 sums may exceed float32 for a constant no leaf depends
        # on (e.g. I_0's, through every clamp); torch's float32 graph would hold inf
        # there too, and only the constants that need a gradient pass theirs on.
        with np.errstate(over="ignore"):
            cast = [torch.from_numpy(v.astype(np.float32)) for v in total]
        return (*cast, None)


# --- inputs and constants ----------------------------------------------------------


@contextmanager
def _single_thread() -> Iterator[None]:
    """Run torch ops on the calling thread only; restore the thread count after."""
    # NOTE: torch splits even 4096-element exp/log calls across its OpenMP threads.
    # On a small shared machine (2 cores, measured) that synchronization cost up to
    # 100x the work whenever another process held a core, and one thread ran the
    # 1024-neuron x 32-chip x 16-sample benchmark 2-3x faster than two.
    # NOTE: safe in concurrent Python threads (chip_yield's dask tasks): torch keeps
    # the OpenMP and MKL counts per thread (measured, torch 2.13), so each run sets and
    # restores its own thread's only. The one shared value is the default a thread
    # takes on its first torch call; a thread starting during a run takes 1 and keeps it.
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _full(v: torch.Tensor, batch: int) -> torch.Tensor:
    """``(..., 1)`` expanded to ``(..., batch)``, contiguous (differentiable copy)."""
    return v.expand(*v.shape[:-1], batch).contiguous()


def _as_weights(
    name: str, w: torch.Tensor | np.ndarray, nn: tuple[int, int] | None
) -> torch.Tensor:
    tensor = torch.as_tensor(w).to(torch.float32)
    expected = "(N_in, N, 4)" if nn is None else f"({nn[0]}, {nn[1]}, 4)"
    if (
        tensor.ndim != 3
        or tensor.shape[2] != len(SYNAPSE_TYPES)
        or (nn is not None and tuple(tensor.shape[:2]) != nn)
    ):
        raise ValueError(
            f"{name} must have shape {expected}; got {tuple(tensor.shape)}"
        )
    values = tensor.detach()
    bad = ~(torch.isfinite(values) & (values >= 0))
    if bool(bad.any()):
        i, j, s = (int(v) for v in bad.nonzero()[0])
        raise ValueError(
            f"{name}[{i}, {j}, {s}] (source {i}, neuron {j}, {SYNAPSE_TYPES[s]}) must "
            f"be a finite weight current >= 0 A; got {float(values[i, j, s])!r}"
        )
    return tensor


def _as_input(spikes: torch.Tensor | np.ndarray, n_inputs: int) -> torch.Tensor:
    x = torch.as_tensor(spikes).to(torch.float32)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[-1] != n_inputs:
        raise ValueError(
            f"spikes_in must have shape (B, T, {n_inputs}) or (C, B, T, {n_inputs}); "
            f"got {tuple(torch.as_tensor(spikes).shape)}"
        )
    if 0 in x.shape[:3]:
        raise ValueError(
            f"spikes_in has an empty chip, sample or time axis: {tuple(x.shape)}"
        )
    if x.numel():
        # NOTE: numpy's reductions, not torch's: torch splits them over its thread
        # pool, which cost 18 ms on a 128k-element raster on the shared machine.
        values = x.detach().numpy()
        if values.min() >= 0 and values.max() < math.inf:  # NaN fails both
            return x
    bad = ~(torch.isfinite(x.detach()) & (x.detach() >= 0))
    if bool(bad.any()):
        where = tuple(int(v) for v in bad.nonzero()[0])
        raise ValueError(
            f"spikes_in must hold spike counts >= 0; got {float(x[where])!r} at "
            f"(chip, sample, step, channel) {where}"
        )
    return x


def _param_chips(params: DynapseParams, n_neurons: int) -> int:
    """Chip count ``C`` implied by the parameter shapes (1 without a chip axis)."""
    chips = 1
    for name in params.names():
        value = getattr(params, name)
        shape = (
            tuple(value.shape) if isinstance(value, torch.Tensor | np.ndarray) else ()
        )
        ok = (
            len(shape) == 0
            or (len(shape) == 1 and shape[0] in (1, n_neurons))
            or (len(shape) == 2 and shape[1] in (1, n_neurons))
        )
        if not ok:
            raise ValueError(
                f"DynapseParams.{name} has shape {shape}; expected (), "
                f"({n_neurons},) or (C, {n_neurons}) for {n_neurons} neurons"
            )
        if len(shape) == 2 and shape[0] != 1:
            if chips not in (1, shape[0]):
                raise ValueError(
                    f"DynapseParams.{name} has {shape[0]} chips; other fields have {chips}"
                )
            chips = shape[0]
    return chips


def _constants(
    params: DynapseParams,
    n: int,
    c: int,
    h: float,
    types: tuple[int, ...],
    mode: str,
) -> _Constants:
    """Derive the per-neuron step constants (float64 math, float32 ``(N, C, 1)``)."""

    def f(name: str) -> torch.Tensor:
        value = getattr(params, name)
        if isinstance(value, torch.Tensor):
            tensor = value.to(torch.float64)
        else:
            tensor = torch.as_tensor(np.asarray(value, np.float64))
        return (tensor.unsqueeze(0) if tensor.ndim == 1 else tensor).expand(c, n)

    def out(v: torch.Tensor) -> torch.Tensor:
        return v.t().unsqueeze(-1).to(torch.float32)

    def stack(vs: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([out(v) for v in vs]) if vs else torch.zeros((0, n, c, 1))

    i0 = f("i0")
    kappa = (f("kappa_n") + f("kappa_p")) / 2
    u_t, v_th = f("u_t"), f("v_th")

    def floor(name: str) -> torch.Tensor:
        # NOTE: every I_tau and I_gain is clipped below at I_0 (reference §2.1).
        return torch.maximum(f(name), i0)

    t_pulse = v_th * f("c_pulse") / f("ipulse")
    decay, pulse, gain = [], [], []
    for syn in types:
        name = SYNAPSE_TYPES[syn]
        itau, igain = floor(f"itau_{name}"), floor(f"igain_{name}")
        tau = u_t * f(f"c_{name}") / (kappa * itau)
        decay.append(torch.exp(-h / tau))
        pulse.append(-torch.expm1(-t_pulse / tau))
        gain.append(igain / itau)
    itau_ahp, igain_ahp = floor("itau_ahp"), floor("igain_ahp")
    tau_ahp = u_t * f("c_ahp") / (kappa * itau_ahp)
    t_pulse_ahp = v_th * f("c_pulse_ahp") / f("ipulse_ahp")
    ahp_charge = (
        -torch.expm1(-t_pulse_ahp / tau_ahp) * igain_ahp / itau_ahp * f("iw_ahp")
    )
    itau_mem, igain_mem = floor("itau_mem"), floor("igain_mem")
    t_ref = v_th * f("c_ref") / f("iref")
    n_ref = torch.ceil(t_ref.detach() / h * (1 - _REF_TOLERANCE)).clamp_min(1)
    dynapsim = mode == "dynapsim"
    leak_const, drive_const = itau_mem, f("idc")
    if not dynapsim:
        # Unused synapse types rest at their I_0 floor (see _synapse_step).
        leak_const = leak_const + (0 if _GABA in types else i0)
        drive_const = drive_const + (0 if _AMPA in types else i0)
        drive_const = drive_const - (0 if _SHUNT in types else i0)
    return _Constants(
        types=types,
        dynapsim=dynapsim,
        one=torch.ones(()),
        i0=out(i0),
        syn_decay=stack(decay),
        syn_pulse=stack(pulse),
        syn_charge=stack([p * g for p, g in zip(pulse, gain, strict=True)]),
        syn_gain=stack(gain),
        ahp_decay=out(torch.exp(-h / tau_ahp)),
        ahp_charge=out(ahp_charge),
        leak_const=out(leak_const),
        drive_const=out(drive_const),
        inv_itau_mem=out(1 / itau_mem),
        igain_mem=out(igain_mem),
        gain_mem=out(igain_mem / itau_mem),
        if_nmda=out(f("if_nmda")),
        euler=out(h * kappa / (u_t * f("c_mem"))),
        fb_offset=out(torch.log(i0) / (kappa + 1)),
        fb_slope=out(kappa / (kappa + 1)),
        log_spkthr=out(torch.log(f("ispkthr"))),
        n_ref=out(n_ref),
    )
