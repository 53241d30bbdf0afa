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
    zero: np.ndarray,
) -> None:
    """One substep of every neuron of one sequence, in place (``emulator._step``).

    ``iw``: weighted input ``(S, N)``; ``rows``: the row of AMPA, NMDA, GABA, SHUNT in
    ``isyn`` or -1; ``spk`` holds the previous spikes and receives the new ones;
    ``zero``: ``N`` zeros. Every loop is branch-free (selects) so that it vectorizes.
    """
    n = imem.shape[0]
    i0 = k[_I0]
    for s in range(n_syn):
        base = _NF + 4 * s
        decay, pulse, charge, gain = k[base], k[base + 1], k[base + 2], k[base + 3]
        w, syn = iw[s], isyn[s]
        if dynapsim:
            for j in range(n):
                tgt = max(gain[j] * w[j], i0[j])
                syn[j] = decay[j] * syn[j] + pulse[j] * tgt
        else:
            for j in range(n):
                u = decay[j] * syn[j] + charge[j] * w[j]
                syn[j] = u if u >= i0[j] else i0[j]
    ampa = isyn[rows[0]] if rows[0] >= 0 else zero
    nmda = isyn[rows[1]] if rows[1] >= 0 else i0
    gaba = isyn[rows[2]] if rows[2] >= 0 else zero
    shunt = isyn[rows[3]] if rows[3] >= 0 else zero
    ad, ac, lc, dc = k[_AD], k[_AC], k[_LC], k[_DC]
    iit, igm, gm, ifn = k[_IIT], k[_IGM], k[_GM], k[_IFN]
    eu, fo, fs, lsp, nref = k[_EU], k[_FO], k[_FS], k[_LSP], k[_NREF]
    for j in range(n):
        ua = ad[j] * iahp[j] + ac[j] * spk[j]
        a = ua if ua >= i0[j] else i0[j]
        iahp[j] = a
        m = imem[j]
        leak = lc[j] + a
        if dynapsim:
            drive = ampa[j] - leak + dc[j]
        else:
            # absent types read 0 (exact: x + 0 is x) or, for NMDA, I_0 (reference)
            leak = leak + gaba[j]
            drive = dc[j] + nmda[j] * m / (m + ifn[j])
            drive = drive + ampa[j]
            drive = drive - shunt[j]
        gate = max(_ONE - timer[j], _ZERO)
        i_in = max(drive * gate, i0[j])
        i_inf = gm[j] * (i_in - leak)
        fb = _exp(fo[j] + fs[j] * logm[j])
        relax = m * (_ONE + a * iit[j])
        rate = leak * (i_inf - relax) / (m + igm[j]) + fb
        um = m * (_ONE + eu[j] * rate)
        m1 = um if um >= i0[j] else i0[j]
        lm = _log(m1)
        logm[j] = lm
        if dynapsim:
            c = max(np.ceil(lm - lsp[j]), _ZERO)
        else:
            c = _ONE if lm > lsp[j] else _ZERO
        fired = c > _ZERO
        spk[j] = c
        timer[j] = nref[j] if fired else max(timer[j] - _ONE, _ZERO)
        imem[j] = i0[j] if fired else m1


@numba.njit(cache=True, nogil=True, error_model="numpy")
def forward(
    seqs: np.ndarray,
    n_batch: int,
    k_all: np.ndarray,
    x: np.ndarray,
    in_ptr: np.ndarray,
    in_idx: np.ndarray,
    in_val: np.ndarray,
    rec_ptr: np.ndarray,
    rec_idx: np.ndarray,
    rec_val: np.ndarray,
    n_syn: int,
    rows: np.ndarray,
    dynapsim: bool,
    substeps: int,
    out_spikes: np.ndarray,
    record: bool,
    out_imem: np.ndarray,
    out_isyn: np.ndarray,
    out_iahp: np.ndarray,
    save: bool,
    tr_isyn: np.ndarray,
    tr_iahp: np.ndarray,
    tr_imem: np.ndarray,
    tr_logm: np.ndarray,
    tr_timer: np.ndarray,
    tr_spk: np.ndarray,
    tr_iw: np.ndarray,
) -> None:
    """Run sequences ``seqs`` (``q = c * B + b``) for ``T`` steps.

    ``x``: ``(C_in, B, T, N_in)``; ``k_all``: ``(C, F, N)``; outputs ``(C, B, T, N)``
    (``out_isyn``: ``(C, B, T, N, R)``, column ``r`` from ``isyn`` row ``rows[r]``,
    ``I_0`` where that is -1). With ``save``
    the state after every substep goes to ``tr_*`` ``(Q, T * substeps + 1, ...)``
    (index 0: the initial state; ``tr_iw``: the substep's weighted input), indexed
    by the position of ``q`` in ``seqs``.
    """
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
    zero = np.zeros(n, np.float32)
    flat = iw.reshape(-1)
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
        if save:
            tr_isyn[p, 0] = isyn[:n_syn]
            tr_iahp[p, 0] = iahp
            tr_imem[p, 0] = imem
            tr_logm[p, 0] = logm
            tr_timer[p, 0] = timer
            tr_spk[p, 0] = spk
        u = 0
        for t in range(steps):
            for sub in range(substeps):
                flat[:] = _ZERO
                if sub == 0:
                    _deliver(flat, x[xc, b, t], in_ptr, in_idx, in_val)
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
                    zero,
                )
                u += 1
                if save:
                    tr_iw[p, u] = iw[:n_syn]
                    tr_isyn[p, u] = isyn[:n_syn]
                    tr_iahp[p, u] = iahp
                    tr_imem[p, u] = imem
                    tr_logm[p, u] = logm
                    tr_timer[p, u] = timer
                    tr_spk[p, u] = spk
                if sub == 0:
                    out_spikes[c, b, t] = spk
                else:
                    out_spikes[c, b, t] += spk
            if record:
                out_imem[c, b, t] = imem
                out_iahp[c, b, t] = iahp
                for j in range(n):
                    i0 = k[_I0, j]
                    for r in range(out_isyn.shape[4]):
                        s = rows[r]
                        out_isyn[c, b, t, j, r] = isyn[s, j] if s >= 0 else i0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _reverse_step(
    k: np.ndarray,
    gk: np.ndarray,
    ns: int,
    rows: np.ndarray,
    dynapsim: bool,
    sl: float,
    isyn_prev: np.ndarray,
    isyn: np.ndarray,
    iw: np.ndarray,
    iahp_prev: np.ndarray,
    spk_prev: np.ndarray,
    imem_prev: np.ndarray,
    logm_prev: np.ndarray,
    timer_prev: np.ndarray,
    logm: np.ndarray,
    spk: np.ndarray,
    gs: np.ndarray,
    ga: np.ndarray,
    gm: np.ndarray,
    gl: np.ndarray,
    gn: np.ndarray,
    gs_p: np.ndarray,
    ga_p: np.ndarray,
    gm_p: np.ndarray,
    gl_p: np.ndarray,
    gn_p: np.ndarray,
    giw: np.ndarray,
    scratch: np.ndarray,
) -> None:
    """Adjoints of one substep (``_step``'s reverse): from those of the state after
    it (``gs`` ... ``gn``; ``gs`` is added to) to those of the state before it
    (``*_p``, overwritten) and of the weighted input (``giw``); constants' into
    ``gk``. Branch-free loops over neurons (they vectorize); float32 like the torch
    path's autograd."""
    n = imem_prev.shape[0]
    i0 = k[_I0]
    zero = scratch[4]
    zero[:] = _ZERO
    if dynapsim:
        ampa, nmda, gaba, shunt = isyn[0], i0, zero, zero
        g_ampa, g_nmda, g_gaba, g_shunt = gs[0], scratch[1], scratch[2], scratch[3]
    else:
        ampa = isyn[rows[0]] if rows[0] >= 0 else zero
        nmda = isyn[rows[1]] if rows[1] >= 0 else i0
        gaba = isyn[rows[2]] if rows[2] >= 0 else zero
        shunt = isyn[rows[3]] if rows[3] >= 0 else zero
        g_ampa = gs[rows[0]] if rows[0] >= 0 else scratch[0]
        g_nmda = gs[rows[1]] if rows[1] >= 0 else scratch[1]
        g_gaba = gs[rows[2]] if rows[2] >= 0 else scratch[2]
        g_shunt = gs[rows[3]] if rows[3] >= 0 else scratch[3]
    nmda_absent = dynapsim or rows[1] < 0
    ad, ac, lc, dc = k[_AD], k[_AC], k[_LC], k[_DC]
    iit, igm, gmk, ifn = k[_IIT], k[_IGM], k[_GM], k[_IFN]
    eu, fo, fs, lsp = k[_EU], k[_FO], k[_FS], k[_LSP]
    g_i0, g_ad, g_ac, g_lc = gk[_I0], gk[_AD], gk[_AC], gk[_LC]
    g_dc, g_iit, g_igm, g_gm = gk[_DC], gk[_IIT], gk[_IGM], gk[_GM]
    g_ifn, g_eu, g_fo, g_fs, g_lsp = gk[_IFN], gk[_EU], gk[_FO], gk[_FS], gk[_LSP]
    for j in range(n):
        # --- recompute the forward of neuron j (as in _step) ---
        a_prev = iahp_prev[j]
        n_prev = spk_prev[j]
        m = imem_prev[j]
        ua = ad[j] * a_prev + ac[j] * n_prev
        a_on = ua >= i0[j]
        a = ua if a_on else i0[j]
        leak = lc[j] + a
        den = m + ifn[j]
        if dynapsim:
            drive = ampa[j] - leak + dc[j]
        else:
            leak = leak + gaba[j]
            drive = dc[j] + nmda[j] * m / den
            drive = drive + ampa[j]
            drive = drive - shunt[j]
        gate = max(_ONE - timer_prev[j], _ZERO)
        pre = drive * gate
        in_on = pre >= i0[j]
        i_in = pre if in_on else i0[j]
        i_inf = gmk[j] * (i_in - leak)
        fb = _exp(fo[j] + fs[j] * logm_prev[j])
        r1 = _ONE + a * iit[j]
        relax = m * r1
        den2 = m + igm[j]
        num = leak * (i_inf - relax)
        rate = num / den2 + fb
        f = _ONE + eu[j] * rate
        um = m * f
        m_on = um >= i0[j]
        m1 = um if m_on else i0[j]
        xs = logm[j] - lsp[j]
        fired = spk[j] > _ZERO
        # --- reverse ---
        gmj = gm[j]
        g_m1 = _ZERO if fired else gmj
        gi0 = gmj if fired else _ZERO
        sg = _ONE + sl * abs(xs)
        gx = gn[j] / (sg * sg)
        g_lsp[j] -= gx
        g_m1 = g_m1 + (gl[j] + gx) / m1
        g_um = g_m1 if m_on else _ZERO
        gi0 += _ZERO if m_on else g_m1
        g_m = f * g_um
        g_f = m * g_um
        g_eu[j] += rate * g_f
        g_rate = eu[j] * g_f
        g_num = g_rate / den2
        g_den2 = -(num / den2) / den2 * g_rate
        g_m += g_den2
        g_igm[j] += g_den2
        g_leak = (i_inf - relax) * g_num
        g_iinf = leak * g_num
        g_relax = -leak * g_num
        g_m += r1 * g_relax
        g_r1 = m * g_relax
        g_a = ga[j] + iit[j] * g_r1
        g_iit[j] += a * g_r1
        g_e = fb * g_rate
        g_fo[j] += g_e
        g_fs[j] += logm_prev[j] * g_e
        gl_p[j] = fs[j] * g_e
        g_gm[j] += (i_in - leak) * g_iinf
        g_iin = gmk[j] * g_iinf
        g_leak -= gmk[j] * g_iinf
        g_drive = gate * g_iin if in_on else _ZERO
        gi0 += _ZERO if in_on else g_iin
        g_dc[j] += g_drive
        g_ampa[j] += g_drive
        if dynapsim:
            g_leak -= g_drive
        else:
            g_shunt[j] -= g_drive
            g_nm = m / den * g_drive
            g_nmda[j] += g_nm
            gi0 += g_nm if nmda_absent else _ZERO
            g_den = -(nmda[j] * m) / (den * den) * g_drive
            g_m += nmda[j] / den * g_drive + g_den
            g_ifn[j] += g_den
            g_gaba[j] += g_leak
        g_lc[j] += g_leak
        g_a += g_leak
        g_ua = g_a if a_on else _ZERO
        gi0 += _ZERO if a_on else g_a
        ga_p[j] = ad[j] * g_ua
        g_ad[j] += a_prev * g_ua
        g_ac[j] += n_prev * g_ua
        gn_p[j] = ac[j] * g_ua
        gm_p[j] = g_m
        g_i0[j] += gi0
    # --- synapses ---
    for s in range(ns):
        base = _NF + 4 * s
        decay, pulse, charge, gain = k[base], k[base + 1], k[base + 2], k[base + 3]
        g_decay, g_pulse = gk[base], gk[base + 1]
        g_charge, g_gain = gk[base + 2], gk[base + 3]
        s_prev, w, g_out, g_prev, g_w = isyn_prev[s], iw[s], gs[s], gs_p[s], giw[s]
        if dynapsim:
            for j in range(n):
                v = gain[j] * w[j]
                on = v >= i0[j]
                tgt = v if on else i0[j]
                go = g_out[j]
                g_prev[j] = decay[j] * go
                g_decay[j] += s_prev[j] * go
                g_pulse[j] += tgt * go
                g_t = pulse[j] * go
                g_gain[j] += w[j] * g_t if on else _ZERO
                g_w[j] = gain[j] * g_t if on else _ZERO
                g_i0[j] += _ZERO if on else g_t
        else:
            for j in range(n):
                uu = decay[j] * s_prev[j] + charge[j] * w[j]
                on = uu >= i0[j]
                go = g_out[j]
                g_u = go if on else _ZERO
                g_i0[j] += _ZERO if on else go
                g_prev[j] = decay[j] * g_u
                g_decay[j] += s_prev[j] * g_u
                g_charge[j] += w[j] * g_u
                g_w[j] = charge[j] * g_u


@numba.njit(cache=True, nogil=True, error_model="numpy")
def backward(
    seqs: np.ndarray,
    n_batch: int,
    k_all: np.ndarray,
    x: np.ndarray,
    rec_ptr: np.ndarray,
    rec_idx: np.ndarray,
    rec_val: np.ndarray,
    n_syn: int,
    rows: np.ndarray,
    dynapsim: bool,
    substeps: int,
    slope: float,
    record: bool,
    g_spikes: np.ndarray,
    g_imem: np.ndarray,
    g_isyn: np.ndarray,
    g_iahp: np.ndarray,
    tr_isyn: np.ndarray,
    tr_iahp: np.ndarray,
    tr_imem: np.ndarray,
    tr_logm: np.ndarray,
    tr_timer: np.ndarray,
    tr_spk: np.ndarray,
    tr_iw: np.ndarray,
    g_k: np.ndarray,
    g_win: np.ndarray,
    g_wrec: np.ndarray,
) -> None:
    """Accumulate the gradients of sequences ``seqs`` (module docstring).

    ``g_*`` (outputs' gradients) as ``forward``'s outputs (``g_isyn`` ``(C, B, T, N,
    S)`` in simulated-type order; read only with ``record``); ``g_k``
    ``(C, F, N)`` float64, ``g_win`` ``(N_in, S N)`` and ``g_wrec`` ``(N, S N)``
    float64 (transposed: by source) are added to.
    """
    n = k_all.shape[2]
    steps = x.shape[2]
    c_in = x.shape[0]
    ns = n_syn
    f32 = np.float32
    gs = np.zeros((ns, n), f32)  # adjoint of the state after the substep
    ga = np.zeros(n, f32)
    gm = np.zeros(n, f32)
    gl = np.zeros(n, f32)
    gn = np.zeros(n, f32)
    gs_p = np.zeros((ns, n), f32)  # adjoint of the state before it
    ga_p = np.zeros(n, f32)
    gm_p = np.zeros(n, f32)
    gl_p = np.zeros(n, f32)
    gn_p = np.zeros(n, f32)
    giw = np.zeros((ns, n), f32)
    scratch = np.zeros((5, n), f32)  # rows for absent synapse types
    gk32 = np.zeros((k_all.shape[1], n), f32)
    sl = np.float32(slope)
    for p in range(seqs.shape[0]):
        q = seqs[p]
        c, b = q // n_batch, q % n_batch
        xc = c if c_in > 1 else 0
        k = k_all[c]
        gk = gk32
        gk[:] = 0.0
        gs[:] = 0.0
        ga[:] = 0.0
        gm[:] = 0.0
        gl[:] = 0.0
        gn[:] = 0.0
        for t in range(steps - 1, -1, -1):
            for sub in range(substeps - 1, -1, -1):
                u = t * substeps + sub + 1  # the state after this substep
                for j in range(n):
                    gn[j] += g_spikes[c, b, t, j]
                if record and sub == substeps - 1:
                    for j in range(n):
                        gm[j] += g_imem[c, b, t, j]
                        ga[j] += g_iahp[c, b, t, j]
                        for s in range(ns):
                            gs[s, j] += g_isyn[c, b, t, j, s]
                _reverse_step(
                    k,
                    gk,
                    ns,
                    rows,
                    dynapsim,
                    sl,
                    tr_isyn[p, u - 1],
                    tr_isyn[p, u],
                    tr_iw[p, u],
                    tr_iahp[p, u - 1],
                    tr_spk[p, u - 1],
                    tr_imem[p, u - 1],
                    tr_logm[p, u - 1],
                    tr_timer[p, u - 1],
                    tr_logm[p, u],
                    tr_spk[p, u],
                    gs,
                    ga,
                    gm,
                    gl,
                    gn,
                    gs_p,
                    ga_p,
                    gm_p,
                    gl_p,
                    gn_p,
                    giw,
                    scratch,
                )
                # --- delivery: recurrent from the previous spikes, input at sub 0 ---
                gflat = giw.reshape(-1)
                for i in range(n):
                    acc = _ZERO
                    for e in range(rec_ptr[i], rec_ptr[i + 1]):
                        acc += rec_val[e] * gflat[rec_idx[e]]
                    gn_p[i] += acc
                    n_src = np.float64(tr_spk[p, u - 1, i])
                    if n_src != 0.0:
                        row = g_wrec[i]
                        for r in range(gflat.shape[0]):
                            row[r] += gflat[r] * n_src
                if sub == 0:
                    xt = x[xc, b, t]
                    for ch in range(xt.shape[0]):
                        if xt[ch] != _ZERO:
                            row = g_win[ch]
                            for r in range(gflat.shape[0]):
                                row[r] += gflat[r] * np.float64(xt[ch])
                gs, gs_p = gs_p, gs
                ga, ga_p = ga_p, ga
                gm, gm_p = gm_p, gm
                gl, gl_p = gl_p, gl
                gn, gn_p = gn_p, gn
        # the initial state: every current at I_0, V_mem = ln(I_0)
        for j in range(n):
            total = ga[j] + gm[j] + gl[j] / k[_I0, j]
            for s in range(ns):
                total += gs[s, j]
            gk[_I0, j] += total
        g_k[c] += gk
