"""The compiled (numba) Xylo core: one sample at a time, event by event, in int32.

Imported lazily by ``XyloEmulator`` (importing numba costs ~0.5 s). Each sample runs
the hardware's sequential order literally (reference §2): input channels ascending,
then the previous step's spiking hidden neurons ascending, each adding ``n * w`` with
int16 saturation to the targets in its fan-out list; then the neurons ascending
(decay, integrate, spike loop, alias deposit). Saturating in that order is exact by
construction, so no saturation check is needed, and the cost follows the work:
silent channels and neurons deliver nothing, a spiking neuron touches only its
fan-out. Dense weight rows (the input projection, typically) are kept as dense rows
that the compiler vectorizes; sparse ones as CSR lists.

``cache=True`` stores the machine code next to this file (or in numba's cache dir),
so only the first run on a machine pays the compile (~10-20 s); ``nogil=True`` lets
``XyloEmulator`` run batch chunks on threads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

__all__ = ["run_core"]

_LO = -32768
_HI = 32767


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


@njit(cache=True, nogil=True)
def run_core(  # pragma: no cover - compiled
    x: Any,
    in_dense: Any,
    in_ptr: Any,
    in_idx: Any,
    in_w: Any,
    rec_dense: Any,
    rec_ptr: Any,
    rec_idx: Any,
    rec_w: Any,
    out_dense: Any,
    out_ptr: Any,
    out_idx: Any,
    out_w: Any,
    dash_syn: Any,
    dash_mem: Any,
    theta: Any,
    bias: Any,
    aliases: Any,
    dash_syn_out: Any,
    dash_mem_out: Any,
    theta_out: Any,
    bias_out: Any,
    nsyn: int,
    v2: bool,
    use_bias: bool,
    cap: int,
    cap_out: int,
    spikes_out: Any,
    record: bool,
    rec_v: Any,
    rec_i1: Any,
    rec_i2: Any,
    rec_s: Any,
    rec_vo: Any,
    rec_io: Any,
) -> None:
    """Run ``x (B, T, Nin)`` (int32 counts, already clipped) from reset; writes
    ``spikes_out (B, T, Nout)`` and, with ``record``, the int16 state recordings."""
    batch, steps, nin = x.shape
    nhid = dash_mem.shape[0]
    nout = dash_mem_out.shape[0]
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
                spikes_out[b, t, k] = n
            prev[:] = buf
            if record:
                for j in range(nhid):
                    rec_v[b, t, j] = vmem[j]
                    rec_i1[b, t, j] = isyn[j * nsyn]
                    if nsyn > 1:
                        rec_i2[b, t, j] = isyn[j * nsyn + 1]
                    rec_s[b, t, j] = buf[j]
                for k in range(nout):
                    rec_vo[b, t, k] = vmem_o[k]
                    rec_io[b, t, k] = isyn_o[k]


@njit(cache=True, nogil=True, inline="always")
def _clamp(v: Any) -> Any:  # pragma: no cover - compiled
    return min(max(v, np.int32(_LO)), np.int32(_HI))


@njit(cache=True, nogil=True, inline="always")
def _deliver_lanes(  # pragma: no cover - compiled
    state: Any,
    cnt: Any,
    row: int,
    src: int,
    dense: Any,
    ptr: Any,
    idx: Any,
    w: Any,
) -> None:
    """``state[m] += cnt[row] * weight`` (lanes) per target ``m`` of ``src``, clamped.

    NOTE: 2-D indexing throughout; taking row views here costs a reference count
    per target, which dominated the run time."""
    lanes = cnt.shape[1]
    if dense.shape[0] > 0:
        for m in range(dense.shape[1]):
            wm = dense[src, m]
            if wm != 0:
                for b in range(lanes):
                    state[m, b] = _clamp(np.int32(state[m, b] + cnt[row, b] * wm))
    else:
        for k in range(ptr[src], ptr[src + 1]):
            m = idx[k]
            wk = w[k]
            for b in range(lanes):
                state[m, b] = _clamp(np.int32(state[m, b] + cnt[row, b] * wk))


@njit(cache=True, nogil=True, inline="always")
def _neuron_lanes(  # pragma: no cover - compiled
    isyn: Any,
    vmem: Any,
    buf: Any,
    j: int,
    nsyn: int,
    dash_syn: Any,
    dash_mem: Any,
    bias: Any,
    th: Any,
    v2: bool,
    use_bias: bool,
    cap: Any,
) -> None:
    """Decay, integrate and spike neuron ``j`` in every lane (§2 steps 5.1-5.6).

    NOTE: every lane loop is branch-free with loop-invariant choices hoisted out,
    so that the compiler vectorizes it."""
    lanes = vmem.shape[1]
    m0 = j * nsyn
    for s in range(nsyn):
        d = dash_syn[m0 + s]
        for b in range(lanes):
            v = isyn[m0 + s, b]
            q = v >> d
            q = np.int32(q + np.int32((q == 0) & (v > 0)))
            isyn[m0 + s, b] = np.int32(v - q)
    m1 = m0 + nsyn - 1
    two = np.int32(nsyn - 1)
    d = dash_mem[j]
    b16 = np.int32(bias) if use_bias else np.int32(0)
    if v2:
        for b in range(lanes):
            v = vmem[j, b]
            q = v >> d
            q = np.int32(q + np.int32((q == 0) & (v > 0)))
            # NOTE: -(-32768) wraps to -32768 in xylosim's int16_t (§2 step 5.2).
            dv = np.int32(-q) - np.int32(65536) * np.int32(q == np.int32(_LO))
            i_sum = np.int32(isyn[m0, b] + two * isyn[m1, b])
            dv = _clamp(np.int32(dv + i_sum))
            # adding a zero bias through the clamp changes nothing
            dv = _clamp(np.int32(dv + b16))
            vmem[j, b] = _clamp(np.int32(v + dv))
    else:
        for b in range(lanes):
            v = vmem[j, b]
            q = v >> d
            q = np.int32(q + np.int32((q == 0) & (v > 0)))
            i_sum = np.int32(isyn[m0, b] + two * isyn[m1, b])
            vmem[j, b] = _clamp(np.int32(v - q + i_sum))
    thf = np.float64(th)
    for b in range(lanes):
        v = vmem[j, b]
        n = buf[j, b]
        # floor(v / th) for v >= 0 is exact in float64 (|v|, th < 2^16).
        k = np.int32(np.float64(max(v, np.int32(0))) / thf)
        k = min(k, np.int32(cap - n))
        vmem[j, b] = np.int32(v - k * th)
        buf[j, b] = np.int32(n + k)


@njit(cache=True, nogil=True)
def run_lanes(  # pragma: no cover - compiled
    x: Any,
    in_dense: Any,
    in_ptr: Any,
    in_idx: Any,
    in_w: Any,
    rec_dense: Any,
    rec_ptr: Any,
    rec_idx: Any,
    rec_w: Any,
    out_dense: Any,
    out_ptr: Any,
    out_idx: Any,
    out_w: Any,
    dash_syn: Any,
    dash_mem: Any,
    theta: Any,
    bias: Any,
    aliases: Any,
    dash_syn_out: Any,
    dash_mem_out: Any,
    theta_out: Any,
    bias_out: Any,
    nsyn: int,
    v2: bool,
    use_bias: bool,
    cap: int,
    cap_out: int,
    spikes_out: Any,
    record: bool,
    rec_v: Any,
    rec_i1: Any,
    rec_i2: Any,
    rec_s: Any,
    rec_vo: Any,
    rec_io: Any,
) -> None:
    """``run_core`` with the batch as SIMD lanes: states ``(neurons, B)``.

    Every per-neuron step runs over the ``B`` samples at once; a source delivers when
    it is active in any sample (its silent lanes add ``0 * w``, which changes
    nothing), in the same source order as the hardware, so each lane's saturating
    sums are exactly the sequential ones.
    """
    batch, steps, nin = x.shape
    nhid = dash_mem.shape[0]
    nout = dash_mem_out.shape[0]
    isyn = np.zeros((nhid * nsyn, batch), np.int32)
    vmem = np.zeros((nhid, batch), np.int32)
    isyn_o = np.zeros((nout, batch), np.int32)
    vmem_o = np.zeros((nout, batch), np.int32)
    prev = np.zeros((nhid, batch), np.int32)
    buf = np.zeros((nhid, batch), np.int32)
    fired = np.zeros((nout, batch), np.int32)
    active = np.zeros(nhid, np.bool_)
    cnt = np.zeros((nin, batch), np.int32)
    cap32 = np.int32(cap)
    cap_out32 = np.int32(cap_out)
    for t in range(steps):
        # 1-3. deliveries, in the hardware's source order
        for c in range(nin):
            anyc = False
            for b in range(batch):
                cnt[c, b] = x[b, t, c]
                anyc = anyc or x[b, t, c] > 0
            if anyc:
                _deliver_lanes(isyn, cnt, c, c, in_dense, in_ptr, in_idx, in_w)
        for i in range(nhid):
            if active[i]:
                _deliver_lanes(isyn, prev, i, i, rec_dense, rec_ptr, rec_idx, rec_w)
                _deliver_lanes(isyn_o, prev, i, i, out_dense, out_ptr, out_idx, out_w)
        # 5. hidden neurons, ascending (alias spikes land on later ids first)
        buf[:] = 0
        for j in range(nhid):
            _neuron_lanes(
                isyn,
                vmem,
                buf,
                j,
                nsyn,
                dash_syn,
                dash_mem,
                bias[j],
                theta[j],
                v2,
                use_bias,
                cap32,
            )
            a = aliases[j]
            if a >= 0:
                for b in range(batch):
                    buf[a, b] = min(np.int32(buf[a, b] + buf[j, b]), cap32)
        # 6. output neurons: one synapse, at most cap_out spikes, no alias
        fired[:] = 0
        for k in range(nout):
            _neuron_lanes(
                isyn_o,
                vmem_o,
                fired,
                k,
                1,
                dash_syn_out,
                dash_mem_out,
                bias_out[k],
                theta_out[k],
                v2,
                use_bias,
                cap_out32,
            )
        for b in range(batch):
            for k in range(nout):
                spikes_out[b, t, k] = fired[k, b]
        for j in range(nhid):
            act = np.int32(0)
            for b in range(batch):
                prev[j, b] = buf[j, b]
                act |= buf[j, b]
            active[j] = act != 0
        if record:
            for b in range(batch):
                for j in range(nhid):
                    rec_v[b, t, j] = vmem[j, b]
                    rec_i1[b, t, j] = isyn[j * nsyn, b]
                    if nsyn > 1:
                        rec_i2[b, t, j] = isyn[j * nsyn + 1, b]
                    rec_s[b, t, j] = buf[j, b]
                for k in range(nout):
                    rec_vo[b, t, k] = vmem_o[k, b]
                    rec_io[b, t, k] = isyn_o[k, b]
