"""Compiled (numba) kernels of the Dynap-SE2 emulator: the fast engine.

The same equations as ``emulator``'s torch step (its module docstring), in float32, one
fused loop per step over the neurons of one *sequence* (one chip instance and one input
sample): every state of a 1,024-neuron chip fits in the first-level cache, nothing is
allocated per step, and a whole run of ``T`` steps is one call per sequence.

* **Delivery is event-driven**: input channels and neurons that spiked in the previous
  substep add their fan-out (CSR rows by source) into the step's weighted-input buffer;
  the cost follows the spikes, not the matrix size.
* **Gradients** (``backward``): reverse-mode through the saved per-substep states
  (``forward(..., save=True)``), recomputing each step's intermediates, with the
  emulator's fast-sigmoid surrogate for the spike and the reset and refractory gate
  not differentiated (the detached spike), exactly as the torch path's autograd does.
  It returns the gradients of the per-neuron constants (summed over samples and time),
  of the dense input and recurrent projections, and nothing for the input raster.
* **Threads**: sequences are independent, so a run splits them over threads with no
  synchronization inside a run (``nogil`` kernels, a work queue of sequences); the
  result does not depend on the thread count.

Constants are ``(C, F, N)`` float32 rows in the order of ``FIELDS`` followed by four
rows per simulated synapse type (``SYN_FIELDS``).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

__all__ = ["FIELDS", "SYN_FIELDS", "backward", "forward"]

FIELDS: tuple[str, ...] = (
    "i0",
    "ahp_decay",
    "ahp_charge",
    "leak_const",
    "drive_const",
    "inv_itau_mem",
    "igain_mem",
    "gain_mem",
    "if_nmda",
    "euler",
    "fb_offset",
    "fb_slope",
    "log_spkthr",
    "n_ref",
)
SYN_FIELDS: tuple[str, ...] = ("syn_decay", "syn_pulse", "syn_charge", "syn_gain")

_I0, _AD, _AC, _LC, _DC, _IIT, _IGM, _GM, _IFN, _EU, _FO, _FS, _LSP, _NREF = range(14)
_NF = len(FIELDS)

_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _deliver(
    buf: np.ndarray, src: np.ndarray, ptr: np.ndarray, idx: np.ndarray, val: np.ndarray
) -> None:
    """``buf[idx] += val * src[i]`` over the CSR rows of the sources that are nonzero."""
    for i in range(src.shape[0]):
        count = src[i]
        if count == _ZERO:
            continue
        for e in range(ptr[i], ptr[i + 1]):
            buf[idx[e]] += val[e] * count


def _bits_impl(typingctx: Any, x: Any) -> Any:
    """The bits of a float32 as an int32."""
    sig = types.int32(types.float32)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(32))

    return sig, codegen


def _from_bits_impl(typingctx: Any, i: Any) -> Any:
    """The float32 of int32 bits."""
    sig = types.float32(types.int32)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


_bits: Any = intrinsic(_bits_impl)
_from_bits: Any = intrinsic(_from_bits_impl)

# NOTE: float32 exp and log as inline polynomials (Cephes' expf/logf reductions and
# minimax coefficients, about 1 ulp): unlike libm calls they let LLVM vectorize the
# neuron loop (numba has no vector math library here), the single largest speedup.
_EXP_HI, _EXP_LO = np.float32(88.37626), np.float32(-87.33654)
_LOG2E = np.float32(1.44269504088896341)
_LN2_HI, _LN2_LO = np.float32(0.693359375), np.float32(-2.12194440e-4)
_EXP_P = tuple(
    np.float32(v)
    for v in (
        1.9875691500e-4,
        1.3981999507e-3,
        8.3334519073e-3,
        4.1665795894e-2,
        1.6666665459e-1,
        5.0000001201e-1,
    )
)
_LOG_P = tuple(
    np.float32(v)
    for v in (
        7.0376836292e-2,
        -1.1514610310e-1,
        1.1676998740e-1,
        -1.2420140846e-1,
        1.4249322787e-1,
        -1.6668057665e-1,
        2.0000714765e-1,
        -2.4999993993e-1,
        3.3333331174e-1,
    )
)
_SQRT_HALF = np.float32(0.707106781186547524)
_HALF = np.float32(0.5)


@numba.njit(inline="always", error_model="numpy")
def _exp(x: float) -> float:
    """``exp`` of a float32 (normal results; clamped to the float32 range)."""
    x = min(max(x, _EXP_LO), _EXP_HI)
    fx = np.floor(x * _LOG2E + _HALF)
    r = x - fx * _LN2_HI - fx * _LN2_LO
    p0, p1, p2, p3, p4, p5 = _EXP_P
    y = ((((p0 * r + p1) * r + p2) * r + p3) * r + p4) * r + p5
    y = y * (r * r) + r + _ONE
    n = np.int32(fx)
    return y * _from_bits((n + np.int32(127)) << np.int32(23))


@numba.njit(inline="always", error_model="numpy")
def _log(x: float) -> float:
    """``log`` of a positive normal float32."""
    i = _bits(x)
    e = np.float32(((i >> np.int32(23)) & np.int32(0xFF)) - np.int32(126))
    m = _from_bits((i & np.int32(-2139095041)) | np.int32(0x3F000000))  # [0.5, 1)
    small = m < _SQRT_HALF
    e = e - _ONE if small else e
    r = (m + m - _ONE) if small else (m - _ONE)
    z = r * r
    p0, p1, p2, p3, p4, p5, p6, p7, p8 = _LOG_P
    y = ((((((p0 * r + p1) * r + p2) * r + p3) * r + p4) * r + p5) * r + p6) * r + p7
    y = (y * r + p8) * r * z
    y = y + e * _LN2_LO - _HALF * z
    return r + y + e * _LN2_HI


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _step(
    k: np.ndarray,
    n_syn: int,
    rows: np.ndarray,
    dynapsim: bool,
    iw: np.ndarray,
    isyn: np.ndarray,
    iahp: np.ndarray,
    imem: np.ndarray,
    logm: np.ndarray,
    timer: np.ndarray,
    spk: np.ndarray,
) -> None:
    """One substep of every neuron of one sequence, in place (``emulator._step``).

    ``iw``: weighted input ``(S, N)``; ``rows``: the row of AMPA, NMDA, GABA, SHUNT in
    ``isyn`` or -1; ``spk`` holds the previous spikes and receives the new ones.
    Every loop is branch-free (selects) so that it vectorizes.
    """
    # NOTE: constants are read as k[row, j], never through row views: every view
    # numba creates costs a reference-count call pair, and with ~30 of them a call
    # spent more on those than on a 74-neuron chip's arithmetic (1.4x, measured).
    n = imem.shape[0]
    for s in range(n_syn):
        base = _NF + 4 * s
        if dynapsim:
            for j in range(n):
                tgt = max(k[base + 3, j] * iw[s, j], k[_I0, j])
                isyn[s, j] = k[base, j] * isyn[s, j] + k[base + 1, j] * tgt
        else:
            for j in range(n):
                u = k[base, j] * isyn[s, j] + k[base + 2, j] * iw[s, j]
                isyn[s, j] = u if u >= k[_I0, j] else k[_I0, j]
    ra, rn, rg, rs = rows[0], rows[1], rows[2], rows[3]
    for j in range(n):
        i0 = k[_I0, j]
        # absent types read 0 (exact: x + 0 is x) or, for NMDA, I_0 (reference)
        ampa = isyn[ra, j] if ra >= 0 else _ZERO
        nmda = isyn[rn, j] if rn >= 0 else i0
        gaba = isyn[rg, j] if rg >= 0 else _ZERO
        shunt = isyn[rs, j] if rs >= 0 else _ZERO
        ua = k[_AD, j] * iahp[j] + k[_AC, j] * spk[j]
        a = ua if ua >= i0 else i0
        iahp[j] = a
        m = imem[j]
        leak = k[_LC, j] + a
        if dynapsim:
            drive = ampa - leak + k[_DC, j]
        else:
            leak = leak + gaba
            drive = k[_DC, j] + nmda * m / (m + k[_IFN, j])
            drive = drive + ampa
            drive = drive - shunt
        gate = max(_ONE - timer[j], _ZERO)
        i_in = max(drive * gate, i0)
        i_inf = k[_GM, j] * (i_in - leak)
        fb = _exp(k[_FO, j] + k[_FS, j] * logm[j])
        relax = m * (_ONE + a * k[_IIT, j])
        rate = leak * (i_inf - relax) / (m + k[_IGM, j]) + fb
        um = m * (_ONE + k[_EU, j] * rate)
        m1 = um if um >= i0 else i0
        lm = _log(m1)
        logm[j] = lm
        if dynapsim:
            c = max(np.ceil(lm - k[_LSP, j]), _ZERO)
        else:
            c = _ONE if lm > k[_LSP, j] else _ZERO
        fired = c > _ZERO
        spk[j] = c
        timer[j] = k[_NREF, j] if fired else max(timer[j] - _ONE, _ZERO)
        imem[j] = i0 if fired else m1


@numba.njit(inline="always", error_model="numpy")
def _save(
    tr: tuple[np.ndarray, ...],
    p: int,
    u: int,
    n_syn: int,
    state: tuple[np.ndarray, ...],
) -> None:
    """The state after substep ``u`` and its weighted input (``state``: ``iw``,
    ``isyn``, ``iahp``, ``imem``, ``logm``, ``timer``, ``spk``) into the trajectories
    ``tr`` (``forward``), at sequence position ``p`` (element-wise, no row views)."""
    iw, isyn, iahp, imem, logm, timer, spk = state
    tr_isyn, tr_iahp, tr_imem, tr_logm, tr_timer, tr_spk, tr_iw = tr
    n = imem.shape[0]
    for s in range(n_syn):
        for j in range(n):
            tr_iw[p, u, s, j] = iw[s, j]
            tr_isyn[p, u, s, j] = isyn[s, j]
    for j in range(n):
        tr_iahp[p, u, j] = iahp[j]
        tr_imem[p, u, j] = imem[j]
        tr_logm[p, u, j] = logm[j]
        tr_timer[p, u, j] = timer[j]
        tr_spk[p, u, j] = spk[j]


@numba.njit(inline="always", error_model="numpy")
def _deliver_input(
    buf: np.ndarray,
    x: np.ndarray,
    xc: int,
    b: int,
    t: int,
    ptr: np.ndarray,
    idx: np.ndarray,
    val: np.ndarray,
) -> None:
    """``_deliver`` of the input raster's step ``x[xc, b, t]`` (no row view)."""
    for i in range(x.shape[3]):
        count = x[xc, b, t, i]
        if count == _ZERO:
            continue
        for e in range(ptr[i], ptr[i + 1]):
            buf[idx[e]] += val[e] * count


@numba.njit(cache=True, nogil=True, error_model="numpy")
def forward(
    seqs: np.ndarray,
    n_batch: int,
    k_all: np.ndarray,
    x: np.ndarray,
    inputs: tuple[np.ndarray, np.ndarray, np.ndarray],
    rec: tuple[np.ndarray, np.ndarray, np.ndarray],
    n_syn: int,
    rows: np.ndarray,
    dynapsim: bool,
    substeps: int,
    out_spikes: np.ndarray,
    record: bool,
    first: int,
    out_imem: np.ndarray,
    out_isyn: np.ndarray,
    out_iahp: np.ndarray,
    save: bool,
    tr: tuple[np.ndarray, ...],
) -> None:
    """Run sequences ``seqs`` (``q = c * B + b``) for ``T`` steps.

    ``x``: ``(C_in, B, T, N_in)``; ``k_all``: ``(C, F, N)``; outputs ``(C, B, T, N)``;
    with ``record``, the states of neurons ``first .. first + M - 1`` go to
    ``out_imem`` and ``out_iahp`` ``(C, B, T, M)`` and ``out_isyn`` ``(C, B, T, M, R)``
    (column ``r`` from ``isyn`` row ``rows[r]``, ``I_0`` where that is -1);
    ``inputs`` and ``rec``: the fan-out lists (``ptr``,
    ``idx``, ``val``). With ``save`` the state after every substep goes to the
    trajectories ``tr`` (``isyn``, ``iahp``, ``imem``, ``logm``, ``timer``, ``spk``,
    ``iw``: ``(Q, T * substeps + 1, ...)``; index 0: the initial state; ``iw``: the
    substep's weighted input), indexed by the position of ``q`` in ``seqs``.
    """
    in_ptr, in_idx, in_val = inputs
    rec_ptr, rec_idx, rec_val = rec
    n = k_all.shape[2]
    steps = x.shape[2]
    c_in = x.shape[0]
    iw = np.zeros((max(n_syn, 1), n), np.float32)
    isyn = np.empty((max(n_syn, 1), n), np.float32)
    iahp = np.empty(n, np.float32)
    imem = np.empty(n, np.float32)
    logm = np.empty(n, np.float32)
    timer = np.empty(n, np.float32)
    spk = np.empty(n, np.float32)
    flat = iw.reshape(-1)
    state = (iw, isyn, iahp, imem, logm, timer, spk)
    for p in range(seqs.shape[0]):
        q = seqs[p]
        c, b = q // n_batch, q % n_batch
        xc = c if c_in > 1 else 0
        k = k_all[c]
        for j in range(n):
            i0 = k[_I0, j]
            for s in range(n_syn):
                isyn[s, j] = i0
            iahp[j] = i0
            imem[j] = i0
            logm[j] = _log(i0)
            timer[j] = _ZERO
            spk[j] = _ZERO
        flat[:] = _ZERO
        if save:
            _save(tr, p, 0, n_syn, state)
        u = 0
        for t in range(steps):
            for sub in range(substeps):
                for e in range(flat.shape[0]):
                    flat[e] = _ZERO
                if sub == 0:
                    _deliver_input(flat, x, xc, b, t, in_ptr, in_idx, in_val)
                _deliver(flat, spk, rec_ptr, rec_idx, rec_val)
                _step(
                    k,
                    n_syn,
                    rows,
                    dynapsim,
                    iw,
                    isyn,
                    iahp,
                    imem,
                    logm,
                    timer,
                    spk,
                )
                u += 1
                if save:
                    _save(tr, p, u, n_syn, state)
                if sub == 0:
                    for j in range(n):
                        out_spikes[c, b, t, j] = spk[j]
                else:
                    for j in range(n):
                        out_spikes[c, b, t, j] += spk[j]
            if record:
                for i in range(out_imem.shape[3]):
                    j = first + i
                    out_imem[c, b, t, i] = imem[j]
                    out_iahp[c, b, t, i] = iahp[j]
                    i0 = k[_I0, j]
                    for r in range(out_isyn.shape[4]):
                        s = rows[r]
                        out_isyn[c, b, t, i, r] = isyn[s, j] if s >= 0 else i0


# --- the reverse pass --------------------------------------------------------------
# NOTE: every adjoint and gradient accumulator of a sequence lives in one float32
# array ``acc`` of neuron blocks, each ``_ROWS`` rows of ``_BLK`` neurons: in a loop
# over a block's neurons every write is at a compile-time distance from every other,
# so LLVM vectorizes the loop without runtime alias checks (with ~20 separate
# arrays written it could not, and the reverse step ran scalar, 4x slower).
_BLK = 128
_JA, _JM, _JL, _JN = _NF, _NF + 1, _NF + 2, _NF + 3  # adjoints of the state
_TB = _NF + 4  # synapse type t's rows start at _TB + _TR * t:
_TR = 7  # its 4 constants' gradients, the adjoints of I_syn and of the weighted
# input, and I_0's gradient through its clamp
_ROWS = _TB + 4 * _TR
_STRIDE = _ROWS * _BLK


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _reverse_neurons(
    k: np.ndarray,
    acc: np.ndarray,
    rows: np.ndarray,
    dynapsim: bool,
    sl: float,
    tr_isyn: np.ndarray,
    tr_iahp: np.ndarray,
    tr_spk: np.ndarray,
    tr_imem: np.ndarray,
    tr_logm: np.ndarray,
    tr_timer: np.ndarray,
    p: int,
    u: int,
) -> None:
    """Adjoints of substep ``u``'s neuron update (``_step``'s second loop) of the
    sequence at position ``p`` of the trajectories, in place in ``acc``: from those
    of the state after it to those before it, the synapses' added to, the constants'
    accumulated. Branch-free (selects); no row views (``_step``'s note)."""
    n = tr_imem.shape[2]
    v = u - 1  # the state before the substep
    ra, rn, rg, rs = (
        (0, -1, -1, -1) if dynapsim else (rows[0], rows[1], rows[2], rows[3])
    )
    nmda_absent = dynapsim or rows[1] < 0
    for lo in range(0, n, _BLK):
        # NOTE: a slice per block: offsets from a runtime base would carry numba's
        # negative-index wraparound, which blocks vectorization
        blk = acc[(lo // _BLK) * _STRIDE : (lo // _BLK + 1) * _STRIDE]
        for jj in range(min(_BLK, n - lo)):
            j = lo + jj
            i0 = k[_I0, j]
            ampa = tr_isyn[p, u, ra, j] if ra >= 0 else _ZERO
            nmda = tr_isyn[p, u, rn, j] if rn >= 0 else i0
            gaba = tr_isyn[p, u, rg, j] if rg >= 0 else _ZERO
            shunt = tr_isyn[p, u, rs, j] if rs >= 0 else _ZERO
            # --- recompute the forward of neuron j (as in _step) ---
            a_prev = tr_iahp[p, v, j]
            n_prev = tr_spk[p, v, j]
            m = tr_imem[p, v, j]
            ua = k[_AD, j] * a_prev + k[_AC, j] * n_prev
            a_on = ua >= i0
            a = ua if a_on else i0
            leak = k[_LC, j] + a
            den = m + k[_IFN, j]
            if dynapsim:
                drive = ampa - leak + k[_DC, j]
            else:
                leak = leak + gaba
                drive = k[_DC, j] + nmda * m / den
                drive = drive + ampa
                drive = drive - shunt
            gate = max(_ONE - tr_timer[p, v, j], _ZERO)
            pre = drive * gate
            in_on = pre >= i0
            i_in = pre if in_on else i0
            i_inf = k[_GM, j] * (i_in - leak)
            fb = _exp(k[_FO, j] + k[_FS, j] * tr_logm[p, v, j])
            r1 = _ONE + a * k[_IIT, j]
            relax = m * r1
            den2 = m + k[_IGM, j]
            num = leak * (i_inf - relax)
            rate = num / den2 + fb
            f = _ONE + k[_EU, j] * rate
            um = m * f
            m_on = um >= i0
            m1 = um if m_on else i0
            xs = tr_logm[p, u, j] - k[_LSP, j]
            fired = tr_spk[p, u, j] > _ZERO
            # --- reverse ---
            gmj = blk[_JM * _BLK + jj]
            g_m1 = _ZERO if fired else gmj
            gi0 = gmj if fired else _ZERO
            sg = _ONE + sl * abs(xs)
            gx = blk[_JN * _BLK + jj] / (sg * sg)
            blk[_LSP * _BLK + jj] -= gx
            g_m1 = g_m1 + (blk[_JL * _BLK + jj] + gx) / m1
            g_um = g_m1 if m_on else _ZERO
            gi0 += _ZERO if m_on else g_m1
            g_m = f * g_um
            g_f = m * g_um
            blk[_EU * _BLK + jj] += rate * g_f
            g_rate = k[_EU, j] * g_f
            g_num = g_rate / den2
            g_den2 = -(num / den2) / den2 * g_rate
            g_m += g_den2
            blk[_IGM * _BLK + jj] += g_den2
            g_leak = (i_inf - relax) * g_num
            g_iinf = leak * g_num
            g_relax = -leak * g_num
            g_m += r1 * g_relax
            g_r1 = m * g_relax
            g_a = blk[_JA * _BLK + jj] + k[_IIT, j] * g_r1
            blk[_IIT * _BLK + jj] += a * g_r1
            g_e = fb * g_rate
            blk[_FO * _BLK + jj] += g_e
            blk[_FS * _BLK + jj] += tr_logm[p, v, j] * g_e
            blk[_JL * _BLK + jj] = k[_FS, j] * g_e
            blk[_GM * _BLK + jj] += (i_in - leak) * g_iinf
            g_iin = k[_GM, j] * g_iinf
            g_leak -= k[_GM, j] * g_iinf
            g_drive = gate * g_iin if in_on else _ZERO
            gi0 += _ZERO if in_on else g_iin
            blk[_DC * _BLK + jj] += g_drive
            blk[(_TB + 4) * _BLK + jj] += g_drive  # AMPA's I_syn
            if dynapsim:
                g_leak -= g_drive
            else:
                blk[(_TB + 3 * _TR + 4) * _BLK + jj] -= g_drive  # SHUNT's
                g_nm = m / den * g_drive
                blk[(_TB + _TR + 4) * _BLK + jj] += g_nm  # NMDA's
                gi0 += g_nm if nmda_absent else _ZERO
                g_den = -(nmda * m) / (den * den) * g_drive
                g_m += nmda / den * g_drive + g_den
                blk[_IFN * _BLK + jj] += g_den
                blk[(_TB + 2 * _TR + 4) * _BLK + jj] += g_leak  # GABA's
            blk[_LC * _BLK + jj] += g_leak
            g_a += g_leak
            g_ua = g_a if a_on else _ZERO
            gi0 += _ZERO if a_on else g_a
            blk[_JA * _BLK + jj] = k[_AD, j] * g_ua
            blk[_AD * _BLK + jj] += a_prev * g_ua
            blk[_AC * _BLK + jj] += n_prev * g_ua
            blk[_JN * _BLK + jj] = k[_AC, j] * g_ua
            blk[_JM * _BLK + jj] = g_m
            blk[_I0 * _BLK + jj] += gi0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _reverse_synapses(
    k: np.ndarray,
    acc: np.ndarray,
    types: np.ndarray,
    dynapsim: bool,
    tr_isyn: np.ndarray,
    tr_iw: np.ndarray,
    p: int,
    u: int,
    giw: np.ndarray,
) -> None:
    """Adjoints of substep ``u``'s synapse update (``_step``'s first loop) of the
    sequence at position ``p`` of the trajectories, in place in ``acc``; the
    weighted input's into ``giw`` ``(S N)`` (row ``s`` of type ``types[s]``) as
    well. No row views (``_step``'s note)."""
    n = tr_isyn.shape[3]
    v = u - 1
    for s in range(types.shape[0]):
        base = _NF + 4 * s
        for lo in range(0, n, _BLK):
            b = (lo // _BLK) * _STRIDE + (_TB + _TR * types[s]) * _BLK
            blk = acc[b : b + _TR * _BLK]
            if dynapsim:
                for jj in range(min(_BLK, n - lo)):
                    j = lo + jj
                    vg = k[base + 3, j] * tr_iw[p, u, s, j]
                    on = vg >= k[_I0, j]
                    tgt = vg if on else k[_I0, j]
                    go = blk[4 * _BLK + jj]
                    blk[4 * _BLK + jj] = k[base, j] * go
                    blk[jj] += tr_isyn[p, v, s, j] * go
                    blk[_BLK + jj] += tgt * go
                    g_t = k[base + 1, j] * go
                    blk[3 * _BLK + jj] += tr_iw[p, u, s, j] * g_t if on else _ZERO
                    blk[5 * _BLK + jj] = k[base + 3, j] * g_t if on else _ZERO
                    blk[6 * _BLK + jj] += _ZERO if on else g_t
            else:
                for jj in range(min(_BLK, n - lo)):
                    j = lo + jj
                    uu = (
                        k[base, j] * tr_isyn[p, v, s, j]
                        + k[base + 2, j] * tr_iw[p, u, s, j]
                    )
                    on = uu >= k[_I0, j]
                    go = blk[4 * _BLK + jj]
                    g_u = go if on else _ZERO
                    blk[6 * _BLK + jj] += _ZERO if on else go
                    blk[4 * _BLK + jj] = k[base, j] * g_u
                    blk[jj] += tr_isyn[p, v, s, j] * g_u
                    blk[2 * _BLK + jj] += tr_iw[p, u, s, j] * g_u
                    blk[5 * _BLK + jj] = k[base + 2, j] * g_u
            for jj in range(min(_BLK, n - lo)):
                giw[s * n + lo + jj] = blk[5 * _BLK + jj]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _outer(g: np.ndarray, row: int, v: np.ndarray, scale: float) -> None:
    """``g[row] += scale * v`` (float32)."""
    for r in range(v.shape[0]):
        g[row, r] += v[r] * scale


@numba.njit(cache=True, nogil=True, error_model="numpy")
def backward(
    seqs: np.ndarray,
    n_batch: int,
    k_all: np.ndarray,
    x: np.ndarray,
    rec: tuple[np.ndarray, np.ndarray, np.ndarray],
    n_syn: int,
    rows: np.ndarray,
    dynapsim: bool,
    substeps: int,
    slope: float,
    spike_grad: bool,
    record: bool,
    first: int,
    g_spikes: np.ndarray,
    g_imem: np.ndarray,
    g_isyn: np.ndarray,
    g_iahp: np.ndarray,
    tr: tuple[np.ndarray, ...],
    g_k: np.ndarray,
    g_win: np.ndarray,
    g_wrec: np.ndarray,
) -> None:
    """Accumulate the gradients of sequences ``seqs`` (module docstring).

    ``g_*`` (outputs' gradients) as ``forward``'s outputs (``g_spikes`` read only
    with ``spike_grad``, the others, of the recorded neurons from ``first`` on, with
    ``record``); ``g_k`` ``(C, F, N)``
    float64, ``g_win`` ``(N_in, S N)`` and ``g_wrec`` ``(N, S N)`` float64
    (transposed: by source) are added to.
    """
    rec_ptr, rec_idx, rec_val = rec
    tr_isyn, tr_iahp, tr_imem, tr_logm, tr_timer, tr_spk, tr_iw = tr
    n = k_all.shape[2]
    steps = x.shape[2]
    c_in = x.shape[0]
    ns = n_syn
    f32 = np.float32
    types = np.zeros(ns, np.int64)  # the synapse type of each row of isyn
    for syn in range(rows.shape[0]):
        if rows[syn] >= 0:
            types[rows[syn]] = syn
    acc = np.zeros(((n + _BLK - 1) // _BLK) * _STRIDE, f32)
    giw = np.zeros(ns * n, f32)
    gw_in = np.zeros(g_win.shape, f32)  # one sequence's, added to g_win
    gw_rec = np.zeros(g_wrec.shape, f32)
    sl = np.float32(slope)
    n_out = g_isyn.shape[4]
    for p in range(seqs.shape[0]):
        q = seqs[p]
        c, b = q // n_batch, q % n_batch
        xc = c if c_in > 1 else 0
        k = k_all[c]
        acc[:] = _ZERO
        gw_in[:] = _ZERO
        gw_rec[:] = _ZERO
        for t in range(steps - 1, -1, -1):
            for sub in range(substeps - 1, -1, -1):
                u = t * substeps + sub + 1  # the state after this substep
                last = record and sub == substeps - 1
                if spike_grad:
                    for lo in range(0, n, _BLK):
                        blk = acc[(lo // _BLK) * _STRIDE : (lo // _BLK + 1) * _STRIDE]
                        for jj in range(min(_BLK, n - lo)):
                            blk[_JN * _BLK + jj] += g_spikes[c, b, t, lo + jj]
                if last:
                    for i in range(g_imem.shape[3]):
                        j = first + i
                        a = (j // _BLK) * _STRIDE + j % _BLK
                        acc[a + _JM * _BLK] += g_imem[c, b, t, i]
                        acc[a + _JA * _BLK] += g_iahp[c, b, t, i]
                        for r in range(n_out):
                            s = rows[r]
                            # type r's adjoint (dynapsim: the one DPI), or for an
                            # absent type's current (I_0) I_0's gradient
                            at = _TB + _TR * types[s] + 4 if s >= 0 else _I0
                            acc[a + at * _BLK] += g_isyn[c, b, t, i, r]
                _reverse_neurons(
                    k,
                    acc,
                    rows,
                    dynapsim,
                    sl,
                    tr_isyn,
                    tr_iahp,
                    tr_spk,
                    tr_imem,
                    tr_logm,
                    tr_timer,
                    p,
                    u,
                )
                _reverse_synapses(k, acc, types, dynapsim, tr_isyn, tr_iw, p, u, giw)
                # --- delivery: recurrent from the previous spikes, input at sub 0 ---
                for i in range(n):
                    total = _ZERO
                    for e in range(rec_ptr[i], rec_ptr[i + 1]):
                        total += rec_val[e] * giw[rec_idx[e]]
                    acc[(i // _BLK) * _STRIDE + _JN * _BLK + i % _BLK] += total
                    count = tr_spk[p, u - 1, i]
                    if count != _ZERO:
                        _outer(gw_rec, i, giw, count)
                if sub == 0:
                    for ch in range(x.shape[3]):
                        count = x[xc, b, t, ch]
                        if count != _ZERO:
                            _outer(gw_in, ch, giw, count)
        # the initial state: every current at I_0, V_mem = ln(I_0)
        i0 = k[_I0]
        for j in range(n):
            a = (j // _BLK) * _STRIDE + j % _BLK
            total = acc[a + _JA * _BLK] + acc[a + _JM * _BLK]
            total += acc[a + _JL * _BLK] / i0[j]
            for s in range(ns):
                total += acc[a + (_TB + _TR * types[s] + 4) * _BLK]
            total += acc[a + _I0 * _BLK]
            g_k[c, _I0, j] += total
            for f in range(1, _NF):
                g_k[c, f, j] += acc[a + f * _BLK]
            for s in range(ns):
                row = a + (_TB + _TR * types[s]) * _BLK
                for f in range(4):
                    g_k[c, _NF + 4 * s + f, j] += acc[row + f * _BLK]
                g_k[c, _I0, j] += acc[row + 6 * _BLK]
        g_win += gw_in
        g_wrec += gw_rec
