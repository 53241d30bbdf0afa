"""The compiled (numba) Xylo core: the hardware's order, int16 saturation, exact.

Imported lazily by ``XyloEmulator`` (importing numba costs ~0.5 s). Two kernels with
one signature ``(x, model, out, recs)``:

* ``run_core`` runs one sample at a time, event by event (reference §2): input
  channels ascending, then the previous step's spiking hidden neurons ascending, each
  adding ``n * w`` with int16 saturation to the targets in its fan-out list; then the
  neurons ascending (decay, integrate, spike loop, alias deposit). The cost follows
  the work: silent sources deliver nothing, a spiking neuron touches only its
  fan-out. Dense weight rows (the input projection, typically) are kept as dense rows
  that the compiler vectorizes; sparse ones as CSR lists.
* ``run_lanes`` runs a batch as SIMD lanes, states ``(neurons, lanes)`` in int16. It
  pulls: each target neuron takes its fan-in list (its sources in the hardware's
  order: input channels, then hidden neurons, ascending) and adds every active
  source's counts times the weight to its synapse rows, saturating after each
  source, then decays, integrates and spikes at once, while its rows are in cache.
  Saturation is order-dependent only per target, so the per-target order is all the
  hardware's sequence fixes. When every product ``count * weight`` fits int16
  (``opts`` ``narrow``, the usual case) a delivery is an int16 multiply and a
  saturating add on whole vectors of lanes (``_madd``); otherwise the product is
  formed in int32, lane by lane.

``cache=True`` stores the machine code next to this file (or in numba's cache dir),
so only the first run on a machine pays the compile (~10-20 s); ``nogil=True`` lets
``XyloEmulator`` run batch chunks on threads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["run_core", "run_lanes"]

_LO = -32768
_HI = 32767
_V = 32
"""Lanes in one vector of ``_madd`` (32 int16: one AVX-512 register, two AVX2
ones); ``run_lanes`` pads the batch to a multiple of it."""


def _madd_typer(  # pragma: no cover - compiled
    typingctx: Any, state: Any, j: Any, b0: Any, cnt: Any, r: Any, w: Any
) -> Any:
    """``state[j, b0:b0 + _V] += cnt[r, b0:b0 + _V] * w`` in int16, saturating.

    Exact when every ``|cnt * w| <= 32767`` (the caller checks): an int16 multiply
    and ``llvm.sadd.sat``, one instruction each, on one vector load and store.

    NOTE: written as vector IR because the compiler does not know that ``state``
    and ``cnt`` never overlap: a plain lane loop gets runtime overlap checks per
    call, which cost several times the arithmetic.
    """
    sig = types.none(state, j, b0, cnt, r, w)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        st_t, j_t, b_t, cn_t, r_t, w_t = signature.args
        st, jv, bv, cn, rv, wv = args
        vt = ir.VectorType(ir.IntType(16), _V)

        def where(aty: Any, aval: Any, row: Any, rty: Any) -> Any:
            ary = context.make_array(aty)(context, builder, aval)
            idx = [
                context.cast(builder, row, rty, types.intp),
                context.cast(builder, bv, b_t, types.intp),
            ]
            item = cgutils.get_item_pointer(
                context, builder, aty, ary, idx, wraparound=False
            )
            return builder.bitcast(item, vt.as_pointer())

        p_st = where(st_t, st, jv, j_t)
        p_cn = where(cn_t, cn, rv, r_t)
        w16 = builder.trunc(context.cast(builder, wv, w_t, types.int64), vt.element)
        splat = ir.Constant(vt, None)
        for i in range(_V):
            splat = builder.insert_element(splat, w16, ir.Constant(ir.IntType(32), i))
        prod = builder.mul(builder.load(p_cn, typ=vt, align=2), splat)
        sadd = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vt, [vt, vt]), f"llvm.sadd.sat.v{_V}i16"
        )
        summed = builder.call(sadd, [builder.load(p_st, typ=vt, align=2), prod])
        builder.store(summed, p_st, align=2)
        return context.get_dummy_value()

    return sig, codegen


_madd: Any = intrinsic(_madd_typer)


@njit(cache=True, nogil=True, inline="always")
def _sat(v: Any) -> Any:  # pragma: no cover - compiled
    """``v`` (int32) saturated to int16."""
    return min(max(v, np.int32(_LO)), np.int32(_HI))


@njit(cache=True, nogil=True, inline="always")
def _deliver(  # pragma: no cover - compiled
    state: Any,
    n: int,
    src: int,
    dense: Any,
    ptr: Any,
    idx: Any,
    w: Any,
) -> None:
    if dense.shape[0] > 0:
        row = dense[src]
        for m in range(row.shape[0]):
            v = state[m] + n * row[m]
            state[m] = _LO if v < _LO else (_HI if v > _HI else v)
    else:
        for k in range(ptr[src], ptr[src + 1]):
            m = idx[k]
            v = state[m] + n * w[k]
            state[m] = _LO if v < _LO else (_HI if v > _HI else v)


@njit(cache=True, nogil=True, inline="always")
def _membrane(  # pragma: no cover - compiled
    v: int, i_sum: int, dash: int, bias: int, v2: bool, use_bias: bool
) -> int:
    q = v >> dash
    if q == 0 and v > 0:
        q = 1
    if v2:
        # NOTE: xylosim stores -dec in an int16_t: -(-32768) wraps to -32768 (§2 5.2).
        dv = -q
        if dv == 32768:
            dv = -32768
        dv += i_sum
        dv = _LO if dv < _LO else (_HI if dv > _HI else dv)
        if use_bias:
            dv += bias
            dv = _LO if dv < _LO else (_HI if dv > _HI else dv)
        v += dv
    else:
        v = v - q + i_sum
    return _LO if v < _LO else (_HI if v > _HI else v)


@njit(cache=True, nogil=True, inline="always")
def _record(  # pragma: no cover - compiled
    recs: Any,
    b0: int,
    batch: int,
    t: int,
    isyn: Any,
    isyn2: Any,
    two: bool,
    vmem: Any,
    buf: Any,
    isyn_o: Any,
    vmem_o: Any,
) -> None:
    """Step ``t``'s states ``(neurons, lanes)`` of lanes ``0 .. batch - 1`` into
    samples ``b0 ..`` of ``recs`` (``Isyn2`` only with ``two`` synapses)."""
    rec_v, rec_i1, rec_i2, rec_s, rec_vo, rec_io = recs
    for b in range(batch):
        for j in range(vmem.shape[0]):
            rec_v[b0 + b, t, j] = vmem[j, b]
            rec_i1[b0 + b, t, j] = isyn[j, b]
            if two:
                rec_i2[b0 + b, t, j] = isyn2[j, b]
            rec_s[b0 + b, t, j] = buf[j, b]
        for k in range(vmem_o.shape[0]):
            rec_vo[b0 + b, t, k] = vmem_o[k, b]
            rec_io[b0 + b, t, k] = isyn_o[k, b]


@njit(cache=True, nogil=True, error_model="numpy")
def run_core(x: Any, model: Any, out: Any, recs: Any) -> None:  # pragma: no cover
    """Run ``x (B, T, Nin)`` (int32 counts, already clipped) from reset, one sample
    at a time; writes the output spikes ``out (B, T, Nout)`` and, unless they are
    empty, the int16 state recordings ``recs`` (Vmem, Isyn, Isyn2, Spikes, Vmem_out,
    Isyn_out, each ``(B, T, N)``).

    ``model`` is (weights, regs, opts): ``weights`` holds (dense, ptr, idx, w) for
    the input, recurrent and output projections; ``regs`` the per-neuron registers
    (int32): dash_syn, dash_mem, theta, bias, aliases, then dash_syn, dash_mem,
    theta, bias of the outputs; ``opts`` (nsyn, v2, use_bias, cap, cap_out,
    narrow)."""
    weights, regs, opts = model
    in_dense, in_ptr, in_idx, in_w = weights[0:4]
    rec_dense, rec_ptr, rec_idx, rec_w = weights[4:8]
    out_dense, out_ptr, out_idx, out_w = weights[8:12]
    dash_syn, dash_mem, theta, bias, aliases = regs[0:5]
    dash_syn_out, dash_mem_out, theta_out, bias_out = regs[5:9]
    nsyn, v2, use_bias, cap, cap_out = opts[0:5]
    batch, steps, nin = x.shape
    nhid = dash_mem.shape[0]
    nout = dash_mem_out.shape[0]
    record = recs[0].shape[0] > 0
    has_alias = False
    for j in range(nhid):
        if aliases[j] >= 0:
            has_alias = True
    isyn = np.zeros(nhid * nsyn, np.int32)
    vmem = np.zeros(nhid, np.int32)
    isyn_o = np.zeros(nout, np.int32)
    vmem_o = np.zeros(nout, np.int32)
    prev = np.zeros(nhid, np.int32)
    buf = np.zeros(nhid, np.int32)
    for b in range(batch):
        isyn[:] = 0
        vmem[:] = 0
        isyn_o[:] = 0
        vmem_o[:] = 0
        prev[:] = 0
        for t in range(steps):
            # 1-3. deliveries, in the hardware's order
            for c in range(nin):
                n = x[b, t, c]
                if n > 0:
                    _deliver(isyn, n, c, in_dense, in_ptr, in_idx, in_w)
            for i in range(nhid):
                n = prev[i]
                if n > 0:
                    _deliver(isyn, n, i, rec_dense, rec_ptr, rec_idx, rec_w)
                    _deliver(isyn_o, n, i, out_dense, out_ptr, out_idx, out_w)
            # 5. hidden neurons, ascending (alias spikes land on later ids first)
            buf[:] = 0
            for j in range(nhid):
                i_sum = 0
                for s in range(nsyn):
                    m = j * nsyn + s
                    v = isyn[m]
                    q = v >> dash_syn[m]
                    if q == 0 and v > 0:
                        q = 1
                    isyn[m] = v - q
                    i_sum += v - q
                v = _membrane(vmem[j], i_sum, dash_mem[j], bias[j], v2, use_bias)
                n = buf[j]
                th = theta[j]
                if v >= th and n < cap:
                    k = v // th
                    if k > cap - n:
                        k = cap - n
                    v -= k * th
                    n += k
                vmem[j] = v
                buf[j] = n
                if has_alias:
                    a = aliases[j]
                    if a >= 0:
                        na = buf[a] + n
                        buf[a] = cap if na > cap else na
            # 6. output neurons: one synapse, at most cap_out spikes, no alias
            for k in range(nout):
                v = isyn_o[k]
                q = v >> dash_syn_out[k]
                if q == 0 and v > 0:
                    q = 1
                isyn_o[k] = v - q
                v = _membrane(
                    vmem_o[k], isyn_o[k], dash_mem_out[k], bias_out[k], v2, use_bias
                )
                n = 0
                th = theta_out[k]
                if v >= th:
                    n = v // th
                    if n > cap_out:
                        n = cap_out
                    v -= n * th
                vmem_o[k] = v
                out[b, t, k] = n
            prev[:] = buf
            if record:
                i2 = isyn.reshape(nhid, nsyn)
                _record(
                    recs,
                    b,
                    1,
                    t,
                    i2[:, 0:1],
                    i2[:, nsyn - 1 :],
                    nsyn > 1,
                    vmem.reshape(nhid, 1),
                    buf.reshape(nhid, 1),
                    isyn_o.reshape(nout, 1),
                    vmem_o.reshape(nout, 1),
                )


@njit(cache=True, nogil=True, inline="always")
def _add(state: Any, j: int, b: int, c: Any, w: Any) -> None:  # pragma: no cover
    """``state[j, b] += c * w``, saturated (the product in int32)."""
    state[j, b] = _sat(np.int32(state[j, b] + np.int32(c) * w))


@njit(cache=True, nogil=True, inline="always")
def _decay(state: Any, j: int, d: Any) -> None:  # pragma: no cover - compiled
    """``state[j] -= dec(state[j], d)`` in every lane (never leaves int16)."""
    for b in range(state.shape[1]):
        v = np.int32(state[j, b])
        q = v >> d
        state[j, b] = np.int32(v - q - np.int32((q == 0) & (v > 0)))


@njit(cache=True, nogil=True, error_model="numpy")
def _target(  # pragma: no cover - compiled
    s0: Any,
    s1: Any,
    vmem: Any,
    buf: Any,
    j: int,
    cnt: Any,
    active: Any,
    ptr: Any,
    src: Any,
    w: Any,
    regs: Any,
    opts: Any,
) -> None:
    """Neuron ``j``'s whole step in every lane (§2 steps 1-6): its deliveries, then
    decay, integrate, spike. Synapse rows ``s0[j]``, ``s1[j]`` (with one synapse,
    ``s1`` stays 0 and its weights are 0); ``regs`` (dash_syn, dash_syn_2, dash_mem,
    bias, threshold) of ``j``; ``opts`` (two synapses, narrow products, v2,
    use_bias, spike cap).

    Deliveries: ``s[j] += cnt[r] * w[e]`` saturated, for ``j``'s sources ``r`` in
    the hardware's order (fan-in list ``ptr``, ``src``, ``w (edges, 2)``), skipping
    sources silent in every lane (a silent lane adds ``0 * w``, which changes
    nothing).

    """
    d0, d1, dm, bias, th = regs
    two, narrow, v2, use_bias, cap = opts
    lanes = s0.shape[1]
    for e in range(ptr[j], ptr[j + 1]):
        r = src[e]
        if not active[r]:
            continue
        w0 = w[e, 0]
        w1 = w[e, 1]
        if narrow:
            for b0 in range(0, lanes, _V):
                _madd(s0, j, b0, cnt, r, w0)
                if two:
                    _madd(s1, j, b0, cnt, r, w1)
        else:
            for b in range(lanes):
                _add(s0, j, b, cnt[r, b], w0)
            if two:
                for b in range(lanes):
                    _add(s1, j, b, cnt[r, b], w1)
    _decay(s0, j, d0)
    if two:
        _decay(s1, j, d1)
    b16 = np.int32(bias) if use_bias else np.int32(0)
    if v2:
        for b in range(lanes):
            v = np.int32(vmem[j, b])
            q = v >> dm
            q = np.int32(q + np.int32((q == 0) & (v > 0)))
            # NOTE: -(-32768) wraps to -32768 in xylosim's int16_t (§2 step 5.2).
            dv = np.int32(-q) - np.int32(65536) * np.int32(q == np.int32(_LO))
            dv = _sat(np.int32(dv + np.int32(s0[j, b]) + np.int32(s1[j, b])))
            # adding a zero bias through the clamp changes nothing
            dv = _sat(np.int32(dv + b16))
            vmem[j, b] = _sat(np.int32(v + dv))
    else:
        for b in range(lanes):
            v = np.int32(vmem[j, b])
            q = v >> dm
            q = np.int32(q + np.int32((q == 0) & (v > 0)))
            i_sum = np.int32(np.int32(s0[j, b]) + np.int32(s1[j, b]))
            vmem[j, b] = _sat(np.int32(v - q + i_sum))
    thf = np.float32(th)
    for b in range(lanes):
        v = np.int32(vmem[j, b])
        n = np.int32(buf[j, b])
        # floor(v / th) for 0 <= v < 2^15 is exact in float32: a quotient's distance
        # to the next integer is >= 1 / th, above its rounding error (v + th < 2^16).
        k = np.int32(np.float32(max(v, np.int32(0))) / thf)
        k = min(k, np.int32(cap - n))
        vmem[j, b] = np.int32(v - k * th)
        buf[j, b] = np.int32(n + k)


@njit(cache=True, nogil=True, error_model="numpy")
def run_lanes(x: Any, model: Any, out: Any, recs: Any) -> None:  # pragma: no cover
    """``run_core`` with the batch as SIMD lanes, fused and pulling (module doc).

    ``model``'s weights are the fan-in lists (ptr, src, w (edges, 2)) of the
    hidden neurons (sources: input channels, then ``nin`` + hidden neuron) and of
    the outputs (sources ``nin`` + hidden neuron; ``w[:, 1]`` is 0).
    """
    batch, steps, nin = x.shape
    record = recs[0].shape[0] > 0
    weights, regs, opts = model
    hid_ptr, hid_src, hid_w, out_ptr, out_src, out_w = weights
    nsyn, v2, use_bias, cap, cap_out, narrow = opts
    dash_syn, dash_mem, theta, bias, aliases = regs[0:5]
    dash_syn_out, dash_mem_out, theta_out, bias_out = regs[5:9]
    nhid = dash_mem.shape[0]
    nout = dash_mem_out.shape[0]
    # NOTE: lanes padded to whole vectors; padding lanes get no input (discarded)
    lanes = (batch + _V - 1) // _V * _V
    s0 = np.zeros((nhid, lanes), np.int16)
    s1 = np.zeros((nhid, lanes), np.int16)
    vmem = np.zeros((nhid, lanes), np.int16)
    buf = np.zeros((nhid, lanes), np.int16)
    so = np.zeros((nout, lanes), np.int16)
    so1 = np.zeros((nout, lanes), np.int16)
    vmem_o = np.zeros((nout, lanes), np.int16)
    fired = np.zeros((nout, lanes), np.int16)
    # rows: input channels, then the previous step's hidden spike counts
    cnt = np.zeros((nin + nhid, lanes), np.int16)
    active = np.zeros(nin + nhid, np.bool_)
    hid_opts = (nsyn == 2, narrow, v2, use_bias, np.int32(cap))
    out_opts = (False, narrow, v2, use_bias, np.int32(cap_out))
    for t in range(steps):
        for c in range(nin):
            act = np.int32(0)
            for b in range(batch):
                cnt[c, b] = x[b, t, c]
                act |= x[b, t, c]
            active[c] = act != 0
        # 1-3 and 5. per hidden neuron, ascending: its deliveries in the hardware's
        # source order, then decay, integrate, spike (alias spikes land on later ids)
        buf[:] = 0
        for j in range(nhid):
            m = j * nsyn
            j_regs = (
                dash_syn[m],
                dash_syn[m + nsyn - 1],
                dash_mem[j],
                bias[j],
                theta[j],
            )
            _target(
                s0,
                s1,
                vmem,
                buf,
                j,
                cnt,
                active,
                hid_ptr,
                hid_src,
                hid_w,
                j_regs,
                hid_opts,
            )
            a = aliases[j]
            if a >= 0:
                for b in range(lanes):
                    buf[a, b] = min(np.int32(buf[a, b] + buf[j, b]), np.int32(cap))
        # 4 and 6. output neurons: one synapse, at most cap_out spikes, no alias
        fired[:] = 0
        for k in range(nout):
            k_regs = (
                dash_syn_out[k],
                dash_syn_out[k],
                dash_mem_out[k],
                bias_out[k],
                theta_out[k],
            )
            _target(
                so,
                so1,
                vmem_o,
                fired,
                k,
                cnt,
                active,
                out_ptr,
                out_src,
                out_w,
                k_regs,
                out_opts,
            )
        for b in range(batch):
            for k in range(nout):
                out[b, t, k] = fired[k, b]
        for j in range(nhid):
            act = np.int32(0)
            for b in range(lanes):
                cnt[nin + j, b] = buf[j, b]
                act |= buf[j, b]
            active[nin + j] = act != 0
        if record:
            _record(recs, 0, batch, t, s0, s1, nsyn > 1, vmem, buf, so, vmem_o)
