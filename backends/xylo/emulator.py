"""Bit-exact emulator of the Xylo SNN core (reference §2), fast and event-driven.

Per time step, in the hardware's order: input events (clipped to 15 per channel) and
the previous step's hidden spikes are delivered into the synaptic currents with int16
saturation after every addition; the currents decay (``dec``, with its +-1 minimum
step); membranes integrate (v2 order with bias, or the v1 order without; the negated
decay step is an int16, as in xylosim); the spike loop subtracts the threshold up to
31 times (hidden) or once (output), with alias spikes deposited in ascending neuron
order.

Two engines compute the same integers:

* ``"numba"`` (the default when numba imports; ``backends.xylo.kernel``): a compiled
  kernel that runs each sample event by event in the hardware's sequential order, so
  saturation is exact by construction and the cost follows the work (silent sources
  deliver nothing; a spiking neuron touches only its fan-out). From 4 samples on, a
  batch runs as int16 SIMD lanes, each neuron taking its fan-in in the hardware's
  source order (saturation order matters only per target). Batch samples are
  independent; ``threads`` (default 1, or the ``SPIKEFORGE_XYLO_THREADS`` environment
  variable) splits the batch over that many threads. One thread is the default on
  purpose: on a shared machine extra threads contend with other processes and make
  run times erratic, and batch-1 runs cannot use them.
* ``"numpy"``: the vectorized fallback. Deliveries are one float matmul per step
  (exact: the largest possible sum is checked against the float mantissa once, at
  construction). Saturation makes delivery order-dependent only when a partial sum
  can leave int16; a per-(sample, neuron) bound finds those cases, and only they take
  an exact sequential path. Aliases are resolved level by level along their
  ascending-id chains, vectorized over batch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from backends.xylo.config import ConfigError, XyloConfig
from backends.xylo.variants import XyloVariant
from ir.errors import InputError

__all__ = ["ENGINES", "THREADS_ENV", "XyloEmulator"]

ENGINES = ("auto", "numba", "numpy")
"""``XyloEmulator(engine=...)`` values; ``auto`` is numba when it imports."""

THREADS_ENV = "SPIKEFORGE_XYLO_THREADS"
"""Environment variable giving the default thread count of the numba engine."""

INT16_MIN = -32768
INT16_MAX = 32767


def _dec(v: np.ndarray, dash: np.ndarray) -> np.ndarray:
    """The amount one decay step subtracts: ``v >> dash``, at least 1 for ``v > 0``."""
    q = v >> dash
    # NOTE: for v < 0, v >> d <= -1 already; only 0 < v < 2^d needs the +1 (§2 dec).
    q += (q == 0) & (v > 0)
    return q


class _Projection:
    """One weight matrix (sources x targets) delivering counts with int16 saturation.

    Sources are in delivery order (input channels ascending, then hidden ids
    ascending); each source's ``n`` additions of the same weight saturate
    monotonically, so they equal one clamped addition of ``n * w``.
    """

    def __init__(self, weights: np.ndarray, caps: np.ndarray) -> None:
        self.cols = np.flatnonzero(np.any(weights != 0, axis=0))
        w = weights[:, self.cols].astype(np.int64)
        self.w = w
        absw = np.abs(w)
        largest = (
            float(caps.astype(np.float64) @ absw.max(initial=0, axis=1))
            if (w.size)
            else 0.0
        )
        # NOTE: float32 sums of integers are exact while every partial sum stays
        # below 2^24; the bound covers every column and every count.
        self.dtype = np.float32 if largest < 2**24 else np.float64
        self.wf = w.astype(self.dtype)
        self.wpos = np.maximum(w, 0).astype(self.dtype)
        self.rowmax = absw.max(axis=1, initial=0).astype(np.float64)
        self.colmax = absw.max(axis=0, initial=0)

    def deliver(self, state: np.ndarray, counts: np.ndarray) -> None:
        """Add ``counts (B, sources)`` through the weights into ``state (B, targets)``."""
        if self.cols.size == 0:
            return
        xf = counts.astype(self.dtype, copy=False)
        total = (xf @ self.wf).astype(np.int64)
        i0 = state[:, self.cols]
        # Cheap bound on the sum of |contributions| per (sample, target).
        per_sample = counts.astype(np.float64) @ self.rowmax
        per_target = counts.sum(axis=1)[:, None] * self.colmax[None, :]
        bound = np.minimum(per_sample[:, None], per_target)
        risky = np.abs(i0) + bound > INT16_MAX
        new = i0 + total
        if risky.any():
            rows = np.flatnonzero(risky.any(axis=1))
            new[rows] = self._saturating(i0[rows], total[rows], xf[rows], counts[rows])
        state[:, self.cols] = new

    def _saturating(
        self, i0: np.ndarray, total: np.ndarray, xf: np.ndarray, counts: np.ndarray
    ) -> np.ndarray:
        pos = (xf @ self.wpos).astype(np.int64)
        neg = total - pos
        # Partial sums lie in [i0 + neg, i0 + pos]; one-signed deliveries clamp
        # monotonically; only mixed-sign ones that can leave int16 are sequential.
        mixed = (
            (pos != 0) & (neg != 0) & ((i0 + pos > INT16_MAX) | (i0 + neg < INT16_MIN))
        )
        out = np.clip(i0 + total, INT16_MIN, INT16_MAX)
        if mixed.any():
            r, c = np.nonzero(mixed)
            x = counts[r].astype(np.int64)
            acc = i0[r, c]
            for m in np.flatnonzero(x.any(axis=0)):
                acc = np.clip(acc + x[:, m] * self.w[m, c], INT16_MIN, INT16_MAX)
            out[r, c] = acc
        return out


@dataclass(frozen=True)
class _AliasPlan:
    """Alias chains: per level, (targets, sources, source->target position)."""

    levels: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]
    rest: np.ndarray  # neurons with no alias source below them (level 0)
    late_src: np.ndarray  # sources j >= their target a: added after a's loop
    late_dst: np.ndarray

    @classmethod
    def build(cls, aliases: np.ndarray) -> _AliasPlan:
        n = aliases.shape[0]
        level = np.zeros(n, np.int64)
        lower: dict[int, list[int]] = {}
        for j in range(n):
            a = int(aliases[j])
            if j < a:
                lower.setdefault(a, []).append(j)
        for a in sorted(lower):
            level[a] = 1 + max(int(level[j]) for j in lower[a])
        levels = []
        for lv in range(1, int(level.max(initial=0)) + 1):
            tgt = np.flatnonzero(level == lv)
            src = np.array([j for a in tgt for j in lower[int(a)]], np.int64)
            pos = np.array(
                [k for k, a in enumerate(tgt) for _ in lower[int(a)]], np.int64
            )
            levels.append((tgt, src, pos))
        ids = np.arange(n)
        late = (aliases >= 0) & (ids >= aliases)
        return cls(
            levels=tuple(levels),
            rest=np.flatnonzero(level == 0),
            late_src=np.flatnonzero(late),
            late_dst=aliases[late].astype(np.int64),
        )


class XyloEmulator:
    """Runs a ``XyloConfig`` exactly as xylosim (v2, or v1 for ``xylo-v1``) does.

    Sizes come from the register arrays, so small test configurations run too;
    ``check_limits`` (default) additionally enforces the variant's limits. Without
    it, values up to xylosim's own register types run (int8 weights, int16 biases and
    thresholds 1..32767).

    Args:
        config: the registers.
        seed: unused (the emulator is deterministic); kept for the Target API.
        check_limits: enforce the variant's limits.
        engine: ``"auto"`` (numba when it imports, else numpy), ``"numba"`` or
            ``"numpy"``; all give identical integers.
        threads: threads the numba engine splits a batch over; default
            ``$SPIKEFORGE_XYLO_THREADS`` or 1 (see the module docstring).

    Raises:
        ConfigError: an invalid configuration (every violation listed).
        ValueError: an unknown engine, a thread count below 1, or ``"numba"``
            when numba is not installed.
    """

    def __init__(
        self,
        config: XyloConfig,
        *,
        seed: int = 0,
        check_limits: bool = True,
        engine: str = "auto",
        threads: int | None = None,
    ) -> None:
        if check_limits:
            config.check()
        spec = config.spec
        _check_runnable(config, spec)
        self.config = config
        self.seed = seed  # the emulator is deterministic; kept for the Target API
        self.engine = _pick_engine(engine)
        self.threads = _thread_count(threads)
        self._spec = spec
        w_in = np.asarray(config.weights_in, np.int64)
        w_rec = np.asarray(config.weights_rec, np.int64)
        self.n_in, self.n_hidden = w_in.shape[:2]
        self.n_out = config.weights_out.shape[1]
        self.n_syn = nsyn = max(w_in.shape[2], w_rec.shape[2])
        w_in = _pad_syn(w_in, nsyn) << config.weight_shift_in
        w_rec = _pad_syn(w_rec, nsyn) << config.weight_shift_rec
        caps = np.concatenate(
            [
                np.full(self.n_in, spec.max_input_events),
                np.full(self.n_hidden, spec.max_hidden_spikes),
            ]
        )
        self._hid = _Projection(
            np.concatenate(
                [
                    w_in.reshape(self.n_in, self.n_hidden * nsyn),
                    w_rec.reshape(self.n_hidden, self.n_hidden * nsyn),
                ]
            ),
            caps,
        )
        self._out = _Projection(
            np.asarray(config.weights_out, np.int64) << config.weight_shift_out,
            caps[self.n_in :],
        )
        dash_syn = np.stack([config.dash_syn, config.dash_syn_2], axis=1)[:, :nsyn]
        self._dash_syn = dash_syn.reshape(-1).astype(np.int64)
        self._dash_mem = np.asarray(config.dash_mem, np.int64)
        self._theta = np.asarray(config.threshold, np.int64)
        self._bias = np.asarray(config.bias, np.int64)
        self._dash_mem_out = np.asarray(config.dash_mem_out, np.int64)
        self._dash_syn_out = np.asarray(config.dash_syn_out, np.int64)
        self._theta_out = np.asarray(config.threshold_out, np.int64)
        self._bias_out = np.asarray(config.bias_out, np.int64)
        self._aliases = _AliasPlan.build(np.asarray(config.aliases, np.int64))
        self._kernel_args: tuple[Any, ...] | None = None
        if self.engine == "numba":
            self._kernel_args = _kernel_layout(
                self, w_in, w_rec, np.asarray(config.weights_out, np.int64)
            )

    def run(self, raster: Any, record: bool = False) -> Any:
        """Run from the reset state on an input event-count raster.

        Args:
            raster: non-negative integer counts ``(batch, time, Nin)`` or
                ``(time, Nin)``; counts above 15 are clipped, as the hardware does.
            record: also return the internal states.

        Returns:
            Output spikes ``(batch, time, Nout)`` (int32, 0/1), without the batch
            axis for a 2-D raster. With ``record``, ``(spikes, states)`` where
            ``states`` holds ``Vmem`` (after reset), ``Isyn``, ``Isyn2`` (after decay;
            zeros with one synapse), ``Spikes`` (hidden counts), ``Vmem_out`` and
            ``Isyn_out``, each ``(batch, time, N)`` int16.
        """
        if isinstance(raster, Mapping):
            raise InputError(
                f"a Xylo configuration takes one raster (batch, time, {self.n_in}), "
                f"got {len(raster)} arrays ({', '.join(map(str, raster))})",
                source="raster",
            )
        x = np.asarray(raster)
        squeeze = x.ndim == 2
        if squeeze:
            x = x[None]
        if x.ndim != 3 or x.shape[2] != self.n_in:
            raise ValueError(
                f"raster must be (batch, time, {self.n_in}) or (time, {self.n_in}), "
                f"got shape {np.shape(raster)}"
            )
        if x.dtype.kind not in "iub":
            raise ValueError(f"raster must hold integer event counts, got {x.dtype}")
        if x.size and x.min() < 0:
            raise ValueError("raster holds negative event counts")
        if self._kernel_args is not None:
            x = np.minimum(x, self._spec.max_input_events).astype(np.int32)
            spikes, states = self._simulate_numba(x, record)
        else:
            x = np.minimum(x, self._spec.max_input_events).astype(np.int64)
            spikes, states = self._simulate(x, record)
        if squeeze:
            spikes = spikes[0]
            states = {k: v[0] for k, v in states.items()}
        return (spikes, states) if record else spikes

    def _simulate(
        self, x: np.ndarray, record: bool
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        batch, steps, nin = x.shape
        nhid, nout, nsyn = self.n_hidden, self.n_out, self.n_syn
        spec = self._spec
        v2 = spec.sim_version == 2
        isyn = np.zeros((batch, nhid * nsyn), np.int64)
        vmem = np.zeros((batch, nhid), np.int64)
        isyn_out = np.zeros((batch, nout), np.int64)
        vmem_out = np.zeros((batch, nout), np.int64)
        counts = np.zeros((batch, nin + nhid), np.int64)  # [inputs, previous spikes]
        out = np.zeros((batch, steps, nout), np.int32)
        states: dict[str, np.ndarray] = {}
        if record:
            for name, n in (
                ("Vmem", nhid),
                ("Isyn", nhid),
                ("Isyn2", nhid),
                ("Spikes", nhid),
                ("Vmem_out", nout),
                ("Isyn_out", nout),
            ):
                states[name] = np.zeros((batch, steps, n), np.int16)
        use_bias = v2 and spec.has_bias
        for t in range(steps):
            counts[:, :nin] = x[:, t]
            # 1-3. deliver input and last step's hidden spikes (hidden, readout)
            self._hid.deliver(isyn, counts)
            self._out.deliver(isyn_out, counts[:, nin:])
            # 5. hidden neurons
            isyn -= _dec(isyn, self._dash_syn)
            total = isyn if nsyn == 1 else isyn.reshape(batch, nhid, nsyn).sum(axis=2)
            vmem = _integrate(vmem, total, self._dash_mem, self._bias, v2, use_bias)
            spikes = self._spike_hidden(vmem)
            # 6. output neurons (one synapse, at most one spike, no alias)
            isyn_out -= _dec(isyn_out, self._dash_syn_out)
            vmem_out = _integrate(
                vmem_out, isyn_out, self._dash_mem_out, self._bias_out, v2, use_bias
            )
            fired = vmem_out >= self._theta_out
            vmem_out -= fired * self._theta_out
            out[:, t] = fired
            counts[:, nin:] = spikes
            if record:
                syn = isyn.reshape(batch, nhid, nsyn)
                states["Vmem"][:, t] = vmem
                states["Isyn"][:, t] = syn[:, :, 0]
                if nsyn > 1:
                    states["Isyn2"][:, t] = syn[:, :, 1]
                states["Spikes"][:, t] = spikes
                states["Vmem_out"][:, t] = vmem_out
                states["Isyn_out"][:, t] = isyn_out
        return out, states

    def _simulate_numba(
        self, x: np.ndarray, record: bool
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        from backends.xylo.kernel import run_core, run_lanes

        assert self._kernel_args is not None
        core_weights, lanes_weights, regs, opts = self._kernel_args
        batch, steps, _ = x.shape
        nhid, nout = self.n_hidden, self.n_out
        spikes = np.zeros((batch, steps, nout), np.int32)
        shapes = {
            "Vmem": nhid,
            "Isyn": nhid,
            "Isyn2": nhid,
            "Spikes": nhid,
            "Vmem_out": nout,
            "Isyn_out": nout,
        }
        rec_shape = (batch, steps) if record else (0, 0)
        states = {k: np.zeros((*rec_shape, n), np.int16) for k, n in shapes.items()}

        def chunk(lo: int, hi: int) -> None:
            # NOTE: up to _LANES samples run as SIMD lanes of one block (states
            # (neurons, lanes) stay in cache); below _MIN_LANES one at a time.
            for start in range(lo, hi, _LANES):
                end = min(start + _LANES, hi)
                lanes = end - start >= _MIN_LANES
                kernel: Any = run_lanes if lanes else run_core
                kernel(
                    x[start:end],
                    (lanes_weights if lanes else core_weights, regs, opts),
                    spikes[start:end],
                    tuple(v[start:end] for v in states.values()),
                )

        n_threads = min(self.threads, batch)
        if n_threads <= 1:
            chunk(0, batch)
        else:
            edges = np.linspace(0, batch, n_threads + 1).astype(int)
            with ThreadPoolExecutor(n_threads) as pool:
                list(pool.map(chunk, edges[:-1], edges[1:]))
        return spikes, (states if record else {})

    def _spike_hidden(self, vmem: np.ndarray) -> np.ndarray:
        """Spike loop with aliases; updates ``vmem`` in place, returns counts."""
        cap = self._spec.max_hidden_spikes
        plan = self._aliases
        theta = self._theta
        spikes = np.zeros(vmem.shape, np.int64)
        rest = plan.rest
        if rest.size == vmem.shape[1]:
            n = np.clip(vmem // theta, 0, cap)
            vmem -= n * theta
            spikes = n
        else:
            n = np.clip(vmem[:, rest] // theta[rest], 0, cap)
            vmem[:, rest] -= n * theta[rest]
            spikes[:, rest] = n
            # NOTE: alias spikes from lower ids are deposited before the target's
            # own loop and count towards its cap (§2 step 5.7, a > j).
            for tgt, src, pos in plan.levels:
                n0 = np.zeros((tgt.size, vmem.shape[0]), np.int64)
                np.add.at(n0, pos, spikes[:, src].T)
                n0 = np.minimum(n0.T, cap)
                th = theta[tgt]
                k = np.clip(vmem[:, tgt] // th, 0, cap - n0)
                vmem[:, tgt] -= k * th
                spikes[:, tgt] = n0 + k
        if plan.late_src.size:
            # a <= j: added to a's already-final count, capped (§2 step 5.7, a < j).
            late = np.zeros((vmem.shape[1], vmem.shape[0]), np.int64)
            np.add.at(late, plan.late_dst, spikes[:, plan.late_src].T)
            spikes = np.minimum(spikes + late.T, cap)
        return spikes


def _integrate(
    vmem: np.ndarray,
    isyn: np.ndarray,
    dash_mem: np.ndarray,
    bias: np.ndarray,
    v2: bool,
    use_bias: bool,
) -> np.ndarray:
    if v2:
        dv = np.clip(_neg16(_dec(vmem, dash_mem)) + isyn, INT16_MIN, INT16_MAX)
        if use_bias:
            dv = np.clip(dv + bias, INT16_MIN, INT16_MAX)
        return np.clip(vmem + dv, INT16_MIN, INT16_MAX)
    # NOTE: xylosim.v1 decays V first, then adds the currents once (§2 v1).
    return np.clip(vmem - _dec(vmem, dash_mem) + isyn, INT16_MIN, INT16_MAX)


_LANES = 64
"""Samples the numba engine runs together as SIMD lanes."""
_MIN_LANES = 4
"""Below this many samples in a block, the numba engine runs them one by one."""


def _pick_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "numpy":
        return engine
    try:
        import numba  # noqa: F401
    except ImportError:
        if engine == "numba":
            raise ValueError(
                "engine 'numba' needs numba (pip install numba); "
                "engine 'numpy' gives the same results, slower"
            ) from None
        return "numpy"
    return "numba"


def _thread_count(threads: int | None) -> int:
    if threads is None:
        raw = os.environ.get(THREADS_ENV, "1")
        try:
            threads = int(raw)
        except ValueError:
            raise ValueError(
                f"{THREADS_ENV}={raw!r}: expected a whole number of threads >= 1"
            ) from None
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return int(threads)


def _sparse_or_dense(weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """A (sources, targets) weight matrix as ``run_core`` arguments: a dense int32
    matrix when a quarter or more of it is nonzero (rows the compiler vectorizes),
    else CSR (``ptr``, ``idx``, ``w``) with an empty dense matrix."""
    rows, cols = weights.shape
    w32 = weights.astype(np.int32)
    if rows and np.count_nonzero(weights) * 4 >= weights.size:
        empty = np.zeros(rows + 1, np.int64)
        return w32, empty, np.zeros(0, np.int64), np.zeros(0, np.int32)
    src, tgt = np.nonzero(weights)
    ptr = np.zeros(rows + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=rows), out=ptr[1:])
    return (
        np.zeros((0, cols), np.int32),
        ptr,
        tgt.astype(np.int64),
        w32[src, tgt],
    )


def _fan_in(weights: np.ndarray, offset: int) -> tuple[np.ndarray, ...]:
    """``(sources, targets, synapses)`` weights as ``run_lanes`` fan-in lists: per
    target, its sources with a nonzero weight, ascending (``ptr``; ``src`` +
    ``offset``, the row of the kernel's count matrix), and their weights ``(edges,
    2)`` (int32; 0 for a missing second synapse)."""
    tgt, src = np.nonzero(np.any(weights != 0, axis=2).T)
    ptr = np.zeros(weights.shape[1] + 1, np.int64)
    np.cumsum(np.bincount(tgt, minlength=weights.shape[1]), out=ptr[1:])
    edges = np.zeros((len(src), 2), np.int32)
    edges[:, : weights.shape[2]] = weights[src, tgt]
    return ptr.astype(np.uint64), (src + offset).astype(np.uint64), edges


def _fits_int16(weights: np.ndarray, count: int) -> bool:
    """Whether every product of a count up to ``count`` and a weight fits int16."""
    return not weights.size or int(np.abs(weights).max()) * count <= INT16_MAX


def _kernel_layout(
    emu: XyloEmulator, w_in: np.ndarray, w_rec: np.ndarray, w_out: np.ndarray
) -> tuple[Any, ...]:
    """The register-derived arguments of ``kernel.run_core`` and ``run_lanes``:
    ``run_core``'s weights, ``run_lanes``' weights, the registers, the options."""
    cfg, spec = emu.config, emu._spec
    nin, nhid, nsyn = emu.n_in, emu.n_hidden, emu.n_syn
    v2 = spec.sim_version == 2
    w_out = w_out << cfg.weight_shift_out
    cap_in, cap = spec.max_input_events, spec.max_hidden_spikes

    def i32(a: Any) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(a, np.int32))

    core_weights = (
        *_sparse_or_dense(w_in.reshape(nin, nhid * nsyn)),
        *_sparse_or_dense(w_rec.reshape(nhid, nhid * nsyn)),
        *_sparse_or_dense(w_out),
    )
    lanes_weights = (
        *_fan_in(np.concatenate([w_in, w_rec]), 0),
        *_fan_in(w_out[:, :, None], nin),
    )
    regs = tuple(
        i32(a)
        for a in (
            emu._dash_syn,
            emu._dash_mem,
            emu._theta,
            emu._bias,
            cfg.aliases,
            emu._dash_syn_out,
            emu._dash_mem_out,
            emu._theta_out,
            emu._bias_out,
        )
    )
    narrow = (
        _fits_int16(w_in, cap_in)
        and _fits_int16(w_rec, cap)
        and _fits_int16(w_out, cap)
    )
    opts = (
        nsyn,
        v2,
        v2 and spec.has_bias,
        spec.max_hidden_spikes,
        spec.max_output_spikes,
        narrow,
    )
    return core_weights, lanes_weights, regs, opts


def _neg16(q: np.ndarray) -> np.ndarray:
    """``-q`` in int16 arithmetic: ``-(-32768)`` wraps to -32768.

    NOTE: xylosim.v2 negates the decay step into an ``int16_t`` before saturating
    (``dv = -dec(V, dash_mem)``), so a membrane at -32768 with ``dash_mem = 0``
    gets ``dv = -32768`` and stays on the rail (reference §2 step 5.2).
    """
    neg = -q
    neg[neg == -INT16_MIN] = INT16_MIN
    return neg


def _pad_syn(w: np.ndarray, nsyn: int) -> np.ndarray:
    if w.shape[2] == nsyn:
        return w
    pad = np.zeros((*w.shape[:2], nsyn - w.shape[2]), w.dtype)
    return np.concatenate([w, pad], axis=2)


def _check_runnable(config: XyloConfig, spec: XyloVariant) -> None:
    """Consistency and value ranges the exact dynamics need (sizes may be small)."""
    errors: list[str] = []
    w_in, w_rec, w_out = config.weights_in, config.weights_rec, config.weights_out
    if w_in.ndim != 3 or w_rec.ndim != 3 or w_out.ndim != 2:
        errors.append("weights_in, weights_rec must be 3-D and weights_out 2-D")
    else:
        nhid = w_in.shape[1]
        if w_rec.shape[:2] != (nhid, nhid) or w_out.shape[0] != nhid:
            errors.append(
                f"weight shapes disagree: weights_in {w_in.shape}, weights_rec "
                f"{w_rec.shape}, weights_out {w_out.shape}"
            )
        for name in (
            "dash_mem",
            "dash_syn",
            "dash_syn_2",
            "threshold",
            "bias",
            "aliases",
        ):
            if np.shape(getattr(config, name)) != (nhid,):
                errors.append(
                    f"{name}: shape {np.shape(getattr(config, name))}, expected ({nhid},)"
                )
        for name in ("dash_mem_out", "dash_syn_out", "threshold_out", "bias_out"):
            if np.shape(getattr(config, name)) != (w_out.shape[1],):
                errors.append(
                    f"{name}: shape {np.shape(getattr(config, name))}, "
                    f"expected ({w_out.shape[1]},)"
                )
        if not errors:
            # NOTE: xylosim holds weights as int8 and thresholds and biases as int16;
            # values outside would wrap there, so they are refused here.
            for name in ("threshold", "threshold_out"):
                arr = getattr(config, name)
                if np.any((arr < 1) | (arr > INT16_MAX)):
                    errors.append(f"{name}: thresholds must be 1..{INT16_MAX}")
            for name in ("weights_in", "weights_rec", "weights_out"):
                arr = getattr(config, name)
                if np.any((arr < -128) | (arr > 127)):
                    errors.append(f"{name}: weights must be int8 (-128..127)")
            for name in ("bias", "bias_out"):
                arr = getattr(config, name)
                if np.any((arr < INT16_MIN) | (arr > INT16_MAX)):
                    errors.append(
                        f"{name}: biases must be int16 ({INT16_MIN}..{INT16_MAX})"
                    )
            for name in (
                "dash_mem",
                "dash_syn",
                "dash_syn_2",
                "dash_mem_out",
                "dash_syn_out",
            ):
                arr = getattr(config, name)
                if np.any((arr < 0) | (arr >= 2**spec.dash_bits)):
                    errors.append(f"{name}: dashes must be 0..{2**spec.dash_bits - 1}")
            if np.any((config.aliases < -1) | (config.aliases >= nhid)):
                errors.append(f"aliases: targets must be -1..{nhid - 1}")
    for name in ("weight_shift_in", "weight_shift_rec", "weight_shift_out"):
        if not 0 <= getattr(config, name) <= spec.max_weight_shift:
            errors.append(f"{name}: must be 0..{spec.max_weight_shift}")
    if errors:
        raise ConfigError(
            "cannot emulate this configuration:\n  - " + "\n  - ".join(errors)
        )
